//go:build unix

package tensor_test

import "syscall"

// processCPU is the user+system CPU time of the whole process so far, in
// nanoseconds, and whether it could be read. On a shared machine wall time
// also measures the neighbours; CPU time per op does not.
func processCPU() (int64, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
