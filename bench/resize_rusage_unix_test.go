//go:build unix

package bench

import "syscall"

// cpuSeconds is the user+system CPU time of the whole process so far. Wall
// time on a shared machine mostly measures the neighbours; CPU time is
// what the peer comparison can trust.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
