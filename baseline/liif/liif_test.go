package liif

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/baseline/internal/synth"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/nn"
)

func tinyConfig() Config {
	return Config{Feats: 4, Blocks: 1, MLP: []int{8, 8}, Unfold: true, QueryBatch: 13}
}

func randTensor(seed uint64, shape ...int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func randCoords(seed uint64, n int) (ys, xs []float32) {
	rng := rand.New(rand.NewPCG(seed, 4))
	for range n {
		ys = append(ys, float32(2*rng.Float64()-1))
		xs = append(xs, float32(2*rng.Float64()-1))
	}
	return ys, xs
}

// The per-query gather of 3×3 neighbourhoods reads exactly what unfolding
// the whole map (zero padded, neighbours in row-major window order) holds.
func TestUnfoldGatherMatchesUnfold(t *testing.T) {
	f := randTensor(1, 2, 3, 5, 2)
	var tp *tensor.Tape
	pad := tp.Pad(f, 1, 1, 1, 1)
	var parts []*tensor.Tensor
	for dy := range 3 {
		for dx := range 3 {
			parts = append(parts, tp.Crop(pad, dy, dx, 3, 5))
		}
	}
	unfolded := tp.Concat(parts...)
	idx := []int32{0, 4, 7, 14, 15, 22, 29}
	got := unfoldGather(tp, pad, idx, 3, 5)
	want := tp.Gather(unfolded, idx)
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("value %d: %g, want %g", i, got.Data[i], want.Data[i])
		}
	}
}

// The head's gradient with respect to the feature map, through the
// padding, the per-query unfolding and the local ensemble, matches
// central finite differences.
func TestHeadGradient(t *testing.T) {
	h := NewHead(nn.NewParams(2), 2, []int{6}, 3, true)
	f := randTensor(5, 2, 3, 4, 2)
	f.SetRequiresGrad(true)
	ys, xs := randCoords(6, 8)
	out := func(tp *tensor.Tape) *tensor.Tensor { return h.Query(tp, h.Prepare(tp, f), ys, xs, 0.3, 0.45) }
	if _, err := tensor.DefaultGradCheck().Run([]*tensor.Tensor{f}, out); err != nil {
		t.Fatalf("feature gradient: %v", err)
	}
}

// Querying one image of a batch with QueryImage gives what a batched
// Query gives for it.
func TestQueryImage(t *testing.T) {
	h := NewHead(nn.NewParams(3), 2, []int{5}, 3, true)
	f := h.Prepare(nil, randTensor(8, 2, 4, 3, 2))
	ys, xs := randCoords(9, 10)
	all := h.Query(nil, f, ys, xs, 0.2, 0.2)
	second := h.QueryImage(nil, f, 1, ys[5:], xs[5:], 0.2, 0.2)
	for i, v := range second.Data {
		if math.Abs(float64(v-all.Data[15+i])) > 1e-6 {
			t.Fatalf("value %d: %g, batched %g", i, v, all.Data[15+i])
		}
	}
}

