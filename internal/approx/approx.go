// Package approx holds the float comparisons the tests of several packages
// share.
package approx

import (
	"math"
	"testing"
)

// Close fails t when got and want differ anywhere by more than tol (or
// got holds NaN), naming the first element off.
func Close(t testing.TB, name string, got, want []float32, tol float64) {
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

// Panics fails t unless f panics.
func Panics(t testing.TB, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}
