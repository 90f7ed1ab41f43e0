package blas

import (
	"sync"
	"unsafe"
)

// kernel is one micro-kernel together with the blocking that suits it.
//
// The driver follows the GotoBLAS/BLIS scheme: a kc×nc block of op(B) is
// packed once into nr-wide column panels, then for each mc×kc block of op(A)
// (packed into mr-high row panels) the micro-kernel sweeps the block one
// mr×nr tile of C at a time. Packing makes every transpose look the same to
// the kernel and lets it stream both operands with unit stride.
type kernel struct {
	name       string
	mr, nr     int // micro-tile of C computed by one fn call
	mc, kc, nc int // cache blocks; mc is a multiple of mr, nc of nr
	// kcDirect replaces kc when A is read in place. With no A panel to keep
	// in L1, a deeper k block pays off: fewer passes over C and fewer
	// kernel calls (at k=576, one block of 576 ran 15% faster than two of 288).
	kcDirect int
	// fn computes the full mr×nr tile C = alpha·Ã·B̃ + beta·C over k steps,
	// where Ã(r, p) = a[r·rsA + p·csA] and B̃ is a packed panel; C rows are
	// ldc apart. beta == 0 must not read C.
	fn func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32)
	// strided says fn takes any rsA, csA ≥ 1, not just packed A (1, mr),
	// so A can be used in place.
	strided bool
}

// goImpl is the pure-Go implementation around one micro-kernel.
type goImpl struct {
	k *kernel
	a aMode
}

// aMode says whether the driver packs A or lets the kernel read it in place.
type aMode int

const (
	aAuto   aMode = iota // decide per call, see useDirect
	aPack                // always pack
	aDirect              // in place whenever the kernel allows it
)

func (g goImpl) name() string { return "pure-go (" + g.k.name + ")" }

func (g goImpl) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	direct := g.k.strided && (g.a == aDirect || g.a == aAuto && useDirect(transA, n, lda))
	g.k.gemm(direct, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// bufPool recycles packing buffers: a 1024³ product needs a few MiB and the
// convolution code calls gemm many times per step, so allocating afresh each
// call would mostly feed the garbage collector.
var bufPool = sync.Pool{New: func() any { return new([]float32) }}

// cacheLine is the alignment of the packed panels, so that a 32-byte load in
// the kernel never straddles two lines.
const cacheLine = 64

// alignedBuf returns a slice of n floats from *p, starting on a cache line,
// growing *p if needed.
func alignedBuf(p *[]float32, n int) []float32 {
	const pad = cacheLine / 4
	if cap(*p) < n+pad {
		*p = make([]float32, n+pad)
	}
	s := (*p)[:n+pad]
	off := 0
	if mis := int(uintptr(unsafe.Pointer(&s[0])) % cacheLine); mis != 0 {
		off = (cacheLine - mis) / 4
	}
	return s[off : off+n : off+n]
}

// balance splits d into the fewest blocks of at most limit, then evens them
// out (rounded up to a multiple of g), so that a dimension just over the
// block size does not leave a sliver that runs at a fraction of the speed.
func balance(d, limit, g int) int {
	nb := (d + limit - 1) / limit
	blk := (d + nb - 1) / nb
	return (blk + g - 1) / g * g
}

// useDirect says whether to skip packing A and let the kernel read it in
// place. Packing costs a pass over A per k block and is repaid only by the
// reuse of each packed panel across the n/nr column panels. For row-major A
// reading in place won everywhere we measured: by a third to a half on the
// narrow products of our convolutions (n ≤ 128) and evenly at 1024³.
// Transposed A, read in place, takes each k step of a panel from a new
// cache line lda floats after the last, which pays only while n is small
// (Aᵀ at 576×64×16384, the weight gradient of a convolution, ran 1.8× faster
// in place) and the stride does not fold those lines onto a handful of
// cache sets: with lda a multiple of 8192 (32 KiB) it ran at half the
// packed speed on Zen 4, while 4096 still won.
func useDirect(transA bool, n, lda int) bool {
	if !transA {
		return true
	}
	return n <= 512 && lda%8192 != 0
}

// gemm is the serial product; direct reads A in place instead of packing
// it, which needs a strided kernel. Callers have checked the arguments and
// dealt with m, n, k == 0 and alpha == 0.
func (kn *kernel) gemm(direct, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kn.mr, kn.nr
	mc := balance(m, kn.mc, mr)
	kc := balance(k, kn.kc, 1)
	if direct {
		kc = balance(k, kn.kcDirect, 1)
	}
	nc := balance(n, kn.nc, nr)
	// Strides of op(A) in a: Ã(i, p) = a[i·rsA + p·csA].
	rsA, csA := lda, 1
	if transA {
		rsA, csA = 1, lda
	}

	bufp := bufPool.Get().(*[]float32)
	defer bufPool.Put(bufp)
	// One buffer holds, each cache-line aligned: packed A (mc×kc, or just
	// one edge panel when A is read in place), packed B (kc×nc) and one
	// mr×nr tile for the edges of C.
	aLen := roundUp(mc*kc, cacheLine/4)
	if direct {
		aLen = roundUp(mr*kc, cacheLine/4)
	}
	bLen := roundUp(nc/nr*bPanelStride(kc, nr), cacheLine/4)
	buf := alignedBuf(bufp, aLen+bLen+mr*nr)
	ap := buf[:aLen]
	bp := buf[aLen : aLen+bLen]
	tmp := buf[aLen+bLen:]

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bp)
			// Only the first k block applies beta; the rest accumulate.
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				cb := c[ic*ldc+jc:]
				if !direct {
					packA(transA, a, lda, ic, pc, mb, kb, mr, ap)
					kn.macro(mb, nb, kb, alpha, ap, kb, 1, mr, nil, bp, bet, cb, ldc, tmp)
					continue
				}
				// In place, except that a last panel of fewer than mr rows
				// is packed (zero-padded) so the kernel cannot read past A.
				var edge []float32
				if r := mb % mr; r != 0 {
					packA(transA, a, lda, ic+mb-r, pc, r, kb, mr, ap)
					edge = ap[:mr*kb]
				}
				kn.macro(mb, nb, kb, alpha, a[ic*rsA+pc*csA:], rsA, rsA, csA, edge, bp, bet, cb, ldc, tmp)
			}
		}
	}
}

