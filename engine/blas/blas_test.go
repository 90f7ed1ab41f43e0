package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// impls lists every implementation this machine can run, by test name.
// Implementations that are unavailable are present with a nil value so each
// test can say why it skipped them.
// forEachImpl runs test as a subtest for every implementation, skipping
// those this machine or build lacks.
func forEachImpl(t *testing.T, test func(t *testing.T, im impl)) {
	var asm, asmPacked, asmDirect impl
	if asmKernel != nil {
		asm = goImpl{k: asmKernel}
		asmPacked = goImpl{k: asmKernel, a: aPack}
		asmDirect = goImpl{k: asmKernel, a: aDirect}
	}
	for _, tc := range []struct {
		name string
		im   impl
		why  string
	}{
		{"asm", asm, "CPU lacks AVX2+FMA or not amd64"},
		{"asm-packed", asmPacked, "CPU lacks AVX2+FMA or not amd64"},
		{"asm-direct", asmDirect, "CPU lacks AVX2+FMA or not amd64"},
		{"generic", goImpl{k: genericKernel}, ""},
		{"cblas", searchDefault(), "no system CBLAS loadable (or built with nocblas)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.im == nil {
				t.Skip(tc.why)
			}
			test(t, tc.im)
		})
	}
}

// call runs one product through the same argument handling as SgemmSerial
// but with a chosen implementation.
func call(im impl, parallelise bool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !prepare(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	if parallelise {
		parallel(im, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	im.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// problem is one randomly filled GEMM with padded leading dimensions.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b, c        []float32
}

// sentinel marks C's padding columns, which no implementation may touch.
const sentinel = -12345.5

func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32, nanC bool) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(1, ac)+pad, max(1, bc)+pad, max(1, n)+pad
	p.a = randSlice(rng, ar*p.lda)
	p.b = randSlice(rng, br*p.ldb)
	p.c = randSlice(rng, m*p.ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < p.ldc; j++ {
			switch {
			case j >= n:
				p.c[i*p.ldc+j] = sentinel
			case nanC:
				p.c[i*p.ldc+j] = float32(math.NaN())
			}
		}
	}
	return p
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// reference computes the expected C in float64 together with, per element,
// the magnitude that bounds float32 rounding error.
func (p *problem) reference() (want, mag []float64) {
	want = make([]float64, len(p.c))
	mag = make([]float64, len(p.c))
	for i := range p.c {
		want[i] = float64(p.c[i])
	}
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.n; j++ {
			var s, sa float64
			for q := 0; q < p.k; q++ {
				var av, bv float32
				if p.transA {
					av = p.a[q*p.lda+i]
				} else {
					av = p.a[i*p.lda+q]
				}
				if p.transB {
					bv = p.b[j*p.ldb+q]
				} else {
					bv = p.b[q*p.ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			idx := i*p.ldc + j
			cv := float64(p.c[idx])
			if p.beta == 0 {
				cv = 0 // beta == 0 overwrites, NaN included
			}
			want[idx] = float64(p.alpha)*s + float64(p.beta)*cv
			mag[idx] = math.Abs(float64(p.alpha))*sa + math.Abs(float64(p.beta)*cv)
		}
	}
	return want, mag
}

func (p *problem) check(t *testing.T, got []float32, want, mag []float64) {
	t.Helper()
	// Worst-case float32 error of a k-term dot product, plus the final
	// alpha/beta step.
	eps := float64(p.k+4) * 1.2e-7
	bad := 0
	for i := range want {
		g := float64(got[i])
		if d := math.Abs(g - want[i]); !(d <= eps*mag[i]+1e-30) {
			if bad < 5 {
				t.Errorf("%s: C[%d,%d] = %v, want %v", p, i/p.ldc, i%p.ldc, g, want[i])
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d wrong elements in all", p, bad)
	}
}

func (p *problem) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc)
}

var shapes = [][3]int{
	{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {100, 3, 257},
	{6, 16, 4}, {12, 32, 1}, // exact micro-tiles
	{150, 40, 600}, // several mc and kc blocks
	{7, 3100, 3},   // several nc blocks
	{0, 5, 3}, {5, 0, 3}, {5, 7, 0}, {0, 0, 0},
}

var scalars = []struct {
	alpha, beta float32
	nanC        bool
}{
	{1, 0, true}, {1, 0, false}, {0.5, -1.5, false}, {-2, 1, false}, {0, 2, false}, {0, 0, true}, {1, float32(math.Copysign(0, -1)), true},
}

func TestAgainstReference(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, sc := range scalars {
					for _, pad := range []int{0, 3} {
						p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], pad, sc.alpha, sc.beta, sc.nanC)
						want, mag := p.reference()
						call(im, false, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
						p.check(t, p.c, want, mag)
					}
				}
			}
		}
	})
}

