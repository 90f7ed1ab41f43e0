package tensor

import (
	"math"
	"runtime"
	"testing"
)

// wantClose fails when got and want differ anywhere by more than tol.
func wantClose(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d is %v, want %v\n got %v\nwant %v", name, i, got[i], want[i], got, want)
		}
	}
}

// wantShape fails when x does not have the given shape.
func wantShape(t *testing.T, name string, x *Tensor, shape ...int) {
	t.Helper()
	if !SameShape(x.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", name, x.Shape, shape)
	}
}

// wantPanic fails unless f panics: shape errors are programming errors and
// must not pass silently.
func wantPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
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
