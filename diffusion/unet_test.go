package diffusion

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestUNetShapesAndZeroStart(t *testing.T) {
	for _, cfg := range []UNetConfig{tinyUNet(), DefaultUNet(8),
		{InCh: 6, OutCh: 3, ModelCh: 4, ChMult: []int{1, 1, 2}, NumResBlocks: 2, AttnDown: []int{4}, Heads: 1}} {
		u, err := NewUNet(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		m := cfg.Multiple()
		x := randTensor(rand.New(rand.NewPCG(1, 1)), 2, 2*m, 3*m, cfg.InCh)
		ts := []float32{0, 999}
		if err := u.CheckInput(x, ts); err != nil {
			t.Fatal(err)
		}
		out := u.Forward(nil, x, ts)
		if want := []int{2, 2 * m, 3 * m, cfg.OutCh}; !tensor.SameShape(out.Shape, want) {
			t.Fatalf("%+v: output %v, want %v", cfg, out.Shape, want)
		}
		// The output convolution starts at zero: a fresh denoiser predicts ε̂ = 0.
		for _, v := range out.Data {
			if v != 0 {
				t.Fatalf("%+v: fresh U-Net output %g, want 0", cfg, v)
			}
		}
	}
}

func TestUNetConfigAndInputErrors(t *testing.T) {
	bad := []UNetConfig{
		{InCh: 0, OutCh: 4, ModelCh: 8, ChMult: []int{1}, NumResBlocks: 1, Heads: 1},
		{InCh: 8, OutCh: 4, ModelCh: 7, ChMult: []int{1}, NumResBlocks: 1, Heads: 1},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: nil, NumResBlocks: 1, Heads: 1},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1, 0}, NumResBlocks: 1, Heads: 1},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1}, NumResBlocks: 0, Heads: 1},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1}, NumResBlocks: 1, Heads: 3},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1, 2}, NumResBlocks: 1, Heads: 1, AttnDown: []int{3}},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1, 2}, NumResBlocks: 1, Heads: 1, AttnDown: []int{4}},
		{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1, 100}, NumResBlocks: 1, Heads: 1},
	}
	for _, c := range bad {
		if _, err := NewUNet(c, 1); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	u, err := NewUNet(tinyUNet(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*tensor.Tensor{tensor.New(1, 4, 4, 3), tensor.New(1, 5, 4, 8), tensor.New(1, 4, 4), tensor.New(0, 4, 4, 8)} {
		if err := u.CheckInput(x, []float32{1}); err == nil {
			t.Errorf("input %v accepted", x.Shape)
		}
	}
	if err := u.CheckInput(tensor.New(2, 4, 4, 8), []float32{1}); err == nil || !strings.Contains(err.Error(), "timesteps") {
		t.Errorf("timestep count mismatch: %v", err)
	}
}

// Finite differences on parameters spread over the whole network (time
// MLP, down path, attention, middle, up path with skips, output) against
// the tape's gradients.
func TestUNetGradients(t *testing.T) {
	u, err := NewUNet(tinyUNet(), 3)
	if err != nil {
		t.Fatal(err)
	}
	perturb(u.Params, 4, 0.1)
	rng := rand.New(rand.NewPCG(5, 5))
	x := randTensor(rng, 2, 4, 4, 8)
	ts := []float32{3, 640}
	// Every fourth parameter tensor and the last: its first, middle and
	// last elements.
	var params []*tensor.Tensor
	list := u.Params.List()
	for pi, p := range list {
		if pi%4 == 0 || pi == len(list)-1 {
			params = append(params, p.T)
		}
	}
	// Through the whole network float32 rounding of the loss is ~1e-4 of
	// a gradient: errors count relative to at least 1, at 2 %.
	c := tensor.DefaultGradCheck()
	c.Tol, c.FloorAbs = 2e-2, 1
	c.Pick = func(_, n int) []int { return []int{0, n / 2, n - 1} }
	r, err := c.Run(params, func(tp *tensor.Tape) *tensor.Tensor { return u.Forward(tp, x, ts) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked %d gradients over %d parameter tensors, max error %.2e", r.Checked, len(params), r.MaxErr)
}
