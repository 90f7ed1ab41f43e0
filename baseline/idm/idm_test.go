package idm

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/baseline/internal/synth"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
)

func tinyConfig(pred string) Config {
	c := Config{EncFeats: 4, EncBlocks: 1, CondCh: 3, MLP: []int{8},
		UNet:     diffusion.UNetConfig{ModelCh: 8, ChMult: []int{1, 2}, NumResBlocks: 1, Heads: 1},
		Schedule: diffusion.DefaultSchedule(), Prediction: pred, QueryBatch: 11}
	c.UNet.InCh, c.UNet.OutCh = c.UNetIn(), 3
	return c
}

func tinyOptions(steps int) TrainOptions {
	opt := DefaultTrainOptions()
	opt.Steps, opt.Batch, opt.LR, opt.Warmup, opt.Crop = steps, 4, 3e-3, 2, 8
	return opt
}

// heldOutLoss is the denoising loss on fixed draws, the same before and
// after training, so that only the weights move it.
func heldOutLoss(t *testing.T, m *Model, data *dataset.Set, opt TrainOptions) float64 {
	t.Helper()
	var sum float64
	for i := range 8 {
		l, err := m.loss(nil, rand.New(rand.NewPCG(1234, uint64(i))), data, opt)
		if err != nil {
			t.Fatal(err)
		}
		sum += float64(l.Data[0])
	}
	return sum / 8
}

