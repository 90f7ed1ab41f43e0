package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestElementwiseGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, -2, 2, 2, 3, 4)
	y := randTensor(rng, -2, 2, 2, 3, 4)
	gradCheck(t, "Add", []*Tensor{x, y}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Add(x, y) })
	gradCheck(t, "Mul", []*Tensor{x, y}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Mul(x, y) })
	gradCheck(t, "Sub", []*Tensor{x, y}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Sub(x, y) })
	gradCheck(t, "AffineScalar", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.AffineScalar(x, -1.5, 0.25) })
	gradCheck(t, "ReLU", []*Tensor{x}, 1e-3, 2e-3, func(tp *Tape) *Tensor { return tp.ReLU(x) })
	gradCheck(t, "SiLU", []*Tensor{x}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.SiLU(x) })
	gradCheck(t, "GELU", []*Tensor{x}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.GELU(x) })

	// Broadcasting in the ways the networks use it: a bias over the last
	// axis, a per-image embedding over space, a per-row weight.
	bias := randTensor(rng, -1, 1, 4)
	emb := randTensor(rng, -1, 1, 2, 1, 4)
	w := randTensor(rng, -1, 1, 2, 3, 1)
	gradCheck(t, "Add/bias", []*Tensor{x, bias}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Add(x, bias) })
	gradCheck(t, "Add/emb", []*Tensor{x, emb}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Add(x, emb) })
	gradCheck(t, "Mul/rows", []*Tensor{x, w}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Mul(x, w) })
}

func TestBroadcastValues(t *testing.T) {
	a := FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := FromData([]float32{10, 20}, 2, 1)
	got := (*Tape)(nil).Add(a, b)
	want := []float32{11, 12, 13, 24, 25, 26}
	if !SameShape(got.Shape, []int{2, 3}) {
		t.Fatalf("shape %v", got.Shape)
	}
	for i := range want {
		if got.Data[i] != want[i] {
			t.Fatalf("Add broadcast: got %v want %v", got.Data, want)
		}
	}
	if _, err := newBroadcast([]int{2, 3}, []int{2}); err == nil {
		t.Fatal("shapes [2 3] and [2] must not broadcast")
	}
}

// TestAddPerImageRow: a [N,H,W,C] map plus one [N,1,1,C] row per image (the
// U-Net's embedding add, which takes its own parallel path) against the sum
// written out, over enough pixels that the rows split between cores, and its
// gradients.
func TestAddPerImageRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randTensor(rng, -2, 2, 2, 64, 70, 8)
	e := randTensor(rng, -2, 2, 2, 1, 1, 8)
	got := (*Tape)(nil).Add(x, e)
	for i, v := range got.Data {
		img, ch := i/(64*70*8), i%8
		if want := x.Data[i] + e.Data[img*8+ch]; v != want {
			t.Fatalf("element %d: %g, want %g", i, v, want)
		}
	}
	xs, es := randTensor(rng, -2, 2, 2, 3, 4, 5), randTensor(rng, -2, 2, 2, 1, 1, 5)
	gradCheck(t, "Add/per-image row", []*Tensor{xs, es}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Add(xs, es) })
}

// TestReLUEdgeValues pins the bit-twiddled ReLU to its definition on the
// values where a comparison could differ: signed zeros, infinities, NaN and
// the smallest subnormals.
func TestReLUEdgeValues(t *testing.T) {
	nan := float32(math.NaN())
	negNaN := math.Float32frombits(math.Float32bits(nan) | 1<<31)
	inf := float32(math.Inf(1))
	tiny := math.Float32frombits(1)
	negZero := float32(math.Copysign(0, -1))
	in := []float32{0, negZero, 1, -1, inf, -inf, tiny, -tiny, math.MaxFloat32, -math.MaxFloat32, nan, negNaN}
	x := FromData(append([]float32(nil), in...), len(in))
	x.SetRequiresGrad(true)
	tp := NewTape()
	y := tp.ReLU(x)
	g := make([]float32, len(in))
	for i := range g {
		g[i] = float32(i + 1)
	}
	tp.BackwardWith(y, g)
	for i, v := range in {
		want, wantGrad := float32(0), float32(0)
		switch {
		case v != v:
			want = v
		case v > 0:
			want, wantGrad = v, g[i]
		}
		got := y.Data[i]
		if (want != want) != (got != got) || (want == want && (got != want || math.Signbit(float64(got)))) {
			t.Errorf("ReLU(%g) = %g, want %g", v, got, want)
		}
		if x.Grad[i] != wantGrad {
			t.Errorf("ReLU'(%g)·%g = %g, want %g", v, g[i], x.Grad[i], wantGrad)
		}
	}
}
