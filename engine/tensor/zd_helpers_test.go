package tensor

import (
	"math"
	"runtime"
	"testing"

	"github.com/zoomdiff/zoomdiff/internal/approx"
)

// wantClose is approx.Close.
func wantClose(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	approx.Close(t, name, got, want, tol)
}

// wantShape fails when x does not have the given shape.
func wantShape(t *testing.T, name string, x *Tensor, shape ...int) {
	t.Helper()
	if !SameShape(x.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, x.Shape, shape)
	}
}

// wantPanic is approx.Panics: shape errors are programming errors and
// must not pass silently.
func wantPanic(t *testing.T, name string, f func()) {
	t.Helper()
	approx.Panics(t, name, f)
}

// withProcs runs f with GOMAXPROCS set to n, so a test can compare the
// serial and parallel paths of a kernel on any machine.
func withProcs(n int, f func()) {
	old := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(old)
	f()
}

// tapeGrads runs f on a fresh tape, back-propagates seed (or ones) from its
// output and returns a copy of each input's gradient.
func tapeGrads(inputs []*Tensor, seed []float32, f func(tp *Tape) *Tensor) [][]float32 {
	for _, in := range inputs {
		in.SetRequiresGrad(true)
		in.ZeroGrad()
	}
	tp := NewTape()
	out := f(tp)
	if seed == nil {
		seed = make([]float32, out.Len())
		for i := range seed {
			seed[i] = 1
		}
	}
	tp.BackwardWith(out, seed)
	grads := make([][]float32, len(inputs))
	for i, in := range inputs {
		grads[i] = append([]float32(nil), in.Grad...)
	}
	return grads
}

// bitEqual reports whether a and b hold identical float32 bits.
func bitEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
