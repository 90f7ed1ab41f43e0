package autoencoder

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// smoothSet is a few synthetic photos with structure at several scales
// (random noise has nothing an auto-encoder could learn to keep).
func smoothSet(n, w, h int) *dataset.Set {
	s := &dataset.Set{}
	for i := 0; i < n; i++ {
		p := dataset.Photo{W: w, H: h, Pix: make([]uint8, w*h*3)}
		fi := float64(i + 1)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 3; c++ {
					v := 0.5 + 0.25*math.Sin(0.21*fi*float64(x)+0.7*float64(c)) + 0.2*math.Cos(0.37*float64(y)/fi+0.13*float64(x*c))
					if (x/5+y/7+i)%3 == 0 { // sharp edges: what bicubic misses
						v = 1 - v
					}
					p.Pix[(y*w+x)*3+c] = uint8(255 * min(max(v, 0), 1))
				}
			}
		}
		s.Photos = append(s.Photos, p)
	}
	return s
}

// batchLoss is the L1 loss on the batch of a given step, without training.
func (t *Trainer) batchLoss(step int) float64 {
	saved := t.Step
	t.Step = step
	b := t.sample()
	t.Step = saved
	m := t.Model
	z := m.Encode(nil, b.x)
	pred := m.Query(nil, z, m.Features(nil, z), b.ys, b.xs, 2/float32(b.size), 2/float32(b.size))
	return float64(tensor.NewTape().L1Loss(pred, b.target).Data[0])
}

