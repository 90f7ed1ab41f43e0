package tensor

import (
	"math/rand/v2"
	"testing"
)

func TestReduceValues(t *testing.T) {
	var tp *Tape
	x := FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	wantShape(t, "Sum", tp.Sum(x), 1)
	wantClose(t, "Sum", tp.Sum(x).Data, []float32{21}, 0)
	wantClose(t, "Mean", tp.Mean(x).Data, []float32{3.5}, 0)

	// A float32 running sum would stay at 2^24: each +1 rounds away.
	big := New(1001)
	big.Data[0] = 1 << 24
	for i := 1; i < big.Len(); i++ {
		big.Data[i] = 1
	}
	wantClose(t, "Sum/float64", tp.Sum(big).Data, []float32{1<<24 + 1000}, 0)

	p := FromData([]float32{1, 2, 3, 4}, 4)
	q := FromData([]float32{2, 2, 1, 5}, 4)
	// |d| = 1, 0, 2, 1; d² = 1, 0, 4, 1.
	wantClose(t, "L1Loss", tp.L1Loss(p, q).Data, []float32{1}, 0)
	wantClose(t, "MSELoss", tp.MSELoss(p, q).Data, []float32{1.5}, 0)
	wantPanic(t, "L1Loss/shape", func() { tp.L1Loss(p, x) })
	wantPanic(t, "Mean/empty", func() { tp.Mean(New(0)) })
}

func TestReduceGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := randTensor(rng, -2, 2, 3, 5, 2)
	gradCheck(t, "Sum", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Sum(x) })
	gradCheck(t, "Mean", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Mean(x) })

	// Keep |pred − target| well away from 0, where L1 has a kink.
	pred := randTensor(rng, -2, 2, 3, 5, 2)
	target := pred.Clone()
	for i := range target.Data {
		if rng.IntN(2) == 0 {
			target.Data[i] += 0.1 + rng.Float32()
		} else {
			target.Data[i] -= 0.1 + rng.Float32()
		}
	}
	gradCheck(t, "L1Loss", []*Tensor{pred, target}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.L1Loss(pred, target) })
	gradCheck(t, "MSELoss", []*Tensor{pred, target}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.MSELoss(pred, target) })

	// A constant target gets no gradient and leaves the prediction's alone.
	konst := target.Clone()
	g := tapeGrads([]*Tensor{pred}, nil, func(tp *Tape) *Tensor { return tp.L1Loss(pred, konst) })[0]
	want := tapeGrads([]*Tensor{pred, target}, nil, func(tp *Tape) *Tensor { return tp.L1Loss(pred, target) })[0]
	wantClose(t, "L1Loss/constant target", g, want, 0)
	if konst.Grad != nil {
		t.Fatal("L1Loss gave a constant target a gradient")
	}

	// The subgradient of |d| at d = 0 is 0.
	same := FromData([]float32{1, -1, 3}, 3)
	same2 := same.Clone()
	g = tapeGrads([]*Tensor{same}, nil, func(tp *Tape) *Tensor { return tp.L1Loss(same, same2) })[0]
	wantClose(t, "L1Loss/zero", g, []float32{0, 0, 0}, 0)
	// And the step is 1/n times sign(d) for L1, 2d/n for MSE.
	v := FromData([]float32{1, 2, 3, 4}, 4)
	u := FromData([]float32{2, 2, 1, 5}, 4)
	g = tapeGrads([]*Tensor{v}, nil, func(tp *Tape) *Tensor { return tp.L1Loss(v, u) })[0]
	wantClose(t, "L1Loss/sign", g, []float32{-0.25, 0, 0.25, -0.25}, 0)
	g = tapeGrads([]*Tensor{v}, nil, func(tp *Tape) *Tensor { return tp.MSELoss(v, u) })[0]
	wantClose(t, "MSELoss/slope", g, []float32{-0.5, 0, 1, -0.5}, 0)
}

// Block-wise partial sums make the reductions independent of GOMAXPROCS.
func TestReduceParallelDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	a := randTensor(rng, -1, 1, 300001)
	b := randTensor(rng, -1, 1, 300001)
	var r1, r2 []float32
	for i, procs := range []int{1, 3} {
		withProcs(procs, func() {
			var tp *Tape
			r := []float32{tp.Sum(a).Data[0], tp.Mean(a).Data[0], tp.L1Loss(a, b).Data[0], tp.MSELoss(a, b).Data[0]}
			if i == 0 {
				r1 = r
			} else {
				r2 = r
			}
		})
	}
	if !bitEqual(r1, r2) {
		t.Fatalf("reductions differ with the number of goroutines: %v vs %v", r1, r2)
	}
}
