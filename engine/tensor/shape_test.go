package tensor

import (
	"math/rand/v2"
	"testing"
)

func TestReshape(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	x := randTensor(rng, -1, 1, 2, 3, 4)
	y := (*Tape)(nil).Reshape(x, 6, -1)
	wantShape(t, "Reshape", y, 6, 4)
	if &y.Data[0] != &x.Data[0] {
		t.Fatal("Reshape copied the values; it should share them")
	}
	gradCheck(t, "Reshape", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Reshape(x, 4, 3, 2) })
	// Both the reshaped view and the original feeding the loss: the two
	// gradient paths must add, not overwrite.
	gradCheck(t, "Reshape/twice", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor {
		return tp.Mul(tp.Reshape(x, 24), tp.Reshape(x, -1))
	})
	wantPanic(t, "Reshape/size", func() { (*Tape)(nil).Reshape(x, 5, 5) })
	wantPanic(t, "Reshape/two -1", func() { (*Tape)(nil).Reshape(x, -1, -1) })
	wantPanic(t, "Reshape/infer", func() { (*Tape)(nil).Reshape(x, 5, -1) })
}

func TestConcatSlice(t *testing.T) {
	a := FromData([]float32{1, 2, 3, 4}, 2, 2)
	b := FromData([]float32{5, 6}, 2, 1)
	c := FromData([]float32{}, 2, 0)
	got := (*Tape)(nil).Concat(a, c, b, a)
	wantShape(t, "Concat", got, 2, 5)
	wantClose(t, "Concat", got.Data, []float32{1, 2, 5, 1, 2, 3, 4, 6, 3, 4}, 0)
	s := (*Tape)(nil).Slice(got, 1, 4)
	wantShape(t, "Slice", s, 2, 3)
	wantClose(t, "Slice", s.Data, []float32{2, 5, 1, 4, 6, 3}, 0)
	wantPanic(t, "Concat/mismatch", func() { (*Tape)(nil).Concat(a, New(3, 1)) })
	wantPanic(t, "Slice/range", func() { (*Tape)(nil).Slice(a, 1, 3) })

	rng := rand.New(rand.NewPCG(3, 2))
	x := randTensor(rng, -1, 1, 2, 3, 1, 3)
	y := randTensor(rng, -1, 1, 2, 3, 1, 1)
	z := randTensor(rng, -1, 1, 2, 3, 1, 2)
	gradCheck(t, "Concat", []*Tensor{x, y, z}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Concat(x, y, z) })
	gradCheck(t, "Concat/repeat", []*Tensor{x, y}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Concat(y, x, y) })
	gradCheck(t, "Slice", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Slice(x, 1, 3) })
	gradCheck(t, "Slice/empty", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor {
		return tp.Concat(tp.Slice(x, 2, 2), tp.Slice(x, 0, 1), tp.Slice(x, 0, 3))
	})

	// A constant among tracked inputs gets no gradient buffer.
	k := FromData([]float32{1, 1, 1, 1, 1, 1}, 2, 3, 1, 1)
	tp := NewTape()
	out := tp.Concat(x, k)
	tp.BackwardWith(out, make([]float32, out.Len()))
	if k.Grad != nil {
		t.Fatal("Concat gave a constant a gradient")
	}
}
