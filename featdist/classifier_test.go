package featdist

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
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
	x, err := m.Batch(data.Images()[:30])
	if err != nil {
		t.Fatal(err)
	}
	logits, _ := m.Forward(nil, x)
	initial, _, _, err := SoftmaxCrossEntropy(logits.Data, data.Labels[:30], 3)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultTrainOptions()
	opt.Batch, opt.LR, opt.Steps, opt.Seed, opt.LogEvery = 32, 5e-3, 120, 1, 20
	opt.Log = func(string, ...any) {}
	res, err := Train(context.Background(), m, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Accuracy(m, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.2f → %.2f, loss %.3f → %.3f over %d steps", before, after, initial, res.LastLoss, res.Steps)
	if res.LastLoss > 0.25*initial {
		t.Errorf("loss fell only from %.3f to %.3f", initial, res.LastLoss)
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

func TestTrainRejectsBadInput(t *testing.T) {
	m, _ := NewClassifier(tinyConfig(), 1)
	ctx := context.Background()
	if _, err := Train(ctx, m, &dataset.Labeled{Classes: []string{"a", "b", "c"}}, oneStep()); err == nil {
		t.Error("no photos: no error")
	}
	wrong := synthetic(1, 6, 10)
	if _, err := Train(ctx, m, wrong, oneStep()); err == nil {
		t.Error("wrong photo size: no error")
	}
	if _, err := Train(ctx, m, synthetic(1, 6, 12), DefaultTrainOptions()); err == nil {
		t.Error("no budget: no error")
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

// oneStep is DefaultTrainOptions with a budget of one step.
func oneStep() TrainOptions {
	o := DefaultTrainOptions()
	o.Steps = 1
	return o
}
