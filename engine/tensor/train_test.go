package tensor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// A small conv net learns a fixed 3×3 box blur of random images: the
// whole engine (convolutions, ReLU, MSE, backward, Adam, tape reuse) has to
// work for the loss to fall by an order of magnitude in 60 steps.
func TestTinyConvNetLearns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	param := func(scale float32, shape ...int) *tensor.Tensor {
		p := tensor.Param(shape...)
		for i := range p.Data {
			p.Data[i] = scale * float32(rng.NormFloat64())
		}
		return p
	}
	w1, b1 := param(0.2, 3, 3, 3, 8), tensor.Param(8)
	w2, b2 := param(0.2, 3, 3, 8, 3), tensor.Param(3)
	blur := tensor.New(3, 3, 3, 3)
	for k := 0; k < 9; k++ {
		for c := 0; c < 3; c++ {
			blur.Data[k*9+c*3+c] = 1.0 / 9
		}
	}
	adam := optim.NewAdam([]*tensor.Tensor{w1, b1, w2, b2}, optim.AdamConfig())
	tp := tensor.NewTape()
	var first, last float32
	for step := 0; step < 60; step++ {
		x := tensor.New(4, 12, 12, 3)
		for i := range x.Data {
			x.Data[i] = rng.Float32()
		}
		target := (*tensor.Tape)(nil).Conv2D(x, blur, nil, 1, 1)
		y := tp.Conv2D(tp.ReLU(tp.Conv2D(x, w1, b1, 1, 1)), w2, b2, 1, 1)
		loss := tp.MSELoss(y, target)
		tp.Backward(loss)
		if step == 0 {
			first = loss.Data[0]
		}
		last = loss.Data[0]
		tp.Reset()
		adam.Step(2e-2)
		adam.ZeroGrad()
	}
	if !(last < first/10) {
		t.Fatalf("loss fell from %g to %g only", first, last)
	}
	t.Logf("loss %g → %g", first, last)
}
