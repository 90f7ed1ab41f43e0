package tensor

import (
	"fmt"
	"math"
)

// SampleBicubic interpolates x [N,H,W,C] at continuous query points with
// the Keys cubic (a = −0.5), clamping taps at the border. Coordinates use
// the LIIF convention (see implicit.Grid): y, x in [−1, 1] with pixel centres at
// −1 + (2i+1)/H. The queries of all images lie back to back, len(ys)/N per
// image, and the result is [len(ys), C]. The gradient flows to x (not to
// the coordinates).
func (tp *Tape) SampleBicubic(x *Tensor, ys, xs []float32) *Tensor {
	if len(x.Shape) != 4 || len(ys) != len(xs) || len(ys)%x.Shape[0] != 0 {
		panic(fmt.Sprintf("tensor.SampleBicubic: x %v with %d y and %d x coordinates", x.Shape, len(ys), len(xs)))
	}
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	q := len(ys)
	per := q / n
	// Tap rows and weights per query, kept for the backward pass.
	idx := make([]int32, q*16)
	wts := make([]float32, q*16)
	for i := 0; i < q; i++ {
		img := i / per
		var ry, rx [4]int
		var wy, wx [4]float32
		cubicTaps(float64(ys[i]), h, &ry, &wy)
		cubicTaps(float64(xs[i]), w, &rx, &wx)
		for a := 0; a < 4; a++ {
			for b := 0; b < 4; b++ {
				idx[i*16+a*4+b] = int32((img*h+ry[a])*w + rx[b])
				wts[i*16+a*4+b] = wy[a] * wx[b]
			}
		}
	}
	out := tp.newOut([]int{q, c}, x)
	for i := 0; i < q; i++ {
		o := out.Data[i*c : (i+1)*c]
		for t := 0; t < 16; t++ {
			src := x.Data[int(idx[i*16+t])*c:][:c]
			wt := wts[i*16+t]
			for ch := range o {
				o[ch] += wt * src[ch]
			}
		}
	}
	tp.record(out, func() {
		gx := tp.grad(x)
		for i := 0; i < q; i++ {
			g := out.Grad[i*c : (i+1)*c]
			for t := 0; t < 16; t++ {
				dst := gx[int(idx[i*16+t])*c:][:c]
				wt := wts[i*16+t]
				for ch := range g {
					dst[ch] += wt * g[ch]
				}
			}
		}
	})
	return out
}

// cubicTaps finds the four clamped sample indices around coordinate c on a
// size-pixel axis and their Keys-cubic weights.
func cubicTaps(c float64, size int, idx *[4]int, wt *[4]float32) {
	p := (c+1)*float64(size)/2 - 0.5 // continuous pixel index, centres at integers
	f := math.Floor(p)
	t := p - f
	for k := 0; k < 4; k++ {
		i := int(f) - 1 + k
		idx[k] = min(max(i, 0), size-1)
		wt[k] = float32(keysCubic(t + 1 - float64(k)))
	}
}

// keysCubic is the cubic convolution kernel with a = −0.5.
func keysCubic(d float64) float64 {
	d = math.Abs(d)
	switch {
	case d <= 1:
		return 1.5*d*d*d - 2.5*d*d + 1
	case d < 2:
		return -0.5*d*d*d + 2.5*d*d - 4*d + 2
	}
	return 0
}
