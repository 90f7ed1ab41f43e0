package diffusion

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
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
	path := filepath.Join(t.TempDir(), "gen.safetensors")
	if err := g.Model.Save(path, false, nil); err != nil {
		t.Fatal(err)
	}
	back, err := LoadGenerator(path)
	if err != nil {
		t.Fatal(err)
	}
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
	root, err := dataset.DataDir()
	if err != nil {
		t.Skip(err)
	}
	digits, err := dataset.LoadTar(filepath.Join(root, "gen", "mnist-10k.tar.gz"), dataset.TarOptions{Limit: 64})
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
