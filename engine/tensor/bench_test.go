package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// benchRand fills a new tensor with uniform values in [-scale, scale).
func benchRand(rng *rand.Rand, scale float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = scale * (2*rng.Float32() - 1)
	}
	return t
}

// measure runs step under b.Loop and reports, besides ns/op, the process
// CPU time per op ("cpu-ns/op", where the platform has it) and, when flops
// is not zero, the throughput.
func measure(b *testing.B, flops float64, step func()) {
	c0, ok := processCPU()
	for b.Loop() {
		step()
	}
	if c1, ok1 := processCPU(); ok && ok1 {
		b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
	}
	if flops > 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	}
}

// convFlops is the multiply-add count ×2 of a 3×3 64→64 conv over 128×128.
const convFlops = 2 * 128 * 128 * 64 * 64 * 9

// BenchmarkConv3x3C64S128 is one 3×3, 64→64 channel convolution of a
// 128×128 image with pad 1, in inference mode. Its GFLOPS count the direct
// form's multiply-adds: on CPUs with AVX2 the Winograd path does 2.25 times
// fewer.
func BenchmarkConv3x3C64S128(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := benchRand(rng, 1, 1, 128, 128, 64)
	w := benchRand(rng, 0.05, 3, 3, 64, 64)
	bias := benchRand(rng, 0.1, 64)
	var tp *tensor.Tape
	tp.Conv2D(x, w, bias, 1, 1)
	measure(b, convFlops, func() { tp.Conv2D(x, w, bias, 1, 1) })
}

// BenchmarkConv3x3C64S128Backward is the same convolution forward and
// backward (input, weight and bias gradients), the tape reused across
// iterations as a training loop would.
func BenchmarkConv3x3C64S128Backward(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := benchRand(rng, 1, 1, 128, 128, 64)
	w := benchRand(rng, 0.05, 3, 3, 64, 64)
	bias := benchRand(rng, 0.1, 64)
	for _, t := range []*tensor.Tensor{x, w, bias} {
		t.SetRequiresGrad(true)
	}
	dy := benchRand(rng, 1, 1, 128, 128, 64).Data
	tp := tensor.NewTape()
	step := func() {
		y := tp.Conv2D(x, w, bias, 1, 1)
		tp.BackwardWith(y, dy)
		tp.Reset()
	}
	step()
	b.ReportAllocs()
	measure(b, 3*convFlops, step)
}

// BenchmarkTrainStepToy is one steady-state training step of a small conv
// net (3→32→32→3 channels, 3×3 kernels, ReLU between) on a batch of 16
// 64×64 RGB images: forward, MSE loss against a fixed target, backward and
// an Adam update, with the tape reused as a training loop would.
func BenchmarkTrainStepToy(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	chans := []int{3, 32, 32, 3}
	var params []*tensor.Tensor
	type layer struct{ w, b *tensor.Tensor }
	var layers []layer
	for i := 0; i+1 < len(chans); i++ {
		// Kaiming-uniform scale, as PyTorch initialises conv weights.
		w := benchRand(rng, float32(1/math.Sqrt(float64(9*chans[i]))), 3, 3, chans[i], chans[i+1])
		bias := benchRand(rng, 0.01, chans[i+1])
		w.SetRequiresGrad(true)
		bias.SetRequiresGrad(true)
		layers = append(layers, layer{w, bias})
		params = append(params, w, bias)
	}
	x := benchRand(rng, 1, 16, 64, 64, 3)
	target := benchRand(rng, 1, 16, 64, 64, 3)
	opt := optim.NewAdam(params, optim.AdamConfig())
	tp := tensor.NewTape()
	step := func() {
		opt.ZeroGrad()
		h := x
		for i, l := range layers {
			h = tp.Conv2D(h, l.w, l.b, 1, 1)
			if i+1 < len(layers) {
				h = tp.ReLU(h)
			}
		}
		tp.Backward(tp.MSELoss(h, target))
		opt.Step(1e-3)
		tp.Reset()
	}
	step()
	b.ReportAllocs()
	measure(b, 0, step)
}