// trained returns a tiny model trained for a few steps, so that its
// U-Net's output is no longer the zero it starts at.
func trained(t *testing.T, pred string, steps int) (*Model, *dataset.Set, TrainOptions) {
	t.Helper()
	m, err := New(tinyConfig(pred), 1)
	if err != nil {
		t.Fatal(err)
	}
	data, opt := synth.Set(3, 24, 20, 2), tinyOptions(steps)
	tr, err := NewTrainer(m, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	tp := tensor.NewTape()
	for range steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	return m, data, opt
}

// A tiny IDM trains 20 steps end to end and its held-out denoising loss
// falls; v-prediction trains too.
func TestTrainLossFalls(t *testing.T) {
	fresh, err := New(tinyConfig(diffusion.PredictEps), 1)
	if err != nil {
		t.Fatal(err)
	}
	m, data, opt := trained(t, diffusion.PredictEps, 20)
	before, after := heldOutLoss(t, fresh, data, opt), heldOutLoss(t, m, data, opt)
	t.Logf("held-out ε-loss %.4f before, %.4f after", before, after)
	if !(after < 0.9*before) {
		t.Errorf("held-out ε-loss went from %.4f to %.4f", before, after)
	}
	// End to end: the encoder and the up-sampler learn through the
	// condition, not the U-Net alone.
	for i, p := range m.Params.List() {
		if slices.Equal(p.T.Data, fresh.Params.List()[i].T.Data) {
			t.Errorf("parameter %s did not change in training", p.Name)
		}
	}
	v, data, opt := trained(t, diffusion.PredictV, 3)
	if l := heldOutLoss(t, v, data, opt); math.IsNaN(l) || l <= 0 {
		t.Errorf("v-prediction loss %g", l)
	}
	bad := tinyOptions(5)
	bad.Crop = 7
	if _, err := NewTrainer(m, data, bad); err == nil || !strings.Contains(err.Error(), "multiple") {
		t.Errorf("crop 7 for a U-Net of multiple 2: %v", err)
	}
}

func TestSampling(t *testing.T) {
	m, _, _ := trained(t, diffusion.PredictEps, 3)
	lr := synth.Image(5, 4, 9)
	up := func(opt diffusion.SampleOptions) []*imageio.Image {
		t.Helper()
		outs, err := m.Upscale(context.Background(), lr, 13, 9, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.W != 13 || o.H != 9 || len(o.Pix) != 13*9*3 {
				t.Fatalf("output %dx%d with %d values, want 13x9", o.W, o.H, len(o.Pix))
			}
			for _, v := range o.Pix {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("value %g outside [0, 1]", v)
				}
			}
		}
		return outs
	}
	base := withOpts(func(o *diffusion.SampleOptions) { o.Steps, o.Eta, o.Seed = 3, 1, 1 })
	a, b := up(base), up(base)
	if !slices.Equal(a[0].Pix, b[0].Pix) {
		t.Error("the same seed gave different samples")
	}
	other := base
	other.Seed = 2
	if slices.Equal(a[0].Pix, up(other)[0].Pix) {
		t.Error("different seeds gave the same sample")
	}
	two := base
	two.Samples = 2
	// Sample k's noise depends on (seed, k) only; a batch of two may
	// round differently from a batch of one, no more.
	pair := up(two)
	for i, v := range pair[0].Pix {
		if math.Abs(float64(v-a[0].Pix[i])) > 1e-4 {
			t.Fatalf("value %d of sample 1 of 2 is %g, alone %g", i, v, a[0].Pix[i])
		}
	}
	if slices.Equal(pair[0].Pix, pair[1].Pix) {
		t.Error("the two samples are equal")
	}
	// Windows smaller than the output, and the DDPM sampler.
	tiled := base
	tiled.Tile, tiled.Overlap, tiled.Sampler = 4, 2, diffusion.SamplerDDPM
	up(tiled)

	for _, c := range []struct {
		opt  diffusion.SampleOptions
		want string
	}{
		{withOpts(func(o *diffusion.SampleOptions) { o.Strength = 0.5 }), "strength"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Consistency = 2 }), "consistency"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Detail = 6 }), "detail"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Steps = 5000 }), "steps"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Sampler = "euler" }), "sampler"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Eta = math.NaN() }), "eta"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Tile, o.Overlap = 8, 8 }), "overlap"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Tile = -4 }), "tile"},
		{withOpts(func(o *diffusion.SampleOptions) { o.Samples = 65 }), "samples"},
	} {
		if _, err := m.Upscale(context.Background(), lr, 8, 8, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("options %+v: error %v, want one mentioning %q", c.opt, err, c.want)
		}
	}
	if _, err := m.Upscale(context.Background(), lr, 0, 8, base); err == nil {
		t.Error("an empty output was accepted")
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	m, _, _ := trained(t, diffusion.PredictV, 3)
	lr := synth.Image(4, 4, 3)
	opt := withOpts(func(o *diffusion.SampleOptions) { o.Steps, o.Seed = 2, 3 })
	want, err := m.Upscale(context.Background(), lr, 9, 7, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "idm.safetensors")
	for _, half := range []bool{false, true} {
		if err := m.Save(path, half, nil); err != nil {
			t.Fatal(err)
		}
		back, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Config.Prediction != diffusion.PredictV {
			t.Errorf("prediction %q after loading", back.Config.Prediction)
		}
		got, err := back.Upscale(context.Background(), lr, 9, 7, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !half && !slices.Equal(got[0].Pix, want[0].Pix) {
			t.Error("a float32 round trip changed the output")
		}
	}
	good, _ := os.ReadFile(path)
	truncated := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncated, good[:len(good)-100], 0o644)
	l, err := liif.New(liif.Config{Feats: 2, Blocks: 0, MLP: []int{2}, QueryBatch: 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "liif.safetensors")
	if err := l.Save(other, false, nil); err != nil {
		t.Fatal(err)
	}
	wider := tinyConfig(diffusion.PredictV)
	wider.CondCh = 4
	wider.UNet.InCh = wider.UNetIn()
	mismatched := filepath.Join(dir, "mismatched.safetensors")
	if err := checkpoint.Save(mismatched, Kind, wider, m.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	broken := tinyConfig(diffusion.PredictV)
	broken.UNet.InCh = 5
	invalid := filepath.Join(dir, "invalid.safetensors")
	if err := checkpoint.Save(invalid, Kind, broken, m.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{truncated, "truncated.safetensors"},
		{other, `expected "idm"`},
		{mismatched, "mismatch"},
		{invalid, "in/out channels"},
		{"", "random:idm"},
	} {
		if _, err := Open(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q): error %v, want one mentioning %q", filepath.Base(c.path), err, c.want)
		}
	}
}

// NewMethod opens the method, which samples (render.Sampler) and takes our
// sampler's parameters; "random:idm" is the default architecture.
func TestRegistered(t *testing.T) {
	up, err := NewMethod(baseline.RandomPrefix+Kind, map[string]string{"steps": "1", "seed": "4"})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := up.(render.Sampler)
	if !ok || up.Name() != "idm" {
		t.Fatalf("%T is not a sampler named idm", up)
	}
	if cfg := s.(*Upscaler).Model.Config; cfg.UNet.ModelCh != 64 || cfg.UNet.InCh != 22 {
		t.Errorf("random:idm config %+v", cfg)
	}
	outs, err := s.UpscaleSamples(context.Background(), synth.Image(4, 3, 2), 8, 6, 2)
	if err != nil || len(outs) != 2 || outs[0].W != 8 || outs[0].H != 6 {
		t.Fatalf("samples: %v", err)
	}
	for _, p := range []map[string]string{{"strength": "0.5"}, {"color": "red"}, {"steps": "0x"}} {
		if _, err := NewMethod("random:idm", p); err == nil {
			t.Errorf("params %v accepted", p)
		}
	}
}

// TestClipDenoised: after clipping, the clean image each ε̂ implies lies in
// [−1, 1]; where it already did, ε̂ is untouched.
func TestClipDenoised(t *testing.T) {
	sc, err := diffusion.NewSchedule(diffusion.DefaultSchedule())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, step := range []int{999, 500, 10} {
		sa, sb := sc.Coefs(step)
		x, eps := make([]float32, 400), make([]float32, 400)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			eps[i] = float32(rng.NormFloat64())
		}
		orig := slices.Clone(eps)
		clipDenoised(x, eps, sc, step)
		inside, clipped := 0, 0
		for i := range x {
			before := (float64(x[i]) - sb*float64(orig[i])) / sa
			after := (float64(x[i]) - sb*float64(eps[i])) / sa
			if math.Abs(before) <= 1 {
				inside++
				if eps[i] != orig[i] {
					t.Fatalf("t=%d: ε̂ changed where x̂0 = %g was inside the range", step, before)
				}
				continue
			}
			clipped++
			if math.Abs(math.Abs(after)-1) > 1e-3 || math.Signbit(after) != math.Signbit(before) {
				t.Fatalf("t=%d: x̂0 %g clipped to %g, want ±1 of the same sign", step, before, after)
			}
		}
		if clipped == 0 {
			t.Errorf("t=%d: nothing needed clipping (%d inside); the test draws no out-of-range x̂0", step, inside)
		}
	}
}

// withOpts is DefaultSampleOptions changed by set, so a test names only
// what it changes.
func withOpts(set func(o *diffusion.SampleOptions)) diffusion.SampleOptions {
	o := DefaultSampleOptions()
	set(&o)
	return o
}
