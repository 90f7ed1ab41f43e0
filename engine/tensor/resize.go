package tensor

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// resizeAxis maps the output positions along one spatial axis to at most two
// input positions each, so nearest and bilinear share one separable kernel.
// An output position o reads i0[o] with weight w0[o] and, when w1[o] != 0,
// i1[o] with weight w1[o].
//
// The inverse table lists, for every input position, the output positions
// that read it: the backward pass walks it so that each goroutine writes
// only its own input rows and no scatter ever races.
type resizeAxis struct {
	i0, i1 []int
	w0, w1 []float32

	invStart []int     // input position p's readers are inv[invStart[p]:invStart[p+1]]
	invOut   []int     // the reading output position
	invW     []float32 // with this weight
}

// resizeAxisNearest follows PyTorch's mode="nearest" (not "nearest-exact"):
// source = min(floor(o·in/out), in−1), with the scale rounded to float32 as
// PyTorch does, so odd ratios pick the same pixels as a PyTorch model.
func resizeAxisNearest(in, out int) *resizeAxis {
	a := &resizeAxis{i0: make([]int, out), i1: make([]int, out), w0: make([]float32, out), w1: make([]float32, out)}
	scale := float32(in) / float32(out)
	for o := range out {
		var s int
		switch {
		case out == in:
			s = o
		case out == 2*in:
			s = o >> 1
		default:
			s = min(int(math.Floor(float64(float32(o)*scale))), in-1)
		}
		a.i0[o], a.i1[o], a.w0[o] = s, s, 1
	}
	a.invert(in)
	return a
}

// resizeAxisBilinear follows PyTorch's align_corners=False: output centre o
// maps to source (o+0.5)·in/out − 0.5, negative sources clamp to 0, and the
// upper neighbour clamps to the last pixel. The arithmetic is float32 like
// PyTorch's CPU kernel so the weights agree to the last bit where possible.
func resizeAxisBilinear(in, out int) *resizeAxis {
	a := &resizeAxis{i0: make([]int, out), i1: make([]int, out), w0: make([]float32, out), w1: make([]float32, out)}
	scale := float32(in) / float32(out)
	for o := range out {
		src := float32(scale*(float32(o)+0.5)) - 0.5
		if src < 0 {
			src = 0
		}
		i := int(src)
		l1 := src - float32(i)
		j := min(i+1, in-1)
		if j == i {
			a.i0[o], a.i1[o], a.w0[o] = i, i, 1
			continue
		}
		a.i0[o], a.i1[o], a.w0[o], a.w1[o] = i, j, 1-l1, l1
	}
	a.invert(in)
	return a
}

// invert builds the input→output table, keeping output order so the
// backward sums are in a fixed order.
func (a *resizeAxis) invert(in int) {
	a.invStart = make([]int, in+1)
	for o := range a.i0 {
		a.invStart[a.i0[o]+1]++
		if a.w1[o] != 0 {
			a.invStart[a.i1[o]+1]++
		}
	}
	for p := range in {
		a.invStart[p+1] += a.invStart[p]
	}
	n := a.invStart[in]
	a.invOut, a.invW = make([]int, n), make([]float32, n)
	fill := append([]int(nil), a.invStart[:in]...)
	for o := range a.i0 {
		a.invOut[fill[a.i0[o]]], a.invW[fill[a.i0[o]]] = o, a.w0[o]
		fill[a.i0[o]]++
		if a.w1[o] != 0 {
			a.invOut[fill[a.i1[o]]], a.invW[fill[a.i1[o]]] = o, a.w1[o]
			fill[a.i1[o]]++
		}
	}
}

// ResizeNearest resizes an NHWC map to h×w by nearest neighbour with
// PyTorch's F.interpolate(size=(h, w), mode="nearest") semantics: the LDM
// Upsample block (×2) and a cheap arbitrary-scale baseline.
func (tp *Tape) ResizeNearest(x *Tensor, h, w int) *Tensor {
	n, ih, iw, _ := resizeDims("ResizeNearest", x, h, w)
	return tp.resize(x, h, w, resizeAxisNearest(ih, h), resizeAxisNearest(iw, w), n)
}

// ResizeBilinear resizes an NHWC map to h×w by bilinear interpolation with
// PyTorch's F.interpolate(size=(h, w), mode="bilinear", align_corners=False)
// semantics (half-pixel centres, edge clamp, no antialiasing when shrinking).
func (tp *Tape) ResizeBilinear(x *Tensor, h, w int) *Tensor {
	n, ih, iw, _ := resizeDims("ResizeBilinear", x, h, w)
	return tp.resize(x, h, w, resizeAxisBilinear(ih, h), resizeAxisBilinear(iw, w), n)
}

func resizeDims(op string, x *Tensor, h, w int) (n, ih, iw, c int) {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("tensor.%s: want an NHWC tensor, got %v", op, x.Shape))
	}
	if h <= 0 || w <= 0 || x.Shape[1] == 0 || x.Shape[2] == 0 {
		panic(fmt.Sprintf("tensor.%s: cannot resize %v to %d×%d", op, x.Shape, h, w))
	}
	return x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
}

