//go:build !unix

package bench

// cpuSeconds is not measured off Unix; the benchmarks then report 0.
func cpuSeconds() float64 { return 0 }
