package tensor

import "testing"

// A loop whose shapes change every step must not keep one set of buffers
// per shape it ever saw: after Reset the pool holds only the last step's.
func TestTapePoolIsBoundedByOneStep(t *testing.T) {
	tp := NewTape()
	w := Param(8, 1)
	for step := 1; step <= 50; step++ {
		y := tp.Linear(New(step, 8), w, nil)
		tp.Backward(tp.Sum(y))
		tp.Reset()
		pooled := 0
		for _, list := range tp.free {
			for _, b := range list {
				pooled += len(b)
			}
		}
		if pooled > 4*step+8 {
			t.Fatalf("step %d: pool holds %d floats, more than one step needs", step, pooled)
		}
	}
}
