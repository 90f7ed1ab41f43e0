package tensor

import (
	"math"
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

// gradCheck compares the tape's gradients of loss = Σ out·R (R a fixed
// random projection) with central finite differences, for every element of
// every input. f must build the output from the inputs on the given tape.
func gradCheck(t *testing.T, name string, inputs []*Tensor, eps, tol float64, f func(tp *Tape) *Tensor) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	for _, in := range inputs {
		in.SetRequiresGrad(true)
		in.ZeroGrad()
	}
	tp := NewTape()
	out := f(tp)
	proj := make([]float32, out.Len())
	for i := range proj {
		proj[i] = rng.Float32()*2 - 1
	}
	tp.BackwardWith(out, proj)
	loss := func() float64 {
		o := f(nil)
		var s float64
		for i, v := range o.Data {
			s += float64(v) * float64(proj[i])
		}
		return s
	}
	for k, in := range inputs {
		analytic := append([]float32(nil), in.Grad...)
		maxErr := 0.0
		for i := range in.Data {
			orig := in.Data[i]
			in.Data[i] = orig + float32(eps)
			lp := loss()
			in.Data[i] = orig - float32(eps)
			lm := loss()
			in.Data[i] = orig
			num := (lp - lm) / (2 * eps)
			a := float64(analytic[i])
			err := math.Abs(a-num) / math.Max(1, math.Max(math.Abs(a), math.Abs(num)))
			maxErr = math.Max(maxErr, err)
			if err > tol || math.IsNaN(a) {
				t.Fatalf("%s: input %d element %d: analytic %.6g, numeric %.6g (rel err %.3g > %.3g)", name, k, i, a, num, err, tol)
			}
		}
		t.Logf("%s: input %d: %d elements, max rel err %.2e", name, k, in.Len(), maxErr)
	}
}
