package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGemm times C = A·B for an m×k by k×n product with f and reports
// GFLOPS (2·m·n·k flops per product).
func benchGemm(b *testing.B, m, n, k int, f func(m, n, k int, a, bb, c []float32)) {
	rng := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
	f(m, n, k, a, bb, c) // load the library and warm the packing-buffer pool
	b.ResetTimer()
	for b.Loop() {
		f(m, n, k, a, bb, c)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

// viaSgemm is the public, parallel entry point with whatever Name reports.
func viaSgemm(m, n, k int, a, b, c []float32) {
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
}

// viaImpl forces one implementation, split across cores the way Sgemm does.
func viaImpl(im impl) func(m, n, k int, a, b, c []float32) {
	return func(m, n, k int, a, b, c []float32) {
		call(im, true, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	}
}

// BenchmarkSgemm1024 is the headline number: 1024³ through Sgemm.
func BenchmarkSgemm1024(b *testing.B) {
	b.Log(Name())
	benchGemm(b, 1024, 1024, 1024, viaSgemm)
}

// BenchmarkSgemm1024PureGo is 1024³ with the best pure-Go kernel, whatever
// library Sgemm would use.
func BenchmarkSgemm1024PureGo(b *testing.B) {
	b.Log(goBest.name())
	benchGemm(b, 1024, 1024, 1024, viaImpl(goBest))
}

// BenchmarkSgemm1024Generic is 1024³ with the portable kernel, the speed
// non-amd64 machines without a CBLAS get.
func BenchmarkSgemm1024Generic(b *testing.B) {
	benchGemm(b, 1024, 1024, 1024, viaImpl(goImpl{k: genericKernel}))
}

// BenchmarkSgemm1024CBLAS is 1024³ with the system library, one call per
// goroutine with one library thread each, as Sgemm does it.
func BenchmarkSgemm1024CBLAS(b *testing.B) {
	cb := searchDefault()
	if cb == nil {
		b.Skip("no system CBLAS loadable")
	}
	b.Log(cb.name())
	benchGemm(b, 1024, 1024, 1024, viaImpl(cb))
}

// convShapes are the products of our 3×3 convolutions, im2col style, with
// P output pixels, Cin input and Cout output channels: the forward pass
// (P×9Cin times 9Cin×Cout), the weight gradient (im2colᵀ·dY) and the input
// gradient (dY·Wᵀ).
var convShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"M16384_N64_K576", false, false, 16384, 64, 576},
	{"M4096_N128_K1152", false, false, 4096, 128, 1152},
	{"dW_M576_N64_K16384", true, false, 576, 64, 16384},
	{"dX_M16384_N576_K64", false, true, 16384, 576, 64},
}

// BenchmarkSgemmConvShapes compares the implementations on convolution
// shapes, where one dimension is small and packing overheads matter more
// than at 1024³.
func BenchmarkSgemmConvShapes(b *testing.B) {
	cb := searchDefault()
	for _, s := range convShapes {
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		run := func(f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) func(m, n, k int, a, bb, c []float32) {
			return func(m, n, k int, a, bb, c []float32) {
				f(s.transA, s.transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			}
		}
		via := func(im impl) func(m, n, k int, a, bb, c []float32) {
			return run(func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				call(im, true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			})
		}
		b.Run(s.name+"/Sgemm", func(b *testing.B) { benchGemm(b, s.m, s.n, s.k, run(Sgemm)) })
		b.Run(s.name+"/PureGo", func(b *testing.B) { benchGemm(b, s.m, s.n, s.k, via(goBest)) })
		b.Run(s.name+"/Generic", func(b *testing.B) { benchGemm(b, s.m, s.n, s.k, via(goImpl{k: genericKernel})) })
		if cb != nil {
			b.Run(s.name+"/CBLAS", func(b *testing.B) { benchGemm(b, s.m, s.n, s.k, via(cb)) })
		}
	}
}

// BenchmarkSgemmSmall measures per-call overhead on products too small to
// parallelise, where the cgo-style call into the library costs the most
// relative to the work.
func BenchmarkSgemmSmall(b *testing.B) {
	for _, n := range []int{4, 16, 24, 32, 48} {
		b.Run(fmt.Sprintf("%d/Sgemm", n), func(b *testing.B) { benchGemm(b, n, n, n, viaSgemm) })
		if cb := searchDefault(); cb != nil {
			b.Run(fmt.Sprintf("%d/CBLAS", n), func(b *testing.B) { benchGemm(b, n, n, n, viaImpl(cb)) })
		}
		b.Run(fmt.Sprintf("%d/PureGo", n), func(b *testing.B) { benchGemm(b, n, n, n, viaImpl(goBest)) })
	}
}
