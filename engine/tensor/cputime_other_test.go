//go:build !unix

package tensor_test

// processCPU is not available here; the benchmarks then report wall time
// only.
func processCPU() (int64, bool) { return 0, false }
