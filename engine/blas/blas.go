// Package blas is the engine's matrix multiply: one function, Sgemm, behind
// which sit a pure-Go GEMM (an AVX2+FMA assembly micro-kernel where the CPU
// has it) and a system CBLAS loaded at run time.
//
// All matrices are row-major float32.
//
// The implementation is chosen once, on first use, from the environment
// variable ZOOMDIFF_BLAS:
//
//   - unset or empty: pure Go on a CPU with AVX2 and FMA, which measured
//     faster than OpenBLAS on every shape the models multiply; elsewhere
//     the system library as for "system", else pure Go;
//   - "system": the first of libopenblas.so.0, libopenblas.so,
//     libcblas.so.3 and libblas.so.3 that exports cblas_sgemm (on macOS:
//     Homebrew's OpenBLAS, then Accelerate), else pure Go;
//   - "go": pure Go;
//   - anything else: that library path or soname; if it cannot be loaded the
//     package falls back to pure Go and Name says why.
//
// Libraries are loaded with purego, so the binary still builds with
// CGO_ENABLED=0. It then links libdl dynamically, though; the build tag
// nocblas leaves the loader out for a fully static, pure-Go binary.
//
// The pure-Go code is a packed, cache-blocked GEMM with an AVX2+FMA assembly
// micro-kernel on amd64 CPUs that have it and a portable kernel elsewhere.
//
// Sgemm splits large products across GOMAXPROCS goroutines itself and asks
// OpenBLAS for one thread per call, so that SgemmSerial called from many
// goroutines at once does not oversubscribe the cores.
package blas

import (
	"fmt"
	"sync"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// impl is one GEMM implementation. sgemm is serial and may assume checked
// arguments with m, n, k ≥ 1 and alpha ≠ 0.
type impl interface {
	name() string
	sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

// goBest is the fastest pure-Go implementation this CPU can run.
var goBest impl = func() impl {
	if asmKernel != nil {
		return goImpl{k: asmKernel}
	}
	return goImpl{k: genericKernel}
}()

var (
	loadOnce   sync.Once
	active     impl
	activeName string
)

// current returns the implementation in use, loading the system library on
// the first call rather than at init so that programs which never multiply
// matrices never dlopen anything.
func current() impl {
	loadOnce.Do(func() {
		sys, note := loadSystem()
		if sys != nil {
			active, activeName = sys, sys.name()
			return
		}
		active, activeName = goBest, goBest.name()
		if note != "" {
			activeName += "; " + note
		}
	})
	return active
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ,
// op(A) is m×k, op(B) is k×n and C is m×n, all row-major with leading
// dimensions lda, ldb and ldc. With beta == 0, C is overwritten without
// being read, so it may hold NaN. Large products use every core; small ones
// stay on the calling goroutine.
//
// Inconsistent arguments (negative sizes, leading dimensions or slices too
// small for the shapes) are programming errors and panic, before any
// library is called with them.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !prepare(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	parallel(pick(m, n, k), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine only, for callers that
// already split their work across cores.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !prepare(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	pick(m, n, k).sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// smallCutoff is the product size m·n·k below which the pure-Go code runs
// even when a library is loaded: a call through purego costs about a
// microsecond of reflection and cgo transition, which is what a 32³ product
// takes outright.
const smallCutoff = 32 * 32 * 32

// pick returns the implementation for one product.
func pick(m, n, k int) impl {
	if m*n*k < smallCutoff {
		return goBest
	}
	return current()
}

// Name says which implementation Sgemm uses, e.g.
// "openblas 0.3.21 Zen (/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so, 1 thread per call)"
// or "pure-go (avx2+fma)". Products smaller than 32³ always run in pure Go,
// where the call costs less. Calling Name loads the library if that has not
// happened yet.
func Name() string {
	current()
	return activeName
}

// parallelMin is the product size m·n·k below which Sgemm stays on one
// goroutine: about 10 µs of work, where starting and joining goroutines
// (≈1 µs) and packing a second copy of an operand stop being noise.
const parallelMin = 64 * 64 * 64

// parallel runs im over row blocks of C, or column blocks when C is wide
// and short. Each block is an independent serial product; splitting the
// larger of m and n means the operand every worker packs in full is the
// smaller one.
func parallel(im impl, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if par.Workers() < 2 || m*n*k < parallelMin {
		im.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Blocks are whole micro-tiles of the pure-Go kernel (6 rows or 16
	// columns) so no worker gets a ragged edge in the middle of C.
	const rowUnit, colUnit = 6, 16
	if m >= n {
		par.For((m+rowUnit-1)/rowUnit, 1, func(lo, hi int) {
			r0, r1 := lo*rowUnit, min(hi*rowUnit, m)
			aoff := r0 * lda
			if transA {
				aoff = r0
			}
			im.sgemm(transA, transB, r1-r0, n, k, alpha, a[aoff:], lda, b, ldb, beta, c[r0*ldc:], ldc)
		})
		return
	}
	par.For((n+colUnit-1)/colUnit, 1, func(lo, hi int) {
		c0, c1 := lo*colUnit, min(hi*colUnit, n)
		boff := c0
		if transB {
			boff = c0 * ldb
		}
		im.sgemm(transA, transB, m, c1-c0, k, alpha, a, lda, b[boff:], ldb, beta, c[c0:], ldc)
	})
}

// prepare checks the arguments and does the work that needs no multiply:
// nothing when C is empty, C = beta·C when k == 0 or alpha == 0. It reports
// whether a product remains to be computed.
func prepare(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k // stored shape of A
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n // stored shape of B
	if transB {
		br, bc = n, k
	}
	checkMatrix("A", ar, ac, a, lda)
	checkMatrix("B", br, bc, b, ldb)
	checkMatrix("C", m, n, c, ldc)
	if m == 0 || n == 0 {
		return false
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return false
	}
	return true
}

// checkMatrix panics unless x can hold a rows×cols row-major matrix with
// leading dimension ld. The CBLAS path hands raw pointers to C, so this is
// what stands between a bad call and memory corruption.
func checkMatrix(which string, rows, cols int, x []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("blas: ld%s=%d < %d columns", which, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("blas: len(%s)=%d, need %d for %d×%d with ld=%d", which, len(x), need, rows, cols, ld))
	}
}

// scale sets C = beta·C, writing zeros outright when beta == 0 so that NaN
// or Inf already in C does not survive.
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
