package diffusion

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/dataset/datatest"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// tinyGenerator is an unconditional model on the tiny auto-encoder, with
// its latent statistics estimated from data.
func tinyGenerator(t *testing.T, seed uint64) *Generator {
	t.Helper()
	u := tinyUNet()
	u.InCh = 4
	g, err := NewGenerator(tinyAE(t, seed), u, DefaultSchedule(), 4, seed)
	if err != nil {
		t.Fatal(err)
	}
	perturb(g.Model.UNet.Params, seed+200, 0.05)
	shift, scale, err := EstimateLatentStats(g.Model.AE, synthSet(6, 16, 1), 32, 16, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Model.SetLatentStats(shift, scale); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGeneratorTrainsAndSamples(t *testing.T) {
	g := tinyGenerator(t, 7)
	data := synthSet(6, 16, 1)
	data.Upright = true
	tr, err := NewTrainer(g.Model, data, trainOpts(60, 16, 2e-3, 5, 3))
	if err != nil {
		t.Fatal(err)
	}
	lossFalls(t, "generator", tr, 1)
	if st := tr.State(); st.Kind != GenTrainKind {
		t.Fatalf("training state kind %q", st.Kind)
	}

	ctx := context.Background()
	opt := withOpts(func(o *SampleOptions) { o.Steps, o.Seed = 5, 11 })
	a, err := g.Generate(ctx, 3, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 || a[0].InW != 16 || a[0].InH != 16 || !a[0].Z.AllFinite() {
		t.Fatalf("%d latents, first %dx%d", len(a), a[0].InW, a[0].InH)
	}
	b, err := g.Generate(ctx, 2, opt) // fewer samples: the first ones are the same, up to the batch's float rounding
	if err != nil {
		t.Fatal(err)
	}
	for k := range b {
		for i, v := range b[k].Z.Data {
			if math.Abs(float64(v-a[k].Z.Data[i])) > 1e-4 {
				t.Fatalf("sample %d differs when fewer are drawn", k)
			}
		}
	}
	if c, _ := g.Generate(ctx, 3, opt); !same(c[2].Z.Data, a[2].Z.Data) {
		t.Fatal("the same seed and count sampled a different latent")
	}
	opt.Seed = 12
	c, err := g.Generate(ctx, 1, opt)
	if err != nil {
		t.Fatal(err)
	}
	if same(c[0].Z.Data, a[0].Z.Data) || same(a[0].Z.Data, a[1].Z.Data) {
		t.Fatal("different seeds or samples gave the same latent")
	}
	d, err := g.Model.Decoder(a[0])
	if err != nil {
		t.Fatal(err)
	}
	if px := d.Render(40, 24); len(px) != 40*24*3 {
		t.Fatalf("rendered %d values", len(px))
	}

	// The file round-trips as a generator and is refused as an SR model,
	// and each kind refuses the other's job.
	path, back := saveAndLoad(t, g)
	again, _ := back.Generate(ctx, 1, withOpts(func(o *SampleOptions) { o.Steps, o.Seed = 5, 11 }))
	if !same(again[0].Z.Data, a[0].Z.Data) {
		t.Fatal("the reloaded generator samples differently")
	}
	if _, err := LoadSR(path); err == nil {
		t.Fatal("a generator file loaded as an SR model")
	}
	lr := imageio.New(8, 8)
	if _, err := g.Model.Latents(ctx, lr, withOpts(func(o *SampleOptions) { o.Steps = 2 })); err == nil || !strings.Contains(err.Error(), "generator") {
		t.Fatalf("upscaling with a generator: %v", err)
	}
	if _, err := g.Generate(ctx, 0, opt); err == nil {
		t.Fatal("generated 0 images")
	}
	if _, err := NewTrainer(g.Model, data, alignOpts(16)); err == nil {
		t.Fatal("alignment accepted a generator")
	}
}

// saveAndLoad writes g to a model file and reads it back as a generator.
func saveAndLoad(t *testing.T, g *Generator) (string, *Generator) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.safetensors")
	if err := g.Model.Save(path, false, nil); err != nil {
		t.Fatal(err)
	}
	back, err := LoadGenerator(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, back
}

func same(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The end-to-end check on real data: a tiny generator trained a
// few steps on MNIST digits (the shared data's, skipped without it)
// lowers its loss on fixed batches.
func TestGeneratorLearnsMNIST(t *testing.T) {
	digits, err := dataset.LoadTar(datatest.Path(t, "gen", "mnist-10k.tar.gz"), dataset.TarOptions{Limit: 64})
	if err != nil {
		t.Fatal(err)
	}
	data := &digits.Set
	data.Upright = true
	g := tinyGenerator(t, 9)
	tr, err := NewTrainer(g.Model, data, trainOpts(40, 16, 2e-3, 5, 4))
	if err != nil {
		t.Fatal(err)
	}
	lossFalls(t, "MNIST generator", tr, 1)
}

// twoClassSet is n dark photos of class 0 and n bright ones of class 1,
// each with a faint texture.
func twoClassSet(n, side int) *dataset.Set {
	s := &dataset.Set{Upright: true}
	for k := range 2 * n {
		class := k % 2
		p := dataset.Photo{Name: "tone", W: side, H: side, Pix: make([]uint8, side*side*3), Class: class}
		for i := range p.Pix {
			p.Pix[i] = uint8(40 + 170*class + (i*7+k*13)%30)
		}
		s.Photos = append(s.Photos, p)
	}
	return s
}

// channelMeans is the per-channel mean of latents [.., C].
func channelMeans(z []float32, c int) []float64 {
	m := make([]float64, c)
	for i, v := range z {
		m[i%c] += float64(v) / float64(len(z)/c)
	}
	return m
}

func dist2(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return s
}

// TestAddClasses checks that classes added to a generator change nothing
// until trained, and that bad classes and guidance are refused.
func TestAddClasses(t *testing.T) {
	g := tinyGenerator(t, 7)
	ctx := context.Background()
	opt := withOpts(func(o *SampleOptions) { o.Steps, o.Seed = 4, 3 })
	plain, err := g.Generate(ctx, 4, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(ctx, 1, withOpts(func(o *SampleOptions) { o.Class = "dark" })); err == nil || !strings.Contains(err.Error(), "no classes") {
		t.Fatalf("a class for a model without classes: %v", err)
	}

	// Given classes, it samples as it did, whatever the class and the
	// guidance: the class embedding starts at zero.
	cg, err := g.AddClasses([]string{"dark", "bright"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []SampleOptions{opt, withOpts(func(o *SampleOptions) { o.Steps, o.Seed, o.Class = 4, 3, "bright" }),
		withOpts(func(o *SampleOptions) { o.Steps, o.Seed, o.Class, o.Guidance = 4, 3, "0", 2 })} {
		got, err := cg.Generate(ctx, 4, o)
		if err != nil {
			t.Fatal(err)
		}
		for k := range got {
			for i, v := range got[k].Z.Data {
				if math.Abs(float64(v-plain[k].Z.Data[i])) > 1e-4 {
					t.Fatalf("class %q, guidance %g: sample %d differs from the unconditional model's", o.Class, o.Guidance, k)
				}
			}
		}
	}
	for _, o := range []SampleOptions{withOpts(func(o *SampleOptions) { o.Class = "green" }), withOpts(func(o *SampleOptions) { o.Class = "2" }),
		withOpts(func(o *SampleOptions) { o.Guidance = -2 })} {
		if _, err := cg.Generate(ctx, 1, o); err == nil {
			t.Fatalf("class %q, guidance %g accepted", o.Class, o.Guidance)
		}
	}
	if _, err := cg.AddClasses([]string{"a", "b"}); err == nil {
		t.Fatal("classes added twice")
	}
	if _, err := g.AddClasses([]string{"only"}); err == nil {
		t.Fatal("a single class accepted")
	}
}

// classLatentMeans is, for each class of twoClassSet(4, 16), the
// per-channel mean of its photos' normalised latents.
func classLatentMeans(m *SR, data *dataset.Set) [2][]float64 {
	var means [2][]float64
	for class := range 2 {
		x := tensor.New(4, 16, 16, 3)
		for k := range 4 {
			for i, v := range data.Photos[2*k+class].Pix {
				x.Data[k*16*16*3+i] = float32(v) / 255
			}
		}
		z := m.AE.Encode(nil, x)
		m.normalize(z.Data)
		means[class] = channelMeans(z.Data, m.AE.Config.LatentCh)
	}
	return means
}

// TestClassSteersGenerator trains on dark photos of class 0 and bright
// ones of class 1: the class then steers what the generator predicts. The
// U-Net is wider than the tiny one: with a channel per GroupNorm group,
// normalisation would wipe out any per-channel offset an embedding adds,
// the class's as the timestep's.
func TestClassSteersGenerator(t *testing.T) {
	u := UNetConfig{InCh: 4, OutCh: 4, ModelCh: 40, ChMult: []int{1}, NumResBlocks: 1, Heads: 1}
	wide, err := NewGenerator(tinyAE(t, 7), u, DefaultSchedule(), 4, 7)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := wide.AddClasses([]string{"dark", "bright"})
	if err != nil {
		t.Fatal(err)
	}
	data := twoClassSet(4, 16)
	shift, scale, err := EstimateLatentStats(cg.Model.AE, data, 32, 16, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Model.SetLatentStats(shift, scale); err != nil {
		t.Fatal(err)
	}
	if err := cg.Model.SetPrediction(PredictV); err != nil { // as the built-in generator, and well conditioned at t = T
		t.Fatal(err)
	}
	o := trainOpts(150, 16, 3e-3, 5, 3)
	o.Batch = 8
	tr, err := NewTrainer(cg.Model, data, o)
	if err != nil {
		t.Fatal(err)
	}
	tp := tensor.NewTape()
	for tr.Step < tr.Opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	// At the noisiest step the best prediction of z0 is the mean latent
	// of the class asked for: each class's prediction lies nearer its own
	// photos' mean latent than the other class's (normalised latents,
	// per-channel means).
	c := cg.Model.AE.Config.LatentCh
	photoMeans := classLatentMeans(cg.Model, data)
	zT := tensor.New(16, 4, 4, c)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range zT.Data {
		zT.Data[i] = float32(rng.NormFloat64())
	}
	top := cg.Model.Sched.T() - 1
	ts := make([]float32, 16)
	for i := range ts {
		ts[i] = float32(top)
	}
	a, b := cg.Model.den().outputCoefs(top)
	for class, name := range []string{"dark", "bright"} {
		labels := make([]int, 16)
		for i := range labels {
			labels[i] = class
		}
		out := cg.Model.UNet.ForwardClass(nil, zT, ts, labels)
		x0 := make([]float32, len(out.Data))
		for i, v := range out.Data {
			x0[i] = float32(a*float64(zT.Data[i]) + b*float64(v))
		}
		m := channelMeans(x0, c)
		own, other := dist2(m, photoMeans[class]), dist2(m, photoMeans[1-class])
		t.Logf("class %s: predicted z0 %.3v, photos %.3v, squared distance to its photos' mean latent %.4f, to the other class's %.4f", name, m, photoMeans[class], own, other)
		if !(own < other/2) {
			t.Fatalf("class %s: the prediction is not near its own class (%.4f) against the other (%.4f)", name, own, other)
		}
	}
	// And sampling with guidance runs.
	if _, err := cg.Generate(context.Background(), 2, withOpts(func(o *SampleOptions) { o.Steps, o.Class, o.Guidance = 3, "bright", 1.5 })); err != nil {
		t.Fatal(err)
	}

	// The classes survive the model file.
	_, back := saveAndLoad(t, cg)
	if i, err := back.ClassIndex("bright"); err != nil || i != 1 {
		t.Fatalf("reloaded generator: class bright is %d (%v)", i, err)
	}
}