// macro runs the micro-kernel over one mb×kb block of A against one packed
// kb×nb block of B. Row panel ir of A starts at a[ir·panelStep] and has
// strides rsA, csA; edge, if not nil, replaces the last, partial panel with
// a packed copy. The B micro-panel is the outer loop so it stays in L1 while
// the A micro-panels stream from L2.
func (kn *kernel) macro(mb, nb, kb int, alpha float32, a []float32, panelStep, rsA, csA int, edge, bp []float32, beta float32, c []float32, ldc int, tmp []float32) {
	mr, nr, fn := kn.mr, kn.nr, kn.fn
	ps := bPanelStride(kb, nr)
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bpp := bp[jr/nr*ps : jr/nr*ps+kb*nr]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			app, rs, cs := a[ir*panelStep:], rsA, csA
			if rows < mr && edge != nil {
				app, rs, cs = edge, 1, mr
			}
			if rows == mr && cols == nr {
				fn(kb, app, rs, cs, bpp, c[ir*ldc+jr:], ldc, alpha, beta)
				continue
			}
			// Edge tile: compute the whole padded tile aside, then copy
			// the part that exists.
			fn(kb, app, rs, cs, bpp, tmp, nr, 1, 0)
			for i := 0; i < rows; i++ {
				t := tmp[i*nr : i*nr+cols]
				cr := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+cols]
				if beta == 0 {
					for j, v := range t {
						cr[j] = alpha * v
					}
				} else {
					for j, v := range t {
						cr[j] = alpha*v + beta*cr[j]
					}
				}
			}
		}
	}
}

// packA copies the mb×kb block of op(A) at (ic, pc) into mr-row panels
// mr·kb floats apart, each stored k step by k step (mr floats per step),
// zero-padding the last panel to a full mr rows.
func packA(trans bool, a []float32, lda, ic, pc, mb, kb, mr int, ap []float32) {
	if trans {
		// op(A)(i, p) = a[p*lda+i]: row p of the stored matrix holds k step
		// p of every panel.
		dealPanels(a[pc*lda+ic:], lda, kb, mb, mr, mr*kb, ap)
		return
	}
	// op(A)(i, p) = a[i*lda+p].
	gatherPanels(a[ic*lda+pc:], lda, kb, mb, mr, mr*kb, ap)
}

// bPanelStride is the distance between packed B panels. The padding of one
// k step keeps panels from starting at multiples of 4 KiB apart (kb·nr·4
// bytes often is one), where the row-by-row packing below would pile every
// store of a row onto the same L1 set.
func bPanelStride(kb, nr int) int { return kb*nr + nr }

