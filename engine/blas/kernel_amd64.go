package blas

import "github.com/zoomdiff/zoomdiff/engine/cpufeat"

// kernel6x16AVX2 computes the 6×16 tile C = alpha·Ã·B̃ + beta·C. Ã(r, p) is
// a[r·rsA + p·csA], so A may be packed (rsA=1, csA=6) or read in place; B̃
// is a packed panel of 16 floats per k step. C rows are ldc floats apart.
// beta == 0 never reads C. k must be ≥ 1.
//
//go:noescape
func kernel6x16AVX2(k int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32)

// asmKernel is the AVX2+FMA micro-kernel, or nil when the CPU lacks it.
var asmKernel = func() *kernel {
	if !cpufeat.AVX2FMA {
		return nil
	}
	return &kernel{
		name:     "avx2+fma",
		mr:       6,
		nr:       16,
		mc:       avx2MC,
		kc:       avx2KC,
		kcDirect: avx2KCDirect,
		nc:       avx2NC,
		strided:  true,
		fn: func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32) {
			// The slice expressions are the bounds checks the assembly
			// cannot do: they make a bad call panic instead of reading or
			// writing past the end of a slice.
			_ = a[:5*rsA+(k-1)*csA+1]
			_ = b[:16*k]
			_ = c[:5*ldc+16]
			kernel6x16AVX2(k, &a[0], rsA, csA, &b[0], &c[0], ldc, alpha, beta)
		},
	}
}()

// Blocking for the AVX2 kernel. A kc×16 B micro-panel (20 KiB at kc=320)
// plus a 6×kc A micro-panel (7.5 KiB) stay in a 32 KiB L1; the mc×kc packed
// A block (120 KiB) sits comfortably in a 512 KiB L2 next to the B panel
// being streamed; the kc×nc packed B block is meant for the shared L3.
// Measured on a 2-core EPYC (Zen 4): one core does 93-98 GFLOPS at
// 512×1024×1024 for any kc in 288..576 and mc in 72..144, so these sit in
// the middle of a flat optimum rather than on a sharp peak; kcDirect was
// the one parameter that mattered (see kernel.kcDirect).
const (
	avx2MC       = 96
	avx2KC       = 320
	avx2KCDirect = 640
	avx2NC       = 2048
)
