package tensor

import (
	"math/rand/v2"
	"testing"
)

// randTensor returns a tensor of uniform values in [lo, hi), seeded so tests are deterministic.
func randTensor(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// gradCheck runs GradCheck on every element of every input with one step
// eps and tolerance tol, failing the test on the first element off.
func gradCheck(t *testing.T, name string, inputs []*Tensor, eps, tol float64, f func(tp *Tape) *Tensor) {
	t.Helper()
	c := DefaultGradCheck()
	c.Eps, c.Tol = []float64{eps}, tol
	r, err := c.Run(inputs, f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s: %d elements, max error %.2e", name, r.Checked, r.MaxErr)
}

// wrongSquare is x² with its gradient scaled by factor: a backward pass
// with a known error, for checking the checker.
func wrongSquare(tp *Tape, x *Tensor, factor float32) *Tensor {
	out := tp.newOut(x.Shape, x)
	for i, v := range x.Data {
		out.Data[i] = v * v
	}
	tp.record(out, func() {
		gx := tp.grad(x)
		for i, g := range out.Grad {
			gx[i] += factor * 2 * x.Data[i] * g
		}
	})
	return out
}

// The default check passes an exact backward pass and fails one that is
// 1 % off, and bad settings are refused.
func TestGradCheckCatchesOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, -2, 2, 3, 4, 5)
	for _, c := range []struct {
		factor float32
		pass   bool
	}{{1, true}, {1.01, false}, {0.99, false}} {
		_, err := DefaultGradCheck().Run([]*Tensor{x}, func(tp *Tape) *Tensor { return wrongSquare(tp, x, c.factor) })
		if (err == nil) != c.pass {
			t.Errorf("gradient ×%v: error %v, want pass=%v", c.factor, err, c.pass)
		}
	}
	if _, err := (GradCheck{}).Run([]*Tensor{x}, func(tp *Tape) *Tensor { return tp.Scale(x, 2) }); err == nil {
		t.Error("a zero GradCheck ran")
	}
}