// packB copies the kb×nb block of op(B) at (pc, jc) into nr-column panels
// bPanelStride apart, each stored k step by k step (nr floats per step),
// zero-padding the last panel to a full nr columns.
func packB(trans bool, b []float32, ldb, pc, jc, kb, nb, nr int, bp []float32) {
	ps := bPanelStride(kb, nr)
	if !trans {
		// op(B)(p, j) = b[p*ldb+j]: row p holds k step p of every panel.
		dealPanels(b[pc*ldb+jc:], ldb, kb, nb, nr, ps, bp)
		return
	}
	// op(B)(p, j) = b[j*ldb+p].
	gatherPanels(b[jc*ldb+pc:], ldb, kb, nb, nr, ps, bp)
}

// dealPanels packs a kb×n block whose k step p is the row src[p·ld:][:n]
// into w-wide panels ps floats apart, each stored k step by k step (w floats
// per step), zero-padding the last panel to a full w. It reads the rows in
// order and deals each one out: going panel by panel instead would load a
// few floats per row from rows ld apart, which for the power-of-two widths
// of images thrashes one cache set and made packing B cost as much as the
// multiply when m was small.
func dealPanels(src []float32, ld, kb, n, w, ps int, dst []float32) {
	full, np := n/w, (n+w-1)/w
	for p := 0; p < kb; p++ {
		row := src[p*ld:]
		row = row[:n]
		switch w {
		case 16:
			for q := 0; q < full; q++ {
				copy16(dst[q*ps+16*p:], row[16*q:])
			}
		case 6:
			for q := 0; q < full; q++ {
				copy6(dst[q*ps+6*p:], row[6*q:])
			}
		case 4:
			for q := 0; q < full; q++ {
				*(*[4]float32)(dst[q*ps+4*p:]) = *(*[4]float32)(row[4*q:])
			}
		case 2:
			for q := 0; q < full; q++ {
				*(*[2]float32)(dst[q*ps+2*p:]) = *(*[2]float32)(row[2*q:])
			}
		default:
			for q := 0; q < full; q++ {
				copy(dst[q*ps+w*p:q*ps+w*p+w], row[w*q:])
			}
		}
		if full < np {
			d := dst[full*ps+w*p : full*ps+w*p+w]
			clear(d[copy(d, row[full*w:]):])
		}
	}
}

// gatherPanels packs like dealPanels a kb×n block stored the other way
// round, its column j (all k steps) being src[j·ld:][:kb], so each panel
// gathers one element from each of w stored rows per k step.
func gatherPanels(src []float32, ld, kb, n, w, ps int, dst []float32) {
	for q := 0; q*w < n; q++ {
		cols := min(w, n-q*w)
		d := dst[q*ps : q*ps+kb*w]
		if cols == 6 && w == 6 {
			packA6(src, ld, q*6*ld, kb, d)
			continue
		}
		for j := 0; j < cols; j++ {
			s := src[(q*w+j)*ld:]
			s = s[:kb]
			for p, v := range s {
				d[p*w+j] = v
			}
		}
		for j := cols; j < w; j++ {
			for p := 0; p < kb; p++ {
				d[p*w+j] = 0
			}
		}
	}
}

// packA6 is gatherPanels' common case for the 6-row kernel: reading six rows
// side by side writes dst sequentially, which is about twice as fast as six
// strided passes.
func packA6(a []float32, lda, off, kb int, dst []float32) {
	r0 := a[off : off+kb]
	r1 := a[off+lda : off+lda+kb]
	r2 := a[off+2*lda : off+2*lda+kb]
	r3 := a[off+3*lda : off+3*lda+kb]
	r4 := a[off+4*lda : off+4*lda+kb]
	r5 := a[off+5*lda : off+5*lda+kb]
	dst = dst[:6*kb]
	for p := range r0 {
		d := dst[6*p : 6*p+6]
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// copy16 and copy6 move one k step of a panel. Fixed-size copies of up to
// 16 bytes compile to plain vector moves, where copy() or a 64-byte array
// assignment would call memmove for every few floats.
func copy16(d, s []float32) {
	d, s = d[:16], s[:16]
	*(*[4]float32)(d[0:]) = *(*[4]float32)(s[0:])
	*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
	*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
}

func copy6(d, s []float32) {
	d, s = d[:6], s[:6]
	*(*[4]float32)(d[0:]) = *(*[4]float32)(s[0:])
	*(*[2]float32)(d[4:]) = *(*[2]float32)(s[4:])
}

func roundUp(x, g int) int { return (x + g - 1) / g * g }