// TestParallelMatchesSerial checks that splitting C across goroutines, by
// rows and by columns, gives the serial answer: bit for bit for pure Go,
// whose k blocking does not depend on the split, and within rounding for
// CBLAS, whose may.
func TestParallelMatchesSerial(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im impl) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, s := range [][3]int{{301, 200, 64}, {20, 700, 70}, {64, 64, 64}} {
			for _, tr := range [][2]bool{{false, false}, {true, true}, {true, false}, {false, true}} {
				p := newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], 2, 1.5, 0.25, false)
				serial := append([]float32(nil), p.c...)
				call(im, false, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, serial, p.ldc)
				call(im, true, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
				for i := range serial {
					d := math.Abs(float64(serial[i] - p.c[i]))
					if _, isGo := im.(goImpl); (isGo && d != 0) || d > 1e-4 {
						t.Fatalf("%s: parallel C[%d] = %v, serial %v", p, i, p.c[i], serial[i])
					}
				}
			}
		}
	})
}

// TestPublicAPI runs Sgemm and SgemmSerial with whatever Name reports and
// compares both with the reference.
func TestPublicAPI(t *testing.T) {
	t.Logf("implementation: %s", Name())
	if Name() == "" {
		t.Fatal("empty Name")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{301, 200, 64}, {20, 700, 70}, {5, 6, 7}} {
		p := newProblem(rng, false, true, s[0], s[1], s[2], 1, 1, 0, true)
		q := *p
		q.c = append([]float32(nil), p.c...)
		want, mag := p.reference()
		Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc)
		p.check(t, p.c, want, mag)
		SgemmSerial(q.transA, q.transB, q.m, q.n, q.k, q.alpha, q.a, q.lda, q.b, q.ldb, q.beta, q.c, q.ldc)
		q.check(t, q.c, want, mag)
	}
}

// TestPureGoMatchesCBLAS compares the two families directly on a product big
// enough to exercise full cache blocks.
func TestPureGoMatchesCBLAS(t *testing.T) {
	cb := searchDefault()
	if cb == nil {
		t.Skip("no system CBLAS loadable")
	}
	const n = 256
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := randSlice(rng, n*n), randSlice(rng, n*n)
	cGo, cLib := make([]float32, n*n), make([]float32, n*n)
	call(goBest, true, false, false, n, n, n, 1, a, n, b, n, 0, cGo, n)
	call(cb, true, false, false, n, n, n, 1, a, n, b, n, 0, cLib, n)
	for i := range cGo {
		// Entries are sums of 256 products in [-1, 1]: |C| ≲ 16, so 1e-4
		// is a few ulps of disagreement in summation order.
		if d := math.Abs(float64(cGo[i] - cLib[i])); d > 1e-4 {
			t.Fatalf("C[%d]: pure Go %v, %s %v", i, cGo[i], cb.name(), cLib[i])
		}
	}
}

// TestConcurrentSerial calls SgemmSerial from several goroutines at once,
// the way the convolution code does, to catch shared state in the packing
// buffers or the library.
func TestConcurrentSerial(t *testing.T) {
	const g, n = 8, 96
	rng := rand.New(rand.NewPCG(9, 10))
	a, b := randSlice(rng, n*n), randSlice(rng, n*n)
	want := make([]float32, n*n)
	SgemmSerial(false, false, n, n, n, 1, a, n, b, n, 0, want, n)
	var wg sync.WaitGroup
	errs := make(chan string, g)
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, n*n)
			for range 20 {
				SgemmSerial(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
				for i := range c {
					if c[i] != want[i] {
						errs <- fmt.Sprintf("C[%d] = %v, want %v", i, c[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestBadLibraryFallsBack(t *testing.T) {
	t.Setenv("ZOOMDIFF_BLAS", "/nonexistent/libnotblas.so")
	im, note := loadSystem()
	if im != nil {
		t.Fatalf("loaded %s from a path that does not exist", im.name())
	}
	if note == "" {
		t.Error("no note saying why the library was not used")
	}
	t.Setenv("ZOOMDIFF_BLAS", "go")
	if im, _ := loadSystem(); im != nil {
		t.Fatalf("ZOOMDIFF_BLAS=go loaded %s", im.name())
	}
}

// TestDefaultChoice: unset, the pure-Go kernel serves a CPU with AVX2 and
// FMA, and "system" asks for the library search instead.
func TestDefaultChoice(t *testing.T) {
	t.Setenv("ZOOMDIFF_BLAS", "")
	im, note := loadSystem()
	if asmKernel != nil && (im != nil || note != "") {
		t.Errorf("unset with the AVX2 kernel: loaded %v (%q), want pure Go", im, note)
	}
	t.Setenv("ZOOMDIFF_BLAS", "system")
	im, note = loadSystem()
	if sys := searchDefault(); sys == nil {
		if im != nil || note == "" {
			t.Errorf("system without a library: %v, note %q; want pure Go and a note", im, note)
		}
	} else if im == nil || im.name() != sys.name() {
		t.Errorf("system: got %v (%q), want %s", im, note, sys.name())
	}
}

func TestBadArgumentsPanic(t *testing.T) {
	a := make([]float32, 6)
	for name, f := range map[string]func(){
		"short A":      func() { Sgemm(false, false, 3, 2, 3, 1, a, 3, a, 2, 0, a, 2) },
		"small lda":    func() { SgemmSerial(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) },
		"negative m":   func() { Sgemm(false, false, -1, 2, 3, 1, a, 3, a, 2, 0, a, 2) },
		"short C":      func() { Sgemm(false, false, 2, 4, 1, 1, a, 1, a, 4, 0, a, 4) },
		"small ldb tB": func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
