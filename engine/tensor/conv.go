package tensor

import (
	"fmt"
	"sync"

	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/par"
)

// Conv2D convolves x [N,H,W,Cin] with w [KH,KW,Cin,Cout] and adds b [Cout]
// (b may be nil), with the given stride and symmetric zero padding. The
// result is [N,OH,OW,Cout] with OH = (H+2·pad−KH)/stride + 1.
//
// The weight layout puts Cout innermost so that the convolution is one
// matrix product of the im2col matrix (rows = output pixels, columns =
// KH·KW·Cin) with w viewed as a (KH·KW·Cin)×Cout matrix, and the product
// lands directly in NHWC order. A 1×1 stride-1 convolution needs no im2col.
func (tp *Tape) Conv2D(x, w, b *Tensor, stride, pad int) *Tensor {
	g := convGeomOf(x, w, b, stride, pad)
	out := tp.newOut([]int{g.n, g.oh, g.ow, g.cout}, x, w, b)
	if g.pointwise() {
		blas.Sgemm(false, false, g.rows(), g.cout, g.cin, 1, x.Data, g.cin, w.Data, g.cout, 0, out.Data, g.cout)
	} else {
		g.forward(x.Data, w.Data, out.Data)
	}
	if b != nil {
		addBias(out.Data, b.Data)
	}
	tp.record(out, func() {
		dy := out.Grad
		if b != nil && b.requiresGrad {
			sumRowsInto(tp.grad(b), dy, g.cout)
		}
		if g.pointwise() {
			if w.requiresGrad {
				blas.Sgemm(true, false, g.cin, g.cout, g.rows(), 1, x.Data, g.cin, dy, g.cout, 1, tp.grad(w), g.cout)
			}
			if x.requiresGrad {
				blas.Sgemm(false, true, g.rows(), g.cin, g.cout, 1, dy, g.cout, w.Data, g.cout, 1, tp.grad(x), g.cin)
			}
			return
		}
		if w.requiresGrad {
			g.weightGrad(x.Data, dy, tp.grad(w))
		}
		if x.requiresGrad {
			g.inputGrad(tp, dy, w.Data, tp.grad(x))
		}
	})
	return out
}

// convGeom is the shape arithmetic of one convolution.
type convGeom struct {
	n, h, w, cin int
	kh, kw, cout int
	stride, pad  int
	oh, ow       int
}

func convGeomOf(x, w, b *Tensor, stride, pad int) convGeom {
	if len(x.Shape) != 4 || len(w.Shape) != 4 {
		panic(fmt.Sprintf("tensor.Conv2D: want x [N,H,W,C] and w [KH,KW,Cin,Cout], got %v and %v", x.Shape, w.Shape))
	}
	if stride < 1 {
		stride = 1
	}
	g := convGeom{n: x.Shape[0], h: x.Shape[1], w: x.Shape[2], cin: x.Shape[3],
		kh: w.Shape[0], kw: w.Shape[1], cout: w.Shape[3], stride: stride, pad: pad}
	if w.Shape[2] != g.cin {
		panic(fmt.Sprintf("tensor.Conv2D: x has %d channels, w expects %d", g.cin, w.Shape[2]))
	}
	if b != nil && (len(b.Shape) != 1 || b.Shape[0] != g.cout) {
		panic(fmt.Sprintf("tensor.Conv2D: bias shape %v, want [%d]", b.Shape, g.cout))
	}
	g.oh = (g.h+2*pad-g.kh)/stride + 1
	g.ow = (g.w+2*pad-g.kw)/stride + 1
	if g.oh < 1 || g.ow < 1 {
		panic(fmt.Sprintf("tensor.Conv2D: input %v too small for kernel %dx%d with pad %d", x.Shape, g.kh, g.kw, pad))
	}
	return g
}

func (g convGeom) pointwise() bool { return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0 }
func (g convGeom) rows() int       { return g.n * g.oh * g.ow }
func (g convGeom) k() int          { return g.kh * g.kw * g.cin }

// chunkRows picks how many output pixels one im2col block holds: enough for
// an efficient matrix product, few enough that the block stays in cache.
func (g convGeom) chunkRows() int {
	r := (256 << 10) / (4 * g.k())
	return min(max(r, 64), 1024)
}

// im2col fills cols (rows r0..r1 of the im2col matrix, K floats each) from x.
func (g convGeom) im2col(x []float32, r0, r1 int, cols []float32) {
	k := g.k()
	for r := r0; r < r1; r++ {
		n := r / (g.oh * g.ow)
		rem := r % (g.oh * g.ow)
		oy, ox := rem/g.ow, rem%g.ow
		row := cols[(r-r0)*k : (r-r0+1)*k]
		for ky := 0; ky < g.kh; ky++ {
			iy := oy*g.stride - g.pad + ky
			seg := row[ky*g.kw*g.cin : (ky+1)*g.kw*g.cin]
			if iy < 0 || iy >= g.h {
				clear(seg)
				continue
			}
			ix0 := ox*g.stride - g.pad
			base := ((n*g.h + iy) * g.w) * g.cin
			if ix0 >= 0 && ix0+g.kw <= g.w {
				copy(seg, x[base+ix0*g.cin:base+(ix0+g.kw)*g.cin])
				continue
			}
			for kx := 0; kx < g.kw; kx++ {
				dst := seg[kx*g.cin : (kx+1)*g.cin]
				if ix := ix0 + kx; ix >= 0 && ix < g.w {
					copy(dst, x[base+ix*g.cin:base+(ix+1)*g.cin])
				} else {
					clear(dst)
				}
			}
		}
	}
}

