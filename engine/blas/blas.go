// Package blas is the engine's matrix multiply: one function, Sgemm, behind
// which sit a system CBLAS loaded at run time (OpenBLAS by default) and a
// pure-Go fallback.
//
// All matrices are row-major float32.
package blas

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, where op(X) is X or Xᵀ,
// op(A) is m×k, op(B) is k×n and C is m×n. It uses every core.
// (Implementation pending: the BLAS helper fills this in.)
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine only, for callers that
// already split their work across cores.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Name says which implementation Sgemm uses, e.g. "openblas (libopenblas.so.0)" or "pure-go avx2".
func Name() string { return "naive (placeholder)" }