func (tp *Tape) resize(x *Tensor, h, w int, ay, ax *resizeAxis, n int) *Tensor {
	ih, iw, c := x.Shape[1], x.Shape[2], x.Shape[3]
	out := tp.newOut([]int{n, h, w, c}, x)
	o := out.Data
	par.For(n*h, shapeRowGrain(w*c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, oy := r/h, r%h
			dst := o[r*w*c : (r+1)*w*c]
			resizeRowAccum(dst, x.Data[(b*ih+ay.i0[oy])*iw*c:], ax, ay.w0[oy], c)
			if ay.w1[oy] != 0 {
				resizeRowAccum(dst, x.Data[(b*ih+ay.i1[oy])*iw*c:], ax, ay.w1[oy], c)
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gx := tp.grad(x)
		// One goroutine per input row: every write lands in that row.
		par.For(n*ih, shapeRowGrain(iw*c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				b, iy := r/ih, r%ih
				dst := gx[r*iw*c : (r+1)*iw*c]
				for k := ay.invStart[iy]; k < ay.invStart[iy+1]; k++ {
					oy, wy := ay.invOut[k], ay.invW[k]
					resizeRowScatter(dst, g[(b*h+oy)*w*c:(b*h+oy+1)*w*c], ax, wy, c)
				}
			}
		})
	})
	return out
}

// resizeRowAccum adds wy × (the input row src resampled along x) to dst.
func resizeRowAccum(dst, src []float32, ax *resizeAxis, wy float32, c int) {
	for ox := range ax.i0 {
		d := dst[ox*c : (ox+1)*c]
		addScaled(d, src[ax.i0[ox]*c:(ax.i0[ox]+1)*c], wy*ax.w0[ox])
		if ax.w1[ox] != 0 {
			addScaled(d, src[ax.i1[ox]*c:(ax.i1[ox]+1)*c], wy*ax.w1[ox])
		}
	}
}

// resizeRowScatter is resizeRowAccum's transpose: it spreads the output-row
// gradient g, scaled by wy, back onto the input row dst.
func resizeRowScatter(dst, g []float32, ax *resizeAxis, wy float32, c int) {
	for ox := range ax.i0 {
		s := g[ox*c : (ox+1)*c]
		addScaled(dst[ax.i0[ox]*c:(ax.i0[ox]+1)*c], s, wy*ax.w0[ox])
		if ax.w1[ox] != 0 {
			addScaled(dst[ax.i1[ox]*c:(ax.i1[ox]+1)*c], s, wy*ax.w1[ox])
		}
	}
}

// addScaled adds w·src to dst, skipping the multiply when w is 1 (every
// weight of a nearest-neighbour resize).
func addScaled(dst, src []float32, w float32) {
	dst = dst[:len(src)]
	if w == 1 {
		for i, v := range src {
			dst[i] += v
		}
		return
	}
	for i, v := range src {
		dst[i] += w * v
	}
}

// AvgPool2 averages 2×2 blocks with stride 2: the parameter-free
// down-sampling of the LDM Downsample block (use_conv=False). Like PyTorch's
// avg_pool2d(2) it floors odd sizes: an odd last row or column is dropped
// and gets zero gradient. H and W must be at least 2.
func (tp *Tape) AvgPool2(x *Tensor) *Tensor {
	if len(x.Shape) != 4 || x.Shape[1] < 2 || x.Shape[2] < 2 {
		panic(fmt.Sprintf("tensor.AvgPool2: want an NHWC tensor with H, W ≥ 2, got %v", x.Shape))
	}
	n, ih, iw, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	h, w := ih/2, iw/2
	out := tp.newOut([]int{n, h, w, c}, x)
	row := iw * c // from a block's top pixel to the one below it
	// outRows calls fn(r, top) for the output rows r, in parallel, where top
	// is the offset in x of the top-left pixel of the row's first block.
	outRows := func(fn func(r, top int)) {
		par.For(n*h, shapeRowGrain(2*row), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				fn(r, (r/h*ih+2*(r%h))*row)
			}
		})
	}
	outRows(func(r, top int) {
		for ox := range w {
			p := top + 2*ox*c
			d := out.Data[(r*w+ox)*c : (r*w+ox+1)*c]
			for i := range d {
				d[i] = 0.25 * (x.Data[p+i] + x.Data[p+c+i] + x.Data[p+row+i] + x.Data[p+row+c+i])
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gx := tp.grad(x)
		// Blocks do not overlap, so output rows own disjoint input pixels.
		outRows(func(r, top int) {
			for ox := range w {
				p := top + 2*ox*c
				for i, v := range g[(r*w+ox)*c : (r*w+ox+1)*c] {
					v *= 0.25
					gx[p+i] += v
					gx[p+c+i] += v
					gx[p+row+i] += v
					gx[p+row+c+i] += v
				}
			}
		})
	})
	return out
}

// Pad surrounds an NHWC map with zeros: top/bottom rows and left/right
// columns. The asymmetric Pad(x, 0, 1, 0, 1) is what the LDM Downsample
// block applies before its stride-2, padding-0 convolution.
func (tp *Tape) Pad(x *Tensor, top, bottom, left, right int) *Tensor {
	if len(x.Shape) != 4 {
		panic(fmt.Sprintf("tensor.Pad: want an NHWC tensor, got %v", x.Shape))
	}
	if top < 0 || bottom < 0 || left < 0 || right < 0 {
		panic(fmt.Sprintf("tensor.Pad: negative padding %d %d %d %d", top, bottom, left, right))
	}
	n, ih, iw, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	h, w := ih+top+bottom, iw+left+right
	out := tp.newOut([]int{n, h, w, c}, x)
	// Offset of input row r in the output; the border stays as alloc zeroed it.
	at := func(r int) int {
		b, iy := r/ih, r%ih
		return ((b*h+iy+top)*w + left) * c
	}
	rowLen := iw * c
	par.For(n*ih, shapeRowGrain(rowLen), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(out.Data[at(r):at(r)+rowLen], x.Data[r*rowLen:(r+1)*rowLen])
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gx := tp.grad(x)
		par.For(n*ih, shapeRowGrain(rowLen), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dst := gx[r*rowLen : (r+1)*rowLen]
				for i, v := range g[at(r) : at(r)+rowLen] {
					dst[i] += v
				}
			}
		})
	})
	return out
}