// eachChunk runs fn over the output pixels in im2col blocks on every core,
// handing each worker its own cols buffer. Worker wk takes blocks wk,
// wk+workers, … : a fixed assignment, so per-worker partial sums (the weight
// gradient) add up in the same order on every run.
func (g convGeom) eachChunk(fn func(worker, r0, r1 int, cols []float32)) {
	rows, cr := g.rows(), g.chunkRows()
	chunks := (rows + cr - 1) / cr
	workers := min(par.Workers(), chunks)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			buf := getScratch(cr * g.k())
			defer putScratch(buf)
			for c := wk; c < chunks; c += workers {
				r0 := c * cr
				r1 := min(r0+cr, rows)
				fn(wk, r0, r1, (*buf)[:(r1-r0)*g.k()])
			}
		}(wk)
	}
	wg.Wait()
}

func (g convGeom) forward(x, w, out []float32) {
	k := g.k()
	g.eachChunk(func(_, r0, r1 int, cols []float32) {
		g.im2col(x, r0, r1, cols)
		blas.SgemmSerial(false, false, r1-r0, g.cout, k, 1, cols, k, w, g.cout, 0, out[r0*g.cout:], g.cout)
	})
}

// weightGrad accumulates dW += colsᵀ·dY, each worker into its own partial
// sum so no two goroutines write the same memory.
func (g convGeom) weightGrad(x, dy, dw []float32) {
	k := g.k()
	parts := make([][]float32, par.Workers())
	g.eachChunk(func(wk, r0, r1 int, cols []float32) {
		if parts[wk] == nil {
			parts[wk] = make([]float32, len(dw))
		}
		g.im2col(x, r0, r1, cols)
		blas.SgemmSerial(true, false, k, g.cout, r1-r0, 1, cols, k, dy[r0*g.cout:], g.cout, 1, parts[wk], g.cout)
	})
	for _, p := range parts {
		for i, v := range p {
			dw[i] += v
		}
	}
}

// inputGrad accumulates dX. For stride 1 the input gradient is itself a
// convolution of dY with the spatially flipped, in/out-swapped kernel and
// padding K−1−pad, so it reuses the fast forward path and needs no
// scatter. Larger strides scatter the columns back (col2im), image by image
// in parallel.
func (g convGeom) inputGrad(tp *Tape, dy, w, dx []float32) {
	if g.stride == 1 && g.kh-1-g.pad >= 0 && g.kw == g.kh {
		flipped := tp.scratch(len(w))
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				src := ((g.kh-1-ky)*g.kw + (g.kw - 1 - kx)) * g.cin * g.cout
				dst := (ky*g.kw + kx) * g.cout * g.cin
				for ci := 0; ci < g.cin; ci++ {
					for co := 0; co < g.cout; co++ {
						flipped[dst+co*g.cin+ci] = w[src+ci*g.cout+co]
					}
				}
			}
		}
		back := convGeom{n: g.n, h: g.oh, w: g.ow, cin: g.cout, kh: g.kh, kw: g.kw, cout: g.cin,
			stride: 1, pad: g.kh - 1 - g.pad, oh: g.h, ow: g.w}
		tmp := tp.scratch(len(dx))
		back.forward(dy, flipped, tmp)
		par.For(len(dx), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dx[i] += tmp[i]
			}
		})
		return
	}
	k := g.k()
	per := g.oh * g.ow
	par.For(g.n, 1, func(n0, n1 int) {
		cr := g.chunkRows()
		cols := make([]float32, cr*k)
		for r0 := n0 * per; r0 < n1*per; r0 += cr {
			r1 := min(r0+cr, n1*per)
			c := cols[:(r1-r0)*k]
			blas.SgemmSerial(false, true, r1-r0, k, g.cout, 1, dy[r0*g.cout:], g.cout, w, g.cout, 0, c, k)
			g.col2im(c, r0, r1, dx)
		}
	})
}

// col2im adds the im2col-shaped gradient cols (rows r0..r1) back into dx.
func (g convGeom) col2im(cols []float32, r0, r1 int, dx []float32) {
	k := g.k()
	for r := r0; r < r1; r++ {
		n := r / (g.oh * g.ow)
		rem := r % (g.oh * g.ow)
		oy, ox := rem/g.ow, rem%g.ow
		row := cols[(r-r0)*k : (r-r0+1)*k]
		for ky := 0; ky < g.kh; ky++ {
			iy := oy*g.stride - g.pad + ky
			if iy < 0 || iy >= g.h {
				continue
			}
			for kx := 0; kx < g.kw; kx++ {
				ix := ox*g.stride - g.pad + kx
				if ix < 0 || ix >= g.w {
					continue
				}
				src := row[(ky*g.kw+kx)*g.cin : (ky*g.kw+kx+1)*g.cin]
				dst := dx[((n*g.h+iy)*g.w+ix)*g.cin:][:g.cin]
				for i, v := range src {
					dst[i] += v
				}
			}
		}
	}
}

// addBias adds b to every row of out (rows of len(b)).
func addBias(out, b []float32) {
	c := len(b)
	par.For(len(out)/c, grainElems/c+1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := out[r*c : (r+1)*c]
			for i, v := range b {
				row[i] += v
			}
		}
	})
}

// sumRowsInto adds the column sums of dy (rows of c values) to db.
func sumRowsInto(db, dy []float32, c int) {
	for r := 0; r < len(dy)/c; r++ {
		row := dy[r*c : (r+1)*c]
		for i, v := range row {
			db[i] += v
		}
	}
}

var scratchPool sync.Pool

func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}

func putScratch(p *[]float32) { scratchPool.Put(p) }
