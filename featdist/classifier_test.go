package featdist

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

func TestSoftmaxCrossEntropy(t *testing.T) {
	logits := []float32{0, 0, 0, 0, 1, 2, 3, 4, 100, -100, 50, 0}
	labels := []int{2, 3, 0}
	loss, grad, right, err := SoftmaxCrossEntropy(logits, labels, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Row 1: uniform, log 4. Row 2: log Σe^(j−4) + 0. Row 3: ≈ 0.
	r2 := math.Log(1 + math.Exp(-1) + math.Exp(-2) + math.Exp(-3))
	want := (math.Log(4) + r2 + math.Exp(-50)) / 3
	if math.Abs(loss-want) > 1e-6 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	if right != 2 { // row 1 is a tie won by class 0, not its label 2
		t.Errorf("correct %d, want 2", right)
	}
	// Central differences of the float64 loss.
	const h = 1e-3
	for i := range logits {
		orig := logits[i]
		logits[i] = orig + h
		lp, _, _, _ := SoftmaxCrossEntropy(logits, labels, 4)
		logits[i] = orig - h
		lm, _, _, _ := SoftmaxCrossEntropy(logits, labels, 4)
		logits[i] = orig
		if num := (lp - lm) / (2 * h); math.Abs(num-float64(grad[i])) > 1e-4 {
			t.Errorf("grad[%d] = %v, numeric %v", i, grad[i], num)
		}
	}
	if _, _, _, err := SoftmaxCrossEntropy(logits, []int{0, 4, 0}, 4); err == nil {
		t.Error("label out of range: no error")
	}
	if _, _, _, err := SoftmaxCrossEntropy(logits[:5], labels, 4); err == nil {
		t.Error("wrong logit count: no error")
	}
}

// stripes draws the synthetic classes the tests learn: 0 horizontal
// stripes, 1 vertical stripes, 2 a diagonal checker, with random phase,
// colour and noise.
func stripes(rng *rand.Rand, class, size int) dataset.Photo {
	p := dataset.Photo{W: size, H: size, Pix: make([]uint8, size*size*3)}
	phase := rng.IntN(4)
	col := [3]float64{rng.Float64(), rng.Float64(), rng.Float64()}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var on bool
			switch class {
			case 0:
				on = (y+phase)/2%2 == 0
			case 1:
				on = (x+phase)/2%2 == 0
			default:
				on = (x+y+phase)/2%2 == 0
			}
			for c := 0; c < 3; c++ {
				v := 0.2 + 0.3*rng.Float64()
				if on {
					v += 0.5 * col[c]
				}
				p.Pix[(y*size+x)*3+c] = imageio.To8(float32(v))
			}
		}
	}
	return p
}

func synthetic(seed uint64, n, size int) *dataset.Labeled {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := &dataset.Labeled{Classes: []string{"h", "v", "d"}}
	for i := 0; i < n; i++ {
		c := i % 3
		l.Photos = append(l.Photos, stripes(rng, c, size))
		l.Labels = append(l.Labels, c)
	}
	return l
}

func tinyConfig() Config {
	return Config{Size: 12, Widths: []int{8, 16}, Classes: []string{"h", "v", "d"}}
}

