//go:build (linux || darwin) && !android && !faketime && (amd64 || arm64) && !nocblas

package blas

import (
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// BenchmarkSgemm1024CBLASOwnThreads lets OpenBLAS thread one 1024³ call
// itself, the alternative to Sgemm's one-thread-per-goroutine split, kept
// so the choice can be rechecked on new hardware or library versions.
func BenchmarkSgemm1024CBLASOwnThreads(b *testing.B) {
	cb, ok := searchDefault().(*cblasImpl)
	if !ok || cb.setThreads == nil {
		b.Skip("no OpenBLAS loadable")
	}
	cb.setThreads(int32(par.Workers()))
	defer cb.setThreads(1)
	benchGemm(b, 1024, 1024, 1024, func(m, n, k int, a, bb, c []float32) {
		call(cb, false, false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	})
}

// TestOpenCBLASErrors checks that libraries which are missing or lack
// cblas_sgemm are reported as errors, not panics, and that an explicit
// library name is honoured.
func TestOpenCBLASErrors(t *testing.T) {
	for _, lib := range []string{"/nonexistent/libopenblas.so.0", "libm.so.6", ""} {
		if l, err := openCBLAS(lib); err == nil {
			t.Errorf("openCBLAS(%q) = %s, want an error", lib, l.name())
		}
	}
	if searchDefault() == nil {
		t.Skip("no system CBLAS to load explicitly")
	}
	t.Setenv("ZOOMDIFF_BLAS", "libopenblas.so.0")
	if im, note := loadSystem(); im == nil {
		// Another default library may have been found; that is fine.
		t.Logf("ZOOMDIFF_BLAS=libopenblas.so.0 not loaded: %s", note)
	}
}
