package tensor

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/par"
)

// Conv2D convolves x [N,H,W,Cin] with w [KH,KW,Cin,Cout] and adds b [Cout]
// (b may be nil), with the given stride and symmetric zero padding. The
// result is [N,OH,OW,Cout] with OH = (H+2·pad−KH)/stride + 1.
//
// The weight layout puts Cout innermost so that each kernel tap w[ky,kx] is
// a Cin×Cout matrix and the products land directly in NHWC order. There are
// four ways to run the convolution as matrix products:
//
//   - a 1×1 stride-1 convolution is one product of x with w;
//   - the forward pass of a 3×3, stride-1, pad-1 convolution with 32 or more
//     channels in and out uses Winograd's F(4×4, 3×3) on AVX2 CPUs (see
//     winograd.go): 36 products of transformed tiles, 4 times fewer
//     multiplies; its gradients take the row-expanded path below;
//   - any other stride-1 convolution expands each input row only along x
//     (KW pixels side by side, see rowExpanded) and runs one product per
//     kernel row over row-shifted views of that; the weight and input
//     gradients are the same kind of products;
//   - larger strides go through im2col, one product of the unfolded patches
//     with w viewed as (KH·KW·Cin)×Cout.
func (tp *Tape) Conv2D(x, w, b *Tensor, stride, pad int) *Tensor {
	g := convGeomOf(x, w, b, stride, pad)
	out := tp.newOutRaw([]int{g.n, g.oh, g.ow, g.cout}, x, w, b)
	var bias []float32
	if b != nil {
		bias = b.Data
	}
	switch {
	case g.pointwise():
		blas.Sgemm(false, false, g.rows(), g.cout, g.cin, 1, x.Data, g.cin, w.Data, g.cout, 0, out.Data, g.cout)
		if bias != nil {
			addBias(out.Data, bias)
		}
	case g.winograd():
		g.winogradConv(x.Data, w.Data, bias, out.Data)
	case g.rowExpanded():
		g.rowConv(x.Data, w.Data, bias, out.Data, false)
	default:
		g.im2colConv(x.Data, w.Data, bias, out.Data, false)
	}
	tp.record(out, func() {
		dy := out.Grad
		var db []float32
		if b != nil && b.requiresGrad {
			db = tp.grad(b)
		}
		if g.pointwise() {
			if db != nil {
				sumRowsInto(db, dy, g.cout)
			}
			if w.requiresGrad {
				blas.Sgemm(true, false, g.cin, g.cout, g.rows(), 1, x.Data, g.cin, dy, g.cout, 1, tp.grad(w), g.cout)
			}
			if x.requiresGrad {
				blas.Sgemm(false, true, g.rows(), g.cin, g.cout, 1, dy, g.cout, w.Data, g.cout, 1, tp.grad(x), g.cin)
			}
			return
		}
		switch {
		case w.requiresGrad && g.rowExpanded():
			g.rowWeightGrad(x.Data, dy, tp.grad(w), db)
		case w.requiresGrad:
			g.im2colWeightGrad(x.Data, dy, tp.grad(w), db)
		case db != nil:
			sumRowsInto(db, dy, g.cout)
		}
		if x.requiresGrad {
			g.inputGrad(dy, w.Data, tp.grad(x))
		}
	})
	return out
}