// meanLoss is the cross-entropy of the model on the first n photos of
// data, unaugmented.
func meanLoss(t *testing.T, m *Classifier, data *dataset.Labeled, n int) float64 {
	t.Helper()
	x, err := m.Batch(data.Images()[:n])
	if err != nil {
		t.Fatal(err)
	}
	logits, _ := m.Forward(nil, x)
	loss, _, _, err := SoftmaxCrossEntropy(logits.Data, data.Labels[:n], len(m.Config.Classes))
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

// tinyOptions is a short recipe for the synthetic problem.
func tinyOptions(steps int) TrainOptions {
	o := DefaultTrainOptions()
	o.Steps, o.Batch, o.LR, o.Warmup = steps, 32, 5e-3, steps/10
	return o
}

func TestClassifierLearns(t *testing.T) {
	m, err := NewClassifier(tinyConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	data := synthetic(1, 300, 12)
	test := synthetic(2, 90, 12)
	before, err := Accuracy(m, test)
	if err != nil {
		t.Fatal(err)
	}
	initial := meanLoss(t, m, data, 30)
	tr, err := NewTrainer(m, data, tinyOptions(120))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background(), nil, true, trainloop.Hooks{}); err != nil {
		t.Fatal(err)
	}
	after, err := Accuracy(m, test)
	if err != nil {
		t.Fatal(err)
	}
	final := meanLoss(t, m, data, 30)
	t.Logf("accuracy %.2f → %.2f, loss %.3f → %.3f over %d steps", before, after, initial, final, tr.Step)
	if tr.Step != 120 {
		t.Errorf("ran %d steps, want 120", tr.Step)
	}
	if final > 0.25*initial {
		t.Errorf("loss fell only from %.3f to %.3f", initial, final)
	}
	if after < 0.9 {
		t.Errorf("test accuracy %.2f after training, want ≥ 0.9", after)
	}

	// The saved file gives back the same network.
	path := filepath.Join(t.TempDir(), "c.safetensors")
	if err := m.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	m2, err := LoadClassifier(path)
	if err != nil {
		t.Fatal(err)
	}
	imgs := test.Images()[:5]
	f1, _ := m.Features(imgs)
	f2, err := m2.Features(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f1 {
		if f1[i] != f2[i] {
			t.Fatalf("feature %d differs after save/load: %v vs %v", i, f1[i], f2[i])
		}
	}
}

// A run stopped halfway, checkpointed and resumed by a trainer built with
// other weights and another seed ends bit for bit where an uninterrupted
// run does, EMA included. The batches cross epoch boundaries, and the
// stop falls inside an epoch.
func TestResumeIsExact(t *testing.T) {
	data := synthetic(5, 50, 12)
	opt := tinyOptions(20)
	opt.Batch, opt.EMADecay = 8, 0.9
	trainer := func(seed uint64, opt TrainOptions) *Trainer {
		m, err := NewClassifier(tinyConfig(), seed)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m, data, opt)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	ctx := context.Background()
	whole := trainer(1, opt)
	if err := whole.Run(ctx, nil, true, trainloop.Hooks{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	state, out := filepath.Join(dir, "c.safetensors.train"), filepath.Join(dir, "c.safetensors")
	half := opt
	half.Until = 10
	first := trainer(1, half)
	hooks := trainloop.Hooks{CheckpointEvery: 4, Checkpoint: func() error { return first.Checkpoint(state, out, nil) }}
	if err := first.Run(ctx, nil, true, hooks); err != nil {
		t.Fatal(err)
	}
	other := opt
	other.Seed = 99
	second := trainer(7, other)
	if err := second.Resume(state); err != nil {
		t.Fatal(err)
	}
	if second.Step != 10 || second.Opt.Seed != opt.Seed {
		t.Fatalf("resumed at step %d with seed %d, want 10 and %d", second.Step, second.Opt.Seed, opt.Seed)
	}
	if err := second.Run(ctx, nil, true, trainloop.Hooks{}); err != nil {
		t.Fatal(err)
	}
	for i, p := range whole.Model.Params.List() {
		if q := second.Model.Params.List()[i]; !slices.Equal(p.T.Data, q.T.Data) {
			t.Fatalf("%s differs between the resumed and the uninterrupted run", p.Name)
		}
		if !slices.Equal(whole.EMA.Shadow(i), second.EMA.Shadow(i)) {
			t.Fatalf("EMA of %s differs between the resumed and the uninterrupted run", p.Name)
		}
	}

	// The model file holds the EMA weights of the checkpoint.
	saved, err := LoadClassifier(out)
	if err != nil {
		t.Fatal(err)
	}
	if w := saved.Params.List()[0].T.Data; !slices.Equal(w, first.EMA.Shadow(0)) {
		t.Error("the checkpointed model file does not hold the EMA weights")
	}

	// Another architecture is refused, not silently mixed.
	cfg := tinyConfig()
	cfg.Classes = []string{"a", "b", "c"}
	m, _ := NewClassifier(cfg, 1)
	wrong, err := NewTrainer(m, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Resume(state); err == nil || !strings.Contains(err.Error(), "config") {
		t.Errorf("a state of another config resumed: %v", err)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	m, _ := NewClassifier(tinyConfig(), 1)
	opt := tinyOptions(10)
	if _, err := NewTrainer(m, &dataset.Labeled{Classes: []string{"a", "b", "c"}}, opt); err == nil {
		t.Error("no photos: no error")
	}
	if _, err := NewTrainer(m, synthetic(1, 6, 10), opt); err == nil {
		t.Error("wrong photo size: no error")
	}
	bad := synthetic(1, 6, 12)
	bad.Labels[2] = 3
	if _, err := NewTrainer(m, bad, opt); err == nil {
		t.Error("label out of range: no error")
	}
	for _, o := range []func(*TrainOptions){
		func(o *TrainOptions) { o.Steps = 0 }, func(o *TrainOptions) { o.Batch = 0 },
		func(o *TrainOptions) { o.Warmup = o.Steps }, func(o *TrainOptions) { o.Shift = -1 },
	} {
		opt := tinyOptions(10)
		o(&opt)
		if _, err := NewTrainer(m, synthetic(1, 6, 12), opt); err == nil {
			t.Errorf("options %+v: no error", opt)
		}
	}
	if err := DefaultTrainOptions().Check(); err != nil {
		t.Errorf("the default recipe: %v", err)
	}
	if _, err := NewClassifier(Config{Size: 4, Widths: []int{4, 4, 4}, Classes: []string{"a", "b"}}, 1); err == nil {
		t.Error("too many stages for the size: no error")
	}
}

// blurred returns copies of imgs smoothed by a downscale and upscale.
func blurred(t *testing.T, imgs []*imageio.Image, factor int) []*imageio.Image {
	t.Helper()
	out := make([]*imageio.Image, len(imgs))
	for i, m := range imgs {
		s, err := resample.Image(m, m.W/factor, m.H/factor, resample.Options{Method: resample.Bicubic})
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = resample.Image(s, m.W, m.H, resample.Options{Method: resample.Bicubic}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestFeatureFD(t *testing.T) {
	cfg := tinyConfig()
	cfg.Size = 16
	m, err := NewClassifier(cfg, 7) // untrained features still see texture
	if err != nil {
		t.Fatal(err)
	}
	a := synthetic(3, 240, 16).Images()
	b := synthetic(4, 240, 16).Images()
	self, err := FeatureFD(m, a, a)
	if err != nil {
		t.Fatal(err)
	}
	same, err := FeatureFD(m, a, b)
	if err != nil {
		t.Fatal(err)
	}
	blur2, err := FeatureFD(m, a, blurred(t, b, 2))
	if err != nil {
		t.Fatal(err)
	}
	blur4, err := FeatureFD(m, a, blurred(t, b, 4))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FD self %.3g, same distribution %.4f, blur×2 %.4f, blur×4 %.4f", self, same, blur2, blur4)
	if math.Abs(self) > 1e-6*max(1, same) {
		t.Errorf("FD of a set with itself is %g, want ≈ 0", self)
	}
	if !(same < blur2 && blur2 < blur4) {
		t.Errorf("FD should grow with blur: same %.4f, blur×2 %.4f, blur×4 %.4f", same, blur2, blur4)
	}
	// Images of another size are resized to the model's input.
	big := blurred(t, a[:2], 1)
	for i := range big {
		if big[i], err = resample.Image(a[i], 40, 40, resample.Options{Method: resample.Bicubic}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := FeatureFD(m, big, a[:5]); err != nil {
		t.Errorf("mixed sizes: %v", err)
	}
	if _, err := FeatureFD(m, a[:1], a); err == nil {
		t.Error("one image: no error")
	}
	if _, err := FeatureFD(m, []*imageio.Image{a[0], {W: 3, H: 3}}, a); err == nil {
		t.Error("malformed image: no error")
	}
}
