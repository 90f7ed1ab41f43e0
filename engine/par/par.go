// Package par runs loops over both cores (or however many GOMAXPROCS allows).
//
// Every kernel in the engine parallelises through For, so there is one place
// that decides how work is split and one knob (GOMAXPROCS) that bounds it.
package par

import (
	"runtime"
	"sync"
)

// Workers is the number of goroutines For uses at most.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For calls fn over disjoint sub-ranges [lo, hi) that cover [0, n).
// Ranges are at least grain long, so tiny loops stay on one goroutine
// where spawning would cost more than the work.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	w := Workers()
	if max := (n + grain - 1) / grain; w > max {
		w = max
	}
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}