// newOutRaw is newOut for results the caller overwrites in full: it skips
// zeroing the buffer, which for a large feature map costs a noticeable
// fraction of a convolution.
func (tp *Tape) newOutRaw(shape []int, inputs ...*Tensor) *Tensor {
	return tp.result(shape, tp.scratch(numel(shape)), inputs)
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
	if pad < 0 {
		panic(fmt.Sprintf("tensor.Conv2D: negative padding %d", pad))
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
func (g convGeom) taps() int       { return g.kh * g.kw }

// im2colOnly sends every convolution through im2col, so that tests can
// check the row-expanded path against it.
var im2colOnly = false

// rowBlockBytes bounds one block's expanded rows: most of L2 (1 MiB on the
// machines we tune for, 512 KiB and up elsewhere), leaving room for the
// packed weights, so that the KH products of a block find their rows in
// cache, while the KH−1 rows each block expands again for its neighbour
// stay a small fraction.
const rowBlockBytes = 768 << 10

// rowExpanded reports whether the convolution runs on kx-expanded rows.
//
// With stride 1, output pixel (oy,ox) takes tap row ky from padded input
// row oy+ky, pixels ox..ox+KW−1: KW·Cin floats that are contiguous in NHWC.
// Expanding every padded row that way gives a matrix E with OW rows per
// image row and KW·Cin columns, and then kernel row ky is one product of
// the E rows starting at image row oy+ky with w[ky] (a KW·Cin×Cout matrix,
// contiguous in the weight layout). A block of output image rows is thus
// KH products over the same expanded rows, shifted by whole image rows,
// writing straight into the output. E is KW times the input where im2col
// is KH·KW times, and the products are KH times as deep as one tap's
// would be. Measured against im2col it wins from Cin = 1 up.
func (g convGeom) rowExpanded() bool { return g.stride == 1 && !im2colOnly }

// rowBlocks splits each image's output rows into blocks of at most
// rowBlockBytes of expanded input, evened out so that the last block is not
// a sliver. It returns the rows per block and the blocks per image.
func (g convGeom) rowBlocks() (rows, blocks int) {
	r := min(max(rowBlockBytes/(4*g.ow*g.kw*g.cin)-(g.kh-1), 1), g.oh)
	blocks = (g.oh + r - 1) / r
	rows = (g.oh + blocks - 1) / blocks
	return rows, (g.oh + rows - 1) / rows
}

// expandRows writes the kx-expansion of padded rows py0..py1 of image n
// into e: for each output column ox, the KW·Cin values of input pixels
// ox−pad … ox−pad+KW−1 of that row, zero outside the image.
func (g convGeom) expandRows(x []float32, n, py0, py1 int, e []float32) {
	c, kc := g.cin, g.kw*g.cin
	for py := py0; py < py1; py++ {
		row := e[(py-py0)*g.ow*kc:][:g.ow*kc]
		iy := py - g.pad
		if iy < 0 || iy >= g.h {
			clear(row)
			continue
		}
		src := x[(n*g.h+iy)*g.w*c:][:g.w*c]
		for ox := 0; ox < g.ow; ox++ {
			d := row[ox*kc:][:kc]
			ix0 := ox - g.pad
			if ix0 >= 0 && ix0+g.kw <= g.w {
				copy(d, src[ix0*c:])
				continue
			}
			for kx := 0; kx < g.kw; kx++ {
				if ix := ix0 + kx; ix >= 0 && ix < g.w {
					copy(d[kx*c:][:c], src[ix*c:])
				} else {
					clear(d[kx*c:][:c])
				}
			}
		}
	}
}

// expandBlock expands the padded input rows that row block i reads (the
// blocks of rowBlocks, rb rows each and nb per image, numbered image by
// image) into a buffer from getBuf, which the caller puts back. The
// block's m output pixels start at pixel p0.
func (g convGeom) expandBlock(x []float32, i, rb, nb int) (p0, m int, eb *[]float32) {
	n, oy0 := i/nb, (i%nb)*rb
	oy1 := min(oy0+rb, g.oh)
	eb = getBuf((oy1 - oy0 + g.kh - 1) * g.ow * g.kw * g.cin)
	g.expandRows(x, n, oy0, oy1+g.kh-1, *eb)
	return (n*g.oh + oy0) * g.ow, (oy1 - oy0) * g.ow, eb
}

// rowConv computes out = conv(x, w) + bias, or out += conv(x, w) with
// accumulate, on kx-expanded rows. Blocks write disjoint rows of out, so
// they are handed out dynamically: a core slowed by other work takes fewer.
func (g convGeom) rowConv(x, w, bias, out []float32, accumulate bool) {
	kc, c := g.kw*g.cin, g.cout
	rb, nb := g.rowBlocks()
	forEach(g.n*nb, func(i int) {
		p0, m, eb := g.expandBlock(x, i, rb, nb)
		e, o := *eb, out[p0*c:][:m*c]
		for ky := 0; ky < g.kh; ky++ {
			beta := float32(1)
			if ky == 0 && !accumulate {
				beta = 0
			}
			blas.SgemmSerial(false, false, m, c, kc, 1, e[ky*g.ow*kc:], kc, w[ky*kc*c:], c, beta, o, c)
		}
		if bias != nil {
			addRowVector(o, bias) // while the block is still in cache
		}
		putBuf(eb)
	})
}

// rowWeightGrad accumulates dw[ky] += E(ky)ᵀ·dY block by block, where
// E(ky) are the expanded rows shifted by ky image rows, and db += Σ dY when
// db is not nil.
func (g convGeom) rowWeightGrad(x, dy, dw, db []float32) {
	kc, c := g.kw*g.cin, g.cout
	rb, nb := g.rowBlocks()
	forGroups(g.n*nb, dw, db, func(i int, pdw, pdb []float32) {
		p0, m, eb := g.expandBlock(x, i, rb, nb)
		e, d := *eb, dy[p0*c:][:m*c]
		for ky := 0; ky < g.kh; ky++ {
			blas.SgemmSerial(true, false, kc, c, m, 1, e[ky*g.ow*kc:], kc, d, c, 1, pdw[ky*kc*c:], c)
		}
		if pdb != nil {
			addColumnSums(pdb, d)
		}
		putBuf(eb)
	})
}

// inputGrad accumulates dX. For stride 1 the input gradient is itself a
// convolution of dY with the spatially flipped, in/out-swapped kernel and
// padding K−1−pad, so it reuses the forward paths and needs no scatter.
// Larger strides scatter the columns back (col2im), image by image in
// parallel.
func (g convGeom) inputGrad(dy, w, dx []float32) {
	if g.stride == 1 && g.kh == g.kw && g.pad <= g.kh-1 {
		back := convGeom{n: g.n, h: g.oh, w: g.ow, cin: g.cout, kh: g.kh, kw: g.kw, cout: g.cin,
			stride: 1, pad: g.kh - 1 - g.pad, oh: g.h, ow: g.w}
		fb := getBuf(len(w))
		flipped := *fb
		g.flipKernel(w, flipped)
		if back.rowExpanded() {
			back.rowConv(dy, flipped, nil, dx, true)
		} else {
			back.im2colConv(dy, flipped, nil, dx, true)
		}
		putBuf(fb)
		return
	}
	k := g.k()
	per := g.oh * g.ow
	cr := g.chunkRows()
	par.For(g.n, 1, func(n0, n1 int) {
		cb := getBuf(cr * k)
		for r0 := n0 * per; r0 < n1*per; r0 += cr {
			r1 := min(r0+cr, n1*per)
			c := (*cb)[:(r1-r0)*k]
			blas.SgemmSerial(false, true, r1-r0, k, g.cout, 1, dy[r0*g.cout:], g.cout, w, g.cout, 0, c, k)
			g.col2im(c, r0, r1, dx)
		}
		putBuf(cb)
	})
}

// flipKernel writes the kernel of the input-gradient convolution:
// spatially flipped with Cin and Cout swapped, [KH,KW,Cout,Cin].
func (g convGeom) flipKernel(w, flipped []float32) {
	for t := 0; t < g.taps(); t++ {
		src := w[(g.taps()-1-t)*g.cin*g.cout:]
		dst := flipped[t*g.cout*g.cin:]
		for ci := 0; ci < g.cin; ci++ {
			for co := 0; co < g.cout; co++ {
				dst[co*g.cin+ci] = src[ci*g.cout+co]
			}
		}
	}
}

// im2colBlockBytes is the size of one im2col block: big enough that its
// GEMM has a few hundred rows, small enough to stay in L2 (1 MiB on the
// machines we tune for) next to the packed operands.
const im2colBlockBytes = 512 << 10

// chunkRows picks how many output pixels one im2col block holds.
func (g convGeom) chunkRows() int {
	r := im2colBlockBytes / (4 * g.k())
	return min(max(r, 64), 2048)
}

// forRows calls fn for rows r0..r1 of the im2col matrix cols (K floats
// each, cols[0] the start of row r0) with the output pixel (oy, ox) of
// image n that the row belongs to.
func (g convGeom) forRows(cols []float32, r0, r1 int, fn func(row []float32, n, oy, ox int)) {
	k := g.k()
	for r := r0; r < r1; r++ {
		rem := r % (g.oh * g.ow)
		fn(cols[(r-r0)*k:(r-r0+1)*k], r/(g.oh*g.ow), rem/g.ow, rem%g.ow)
	}
}

// im2col fills cols (rows r0..r1 of the im2col matrix, K floats each) from x.
func (g convGeom) im2col(x []float32, r0, r1 int, cols []float32) {
	g.forRows(cols, r0, r1, func(row []float32, n, oy, ox int) {
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
	})
}

// chunk returns the output pixel range of im2col block c.
func (g convGeom) chunk(c int) (r0, r1 int) {
	cr := g.chunkRows()
	return c * cr, min((c+1)*cr, g.rows())
}

// chunks is the number of im2col blocks.
func (g convGeom) chunks() int { return (g.rows() + g.chunkRows() - 1) / g.chunkRows() }

// im2colConv computes out = conv(x, w) + bias, or out += conv(x, w) with
// accumulate, by im2col blocks. Each block's product lands in its own rows
// of out, so accumulating needs no temporary.
func (g convGeom) im2colConv(x, w, bias, out []float32, accumulate bool) {
	k, c := g.k(), g.cout
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	forEach(g.chunks(), func(i int) {
		r0, r1 := g.chunk(i)
		cb := getBuf((r1 - r0) * k)
		g.im2col(x, r0, r1, *cb)
		blas.SgemmSerial(false, false, r1-r0, c, k, 1, *cb, k, w, c, beta, out[r0*c:], c)
		if bias != nil {
			addRowVector(out[r0*c:r1*c], bias) // while the block is still in cache
		}
		putBuf(cb)
	})
}

// im2colWeightGrad accumulates dW += colsᵀ·dY, and db += Σ dY when db is
// not nil.
func (g convGeom) im2colWeightGrad(x, dy, dw, db []float32) {
	k, c := g.k(), g.cout
	forGroups(g.chunks(), dw, db, func(i int, pdw, pdb []float32) {
		r0, r1 := g.chunk(i)
		cb := getBuf((r1 - r0) * k)
		g.im2col(x, r0, r1, *cb)
		blas.SgemmSerial(true, false, k, c, r1-r0, 1, *cb, k, dy[r0*c:], c, 1, pdw, c)
		if pdb != nil {
			addColumnSums(pdb, dy[r0*c:r1*c])
		}
		putBuf(cb)
	})
}

// col2im adds the im2col-shaped gradient cols (rows r0..r1) back into dx.
func (g convGeom) col2im(cols []float32, r0, r1 int, dx []float32) {
	g.forRows(cols, r0, r1, func(row []float32, n, oy, ox int) {
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
	})
}

// workersFor is how many goroutines share n independent pieces of work.
func workersFor(n int) int { return max(1, min(par.Workers(), n)) }

// forEach calls fn(i) for every i in [0, n) on workersFor(n) goroutines
// (one of them the caller's), each taking the next unclaimed i until none
// is left, so that a core slowed by other work simply takes fewer.
func forEach(n int, fn func(i int)) {
	var next atomic.Int64
	run := func() {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			fn(i)
		}
	}
	var wg sync.WaitGroup
	for range workersFor(n) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// forGroups cuts its blocks into maxGroups groups, fewer where the partial
// sums would take more than partialBudget floats (the widest layers'
// weights are megabytes each) but never fewer than there are cores.
const (
	maxGroups     = 8
	partialBudget = 2 << 20
)

// forGroups runs a gradient reduction over n blocks: fn(i, dw, db) adds
// block i's contribution into the dw and db it is handed (db nil when no
// bias gradient is wanted). The blocks are cut into a fixed number of
// contiguous groups, each summed in block order into its own accumulator
// (the first group straight into dw and db, the others into zeroed pooled
// buffers that are then added in group order). Cores claim whole groups
// dynamically, but what is added to what never depends on which core did
// it, so the gradients are the same bit for bit on every run, and unless
// the budget binds, whatever the number of cores. More groups than cores
// lets a core slowed by other work take fewer of them.
func forGroups(n int, dw, db []float32, fn func(i int, dw, db []float32)) {
	size := len(dw) + len(db)
	groups := min(n, max(workersFor(n), min(maxGroups, partialBudget/max(size, 1)+1)))
	bufs := make([]*[]float32, groups)
	for gi := 1; gi < groups; gi++ {
		bufs[gi] = getBuf(size)
		clear(*bufs[gi])
	}
	split := func(gi int) (pdw, pdb []float32) {
		if gi == 0 {
			return dw, db
		}
		b := *bufs[gi]
		pdw = b[:len(dw)]
		if db != nil {
			pdb = b[len(dw):]
		}
		return pdw, pdb
	}
	forEach(groups, func(gi int) {
		pdw, pdb := split(gi)
		for i := gi * n / groups; i < (gi+1)*n/groups; i++ {
			fn(i, pdw, pdb)
		}
	})
	for gi := 1; gi < groups; gi++ {
		pdw, pdb := split(gi)
		for i, v := range pdw {
			dw[i] += v
		}
		for i, v := range pdb {
			db[i] += v
		}
		putBuf(bufs[gi])
	}
}

// addBias adds b to every row of out (rows of len(b)) on every core.
func addBias(out, b []float32) {
	c := len(b)
	par.For(len(out)/c, grainElems/c+1, func(lo, hi int) { addRowVector(out[lo*c:hi*c], b) })
}

// addRowVector adds v to every row of rows (a whole number of rows of
// len(v) values).
func addRowVector(rows, v []float32) {
	c := len(v)
	for p := 0; p+c <= len(rows); p += c {
		row := rows[p : p+c]
		for j, b := range v {
			row[j] += b
		}
	}
}

// addColumnSums adds the column sums of rows (a whole number of rows of
// len(acc) values) to acc.
func addColumnSums(acc, rows []float32) {
	c := len(acc)
	for p := 0; p+c <= len(rows); p += c {
		for j, v := range rows[p : p+c] {
			acc[j] += v
		}
	}
}

// sumRowsInto adds the column sums of dy (rows of c values) to db. Large
// inputs split the columns between the cores, which keeps each column's
// sum in row order (so the result does not depend on the core count) and
// needs no partial buffers.
func sumRowsInto(db, dy []float32, c int) {
	rows := len(dy) / c
	grain := c
	if len(dy) >= grainElems {
		grain = 16 // a cache line of each row per worker at least
	}
	par.For(c, grain, func(lo, hi int) {
		acc := db[lo:hi]
		for r := 0; r < rows; r++ {
			for i, v := range dy[r*c+lo : r*c+hi] {
				acc[i] += v
			}
		}
	})
}

// bufPools recycle the convolution's transient buffers (padded copies,
// product blocks, partial sums), one pool per power-of-two capacity so a
// request never gets a buffer too small for it and the large padded images
// do not crowd out the small blocks. The tape's own pool is not used for
// these: it keeps every buffer until Reset, and these are dead as soon as
// the call returns.
var bufPools [64]sync.Pool

// getBuf returns a pooled buffer of length n with undefined contents.
func getBuf(n int) *[]float32 {
	class := bits.Len(uint(max(n, 1) - 1))
	if p, ok := bufPools[class].Get().(*[]float32); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n, 1<<class)
	return &b
}

// putBuf returns a buffer from getBuf to its pool; nil is ignored.
func putBuf(p *[]float32) {
	if p != nil {
		bufPools[bits.Len(uint(cap(*p)-1))].Put(p)
	}
}