// A tiny LIIF trains 20 steps on synthetic photos with LIIF's sampling and
// its loss falls.
func TestTrainLossFalls(t *testing.T) {
	m, err := New(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultTrainOptions()
	opt.Steps, opt.Batch, opt.LR, opt.Warmup = 20, 4, 1e-2, 2
	opt.Patch, opt.Queries = 8, 40
	tr, err := NewTrainer(m, synth.Set(3, 40, 36, 1), opt)
	if err != nil {
		t.Fatal(err)
	}
	tp := tensor.NewTape()
	var losses []float64
	for range opt.Steps {
		l, err := tr.TrainStep(tp)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	if first, last := mean(losses[:5]), mean(losses[15:]); !(last < 0.85*first) {
		t.Errorf("L1 loss went from %.4f to %.4f over 20 steps: %v", first, last, losses)
	}
	if _, err := NewTrainer(m, synth.Set(1, 20, 20, 1), opt); err == nil || !strings.Contains(err.Error(), "32-pixel") {
		t.Errorf("photos too small for x4 crops: %v", err)
	}
}

func TestUpscaleSizes(t *testing.T) {
	m, err := New(tinyConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	lr := synth.Image(7, 5, 3)
	for _, sz := range [][2]int{{17, 11}, {7, 5}, {3, 2}, {40, 9}} {
		out, err := m.Upscale(context.Background(), lr, sz[0], sz[1])
		if err != nil {
			t.Fatal(err)
		}
		if out.W != sz[0] || out.H != sz[1] || len(out.Pix) != sz[0]*sz[1]*3 {
			t.Fatalf("%v: got %dx%d with %d values", sz, out.W, out.H, len(out.Pix))
		}
		for _, v := range out.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%v: value %g outside [0, 1]", sz, v)
			}
		}
	}
	// Bands of rows render what the whole image renders.
	d, err := m.NewDecoder(lr)
	if err != nil {
		t.Fatal(err)
	}
	whole := d.Rows(11, 17, 0, 11)
	var bands []float32
	for y := 0; y < 11; y += 4 {
		bands = append(bands, d.Rows(11, 17, y, min(y+4, 11))...)
	}
	for i := range whole {
		if math.Abs(float64(whole[i]-bands[i])) > 1e-5 {
			t.Fatalf("value %d: whole %g, in bands %g", i, whole[i], bands[i])
		}
	}
	grey := lr.Clone()
	for p := 0; p < len(grey.Pix); p += 3 {
		grey.Pix[p+1], grey.Pix[p+2] = grey.Pix[p], grey.Pix[p]
	}
	grey.Gray = true
	out, err := m.Upscale(context.Background(), grey, 10, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Gray || out.Pix[0] != out.Pix[1] || out.Pix[0] != out.Pix[2] {
		t.Errorf("a grey input gave a colour output: %v", out.Pix[:3])
	}
	for _, sz := range [][2]int{{0, 5}, {5, -1}, {1 << 15, 1 << 14}} {
		if _, err := m.Upscale(context.Background(), lr, sz[0], sz[1]); err == nil {
			t.Errorf("output %v accepted", sz)
		}
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	m, err := New(tinyConfig(), 4)
	if err != nil {
		t.Fatal(err)
	}
	lr := synth.Image(6, 6, 5)
	want, err := m.Upscale(context.Background(), lr, 13, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, half := range []bool{false, true} {
		path := filepath.Join(dir, "m.safetensors")
		if err := m.Save(path, half, map[string]string{"note": "test"}); err != nil {
			t.Fatal(err)
		}
		back, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Upscale(context.Background(), lr, 13, 9)
		if err != nil {
			t.Fatal(err)
		}
		tol := 0.0
		if half {
			tol = 0.02
		}
		for i := range got.Pix {
			if math.Abs(float64(got.Pix[i]-want.Pix[i])) > tol {
				t.Fatalf("half=%v: value %d is %g after loading, %g before", half, i, got.Pix[i], want.Pix[i])
			}
		}
	}

	good, _ := os.ReadFile(filepath.Join(dir, "m.safetensors"))
	for name, b := range map[string][]byte{"garbage.safetensors": []byte("not a model at all"), "truncated.safetensors": good[:len(good)/2]} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Files whose kind, architecture or config do not fit their weights.
	saveAs := func(name, kind string, cfg Config) string {
		p := filepath.Join(dir, name)
		if err := checkpoint.Save(p, kind, cfg, m.Params.List(), nil, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bigger, bad := tinyConfig(), tinyConfig()
	bigger.Blocks, bad.Feats = 2, 0
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "garbage.safetensors"), "garbage.safetensors"},
		{filepath.Join(dir, "truncated.safetensors"), "truncated.safetensors"},
		{saveAs("other.safetensors", "autoencoder", m.Config), `expected "liif"`},
		{saveAs("mismatched.safetensors", Kind, bigger), "body1"},
		{saveAs("invalid.safetensors", Kind, bad), "feats 0"},
		{filepath.Join(dir, "missing.safetensors"), "missing.safetensors"},
		{"", "random:liif"},
		{"random:idm", "random:liif"},
	} {
		if _, err := Open(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q): error %v, want one mentioning %q", filepath.Base(c.path), err, c.want)
		}
	}
}

// NewMethod opens the method for upscale and eval, and "random:liif" gives
// the paper's architecture untrained.
func TestRegistered(t *testing.T) {
	up, err := NewMethod(baseline.RandomPrefix+Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := up.(*Upscaler).Model; m.Params.Count() < 1_000_000 || m.Config.Blocks != 16 {
		t.Errorf("random:liif built %d parameters, config %+v", m.Params.Count(), m.Config)
	}
	out, err := up.Upscale(context.Background(), synth.Image(6, 5, 1), 15, 11)
	if err != nil || out.W != 15 || out.H != 11 || up.Name() != "liif" {
		t.Fatalf("upscale: %v", err)
	}
	if _, err := NewMethod("random:liif", map[string]string{"steps": "2"}); err == nil {
		t.Error("a parameter was accepted")
	}
}