// tinyTrainer sets up a small skip model on smoothSet photos; run trains
// it to the end of its schedule.
func tinyTrainer(t *testing.T, mlpOnly bool, steps, warmup int) *Trainer {
	t.Helper()
	m, err := New(Config{Channels: 8, ChMult: []int{1, 2, 2}, NumResBlocks: 1, LatentCh: 6, MLP: []int{16, 16},
		GlobalSkip: true, MLPOnly: mlpOnly, QueryBatch: 4096}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, smoothSet(3, 48, 48), tinyTrainOptions(steps, warmup), nearestResize)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (tr *Trainer) run(t *testing.T) {
	t.Helper()
	tp := tensor.NewTape()
	for tr.Step < tr.Opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrainingLowersLoss(t *testing.T) {
	for _, mlpOnly := range []bool{true, false} {
		tr := tinyTrainer(t, mlpOnly, 150, 5)
		// The same held-out batches before and after (steps far beyond the run).
		held := func() float64 {
			var s float64
			for k := 0; k < 4; k++ {
				s += tr.batchLoss(10_000 + k)
			}
			return s / 4
		}
		before := held()
		tr.run(t)
		after := held()
		t.Logf("mlp-only %v: held-out L1 %.5f -> %.5f", mlpOnly, before, after)
		if !(after < 0.95*before) {
			t.Errorf("mlp-only %v: held-out L1 %.5f -> %.5f, want at least a 5%% drop", mlpOnly, before, after)
		}
	}
}

func TestModelFileRefusals(t *testing.T) {
	dir := t.TempDir()
	m, err := New(tinyConfig(true), 1)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ae.safetensors")
	if err := m.Save(good, true, map[string]string{"card": "test"}); err != nil {
		t.Fatal(err)
	}
	back, err := Load(good)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if back.Params.Count() != m.Params.Count() {
		t.Fatalf("round trip: %d parameters, want %d", back.Params.Count(), m.Params.Count())
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A model file of another kind (an SR model's, say).
	other := filepath.Join(dir, "other.safetensors")
	if err := checkpoint.Save(other, "sr", m.Config, m.Params.List(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	// The architecture in the metadata no longer matches the tensors.
	wider := m.Config
	wider.MLP = []int{9}
	mismatched := filepath.Join(dir, "mismatched.safetensors")
	if err := checkpoint.Save(mismatched, Kind, wider, m.Params.List(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"truncated", write("truncated.safetensors", data[:len(data)/2]), "truncated"},
		{"empty", write("empty.safetensors", nil), "empty"},
		{"garbage", write("garbage.safetensors", []byte(strings.Repeat("not a model ", 20))), "garbage"},
		{"missing", filepath.Join(dir, "nope.safetensors"), "nope"},
		{"other kind", other, "other"},
		{"mismatched", mismatched, "mismatched"},
	}
	for _, c := range cases {
		_, err := Load(c.path)
		if err == nil {
			t.Errorf("%s: loaded without error", c.name)
			continue
		}
		// The error names the file, so a user knows which one is bad.
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name the file", c.name, err)
		}
	}
}

// TestDecodeSizesConsistent decodes one latent at two sizes: the large
// rendering, area-averaged down to the small size, must agree with the
// small rendering (the decoder's scale consistency), for a trained-like
// model whose head contributes.
func TestDecodeSizesConsistent(t *testing.T) {
	tr := tinyTrainer(t, true, 20, 2)
	tr.run(t)
	m := tr.Model
	x := tensor.New(1, 32, 32, 3)
	for i, v := range smoothSet(1, 32, 32).Photos[0].Pix {
		x.Data[i] = float32(v) / 255
	}
	d, err := m.NewDecoder(m.Encode(nil, x))
	if err != nil {
		t.Fatal(err)
	}
	small, big := d.Render(16, 16), d.Render(64, 64)
	var se float64
	for y := 0; y < 16; y++ {
		for xx := 0; xx < 16; xx++ {
			for c := 0; c < 3; c++ {
				var s float64
				for dy := 0; dy < 4; dy++ {
					for dx := 0; dx < 4; dx++ {
						s += float64(big[((4*y+dy)*64+4*xx+dx)*3+c])
					}
				}
				diff := s/16 - float64(small[(y*16+xx)*3+c])
				se += diff * diff
			}
		}
	}
	psnr := 10 * math.Log10(1/(se/(16*16*3)))
	t.Logf("16×16 vs 64×64 area-averaged: %.1f dB", psnr)
	if psnr < 25 {
		t.Errorf("decoding at 16×16 and at 64×64 (averaged down) agree to %.1f dB, want ≥ 25", psnr)
	}
}

// TestDecoderOnlyWide trains the decoder alone on targets up to ×8 of the
// latent (wide crops beyond the crop's own ×4): the encoder's weights stay
// bit for bit, the loss on held-out wide batches falls, wide batches
// really target more pixels than the crop has, and impossible settings
// are refused.
func TestDecoderOnlyWide(t *testing.T) {
	// Stage 1 first, as the real flow fine-tunes a trained auto-encoder.
	pre := tinyTrainer(t, true, 150, 5)
	pre.run(t)
	m := pre.Model
	data := smoothSet(3, 80, 80)
	opt := tinyTrainOptions(200, 5)
	opt.MaxScale, opt.DecoderOnly = 8, true
	tr, err := NewTrainer(m, data, opt, nearestResize)
	if err != nil {
		t.Fatal(err)
	}
	enc := map[string][]float32{}
	for _, p := range m.Params.List() {
		if strings.HasPrefix(p.Name, "enc.") {
			enc[p.Name] = append([]float32(nil), p.T.Data...)
		}
	}
	if len(enc) == 0 || len(m.DecoderParams())+len(enc) != len(m.Params.List()) {
		t.Fatalf("%d encoder and %d decoder tensors of %d", len(enc), len(m.DecoderParams()), len(m.Params.List()))
	}
	// Held-out batches whose targets are wider than the 32-pixel crop.
	var wide []int
	for k := 10_000; len(wide) < 4; k++ {
		tr.Step = k
		if b := tr.sample(); b.size > opt.Crop {
			if b.size > 64 {
				t.Fatalf("target side %d beyond ×8 of the 8-pixel latent", b.size)
			}
			wide = append(wide, k)
		}
	}
	tr.Step = 0
	held := func() float64 {
		var s float64
		for _, k := range wide {
			s += tr.batchLoss(k)
		}
		return s / float64(len(wide))
	}
	before := held()
	tr.run(t)
	after := held()
	t.Logf("wide targets: held-out L1 %.5f -> %.5f", before, after)
	if !(after < 0.97*before) {
		t.Errorf("held-out L1 on wide targets %.5f -> %.5f, want at least a 3%% drop", before, after)
	}
	for _, p := range m.Params.List() {
		if w, ok := enc[p.Name]; ok {
			for i, v := range p.T.Data {
				if v != w[i] {
					t.Fatalf("encoder weight %s changed", p.Name)
				}
			}
		}
	}
	bads := []TrainOptions{tinyTrainOptions(10, 1), tinyTrainOptions(10, 1)}
	bads[0].MaxScale, bads[1].MaxScale = 6, 16
	for _, bad := range bads {
		if _, err := NewTrainer(m, data, bad, nearestResize); err == nil {
			t.Errorf("max scale %d with 80-pixel photos: no error", bad.MaxScale)
		}
	}
}

// tinyTrainOptions is DefaultTrainOptions for a tiny run on 32-pixel crops.
func tinyTrainOptions(steps, warmup int) TrainOptions {
	o := DefaultTrainOptions()
	o.Steps, o.Batch, o.Crop, o.Queries, o.Warmup, o.LR, o.Seed = steps, 4, 32, 256, warmup, 3e-3, 2
	return o
}

// Checkpoint and Resume continue a run exactly: three steps, a checkpoint,
// a fresh trainer resumed from it and three more give the weights of six
// steps run straight.
func TestCheckpointResume(t *testing.T) {
	dir := t.TempDir()
	straight := tinyTrainer(t, true, 6, 2)
	straight.run(t)

	first := tinyTrainer(t, true, 6, 2)
	tp := tensor.NewTape()
	for first.Step < 3 {
		if _, err := first.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	state, out := filepath.Join(dir, "ae.safetensors.train"), filepath.Join(dir, "ae.safetensors")
	if err := first.Checkpoint(state, out, false, map[string]string{"steps": "3"}); err != nil {
		t.Fatal(err)
	}
	resumed := tinyTrainer(t, true, 6, 2)
	if err := resumed.Resume(state); err != nil || resumed.Step != 3 {
		t.Fatalf("resume: step %d, %v", resumed.Step, err)
	}
	resumed.run(t)
	a, b := straight.Model.Params.List(), resumed.Model.Params.List()
	for i := range a {
		for j := range a[i].T.Data {
			if a[i].T.Data[j] != b[i].T.Data[j] {
				t.Fatalf("%s[%d]: straight %v, resumed %v", a[i].Name, j, a[i].T.Data[j], b[i].T.Data[j])
			}
		}
	}
	if _, err := Load(out); err != nil {
		t.Errorf("the checkpoint's model file does not load: %v", err)
	}
	if err := resumed.Resume(filepath.Join(dir, "none.train")); err == nil {
		t.Error("resuming a missing state succeeded")
	}
}

// Validate scores the live and the averaged weights at every ReconScale.
func TestTrainerValidate(t *testing.T) {
	tr := tinyTrainer(t, true, 4, 1)
	tr.run(t)
	imgs := []*imageio.Image{imageio.New(64, 64), imageio.New(80, 56)}
	for i := range imgs[0].Pix {
		imgs[0].Pix[i] = float32(i%7) / 7
	}
	raw, ema, err := tr.Validate(imgs)
	if err != nil || len(raw) != len(ReconScales) || len(ema) != len(ReconScales) {
		t.Fatalf("%d raw, %d EMA results (%v), want %d each", len(raw), len(ema), err, len(ReconScales))
	}
	differ := false
	for i := range raw {
		if math.IsNaN(raw[i].PSNRY) || math.IsNaN(ema[i].PSNRY) {
			t.Fatalf("scale %v: PSNR %v / %v", raw[i].Scale, raw[i].PSNRY, ema[i].PSNRY)
		}
		differ = differ || raw[i].PSNRY != ema[i].PSNRY
	}
	if !differ {
		t.Error("the live and the averaged weights score alike after 4 steps: the EMA was not swapped in")
	}
}
