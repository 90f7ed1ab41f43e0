package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/nn"
)

// tinyAE is a factor-4 auto-encoder small enough for tests.
func tinyAE(t testing.TB, seed uint64) *autoencoder.Model {
	t.Helper()
	cfg := autoencoder.Config{Channels: 4, ChMult: []int{1, 1, 1}, NumResBlocks: 1, LatentCh: 4,
		MLP: []int{8}, GlobalSkip: true, QueryBatch: 4096}
	m, err := autoencoder.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m.Params, seed+100, 0.05)
	return m
}

// tinyUNet is a two-level U-Net with attention at the lower level and in
// the middle, for latents of 4 channels.
func tinyUNet() UNetConfig {
	return UNetConfig{InCh: 8, OutCh: 4, ModelCh: 8, ChMult: []int{1, 2}, NumResBlocks: 1, AttnDown: []int{2}, Heads: 2, MidAttn: true}
}

// tinySR ties the two, with a non-trivial latent normalisation and a
// perturbed U-Net (a fresh one predicts exactly zero, which hides bugs).
func tinySR(t testing.TB, seed uint64) *SR {
	t.Helper()
	s, err := New(tinyAE(t, seed), tinyUNet(), DefaultSchedule(), 4, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetLatentStats([]float32{0.4, 0.45, 0.4, 0}, []float32{4, 4, 4.5, 20}); err != nil {
		t.Fatal(err)
	}
	perturb(s.UNet.Params, seed+200, 0.05)
	return s
}

// perturb adds Gaussian noise to every parameter, so zero-initialised
// layers take part.
func perturb(p *nn.Params, seed uint64, std float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, q := range p.List() {
		for i := range q.T.Data {
			q.T.Data[i] += float32(std * rng.NormFloat64())
		}
	}
}

// synthSet is a few smooth synthetic photos: gradients, stripes and
// discs, so crops have structure at several scales.
func synthSet(n, side int, seed uint64) *dataset.Set {
	rng := rand.New(rand.NewPCG(seed, 2))
	s := &dataset.Set{}
	for k := range n {
		p := dataset.Photo{Name: "synth", W: side, H: side, Pix: make([]uint8, side*side*3)}
		fx, fy := 0.05+0.3*rng.Float64(), 0.05+0.3*rng.Float64()
		cx, cy, r := rng.Float64()*float64(side), rng.Float64()*float64(side), 4+rng.Float64()*float64(side)/3
		var col [3]float64
		for c := range col {
			col[c] = rng.Float64()
		}
		for y := range side {
			for x := range side {
				for c := range 3 {
					v := 0.5 + 0.25*math.Sin(fx*float64(x)+float64(c+k))*math.Cos(fy*float64(y))
					if (float64(x)-cx)*(float64(x)-cx)+(float64(y)-cy)*(float64(y)-cy) < r*r {
						v = col[c]
					}
					p.Pix[(y*side+x)*3+c] = imageio.To8(float32(v))
				}
			}
		}
		s.Photos = append(s.Photos, p)
	}
	return s
}

// synthImage is a w×h test image.
func synthImage(w, h int, seed uint64) *imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 3))
	img := imageio.New(w, h)
	for i := range img.Pix {
		img.Pix[i] = float32(0.5 + 0.3*math.Sin(float64(i%97)*0.3) + 0.1*rng.Float64())
	}
	return img
}

// trainLosses runs tr to Opt.Steps and returns fixedLoss before and after.
func trainLosses(t *testing.T, tr *Trainer) (before, after float64) {
	t.Helper()
	before = fixedLoss(t, tr)
	tp := tensor.NewTape()
	for tr.Step < tr.Opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	return before, fixedLoss(t, tr)
}

// lossFalls trains tr to its end and fails the test unless the fixed
// held-out loss fell below frac of where it started.
func lossFalls(t *testing.T, name string, tr *Trainer, frac float64) {
	t.Helper()
	before, after := trainLosses(t, tr)
	t.Logf("%s loss %.4f → %.4f over %d steps", name, before, after, tr.Step)
	if !(after < frac*before) {
		t.Fatalf("%s loss %.4f → %.4f: want below %.2f of the start", name, before, after, frac)
	}
}

// trainOpts is DefaultTrainOptions for a tiny run.
func trainOpts(steps, crop int, lr float64, warmup int, seed uint64) TrainOptions {
	o := DefaultTrainOptions()
	o.Steps, o.Crop, o.LR, o.Warmup, o.Seed = steps, crop, lr, warmup, seed
	return o
}

// alignOpts is DefaultAlignOptions at crop.
func alignOpts(crop int) TrainOptions {
	o := DefaultAlignOptions()
	o.Crop = crop
	return o
}
