package diffusion

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// tinyCondNet is a perturbed condition network for tinySR's condition
// space (a fresh one outputs exactly zero, which hides bugs).
func tinyCondNet(t *testing.T, s *SR, seed uint64) *CondNet {
	t.Helper()
	n, err := NewCondNet(CondConfig{Channels: 6, Blocks: 2, LatentCh: s.AE.Config.LatentCh, Space: s.ConditionSpace()}, seed)
	if err != nil {
		t.Fatal(err)
	}
	perturb(n.Params, seed+300, 0.05)
	if err := s.SetCondNet(n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Windows with the network's reach as margin give the whole input's
// answer: the network has no statistics over the window.
func TestCondNetWindowsMatchWhole(t *testing.T) {
	s := tinySR(t, 7)
	tinyCondNet(t, s, 1)
	w, h := condNetWindow+44, condNetWindow/2+20 // two windows across, one down
	img := synthImage(w, h, 5)
	tiled, err := s.encodeCondTiled(context.Background(), img.Pix, h, w, DefaultSampleOptions())
	if err != nil {
		t.Fatal(err)
	}
	whole := s.condFromNet(tensor.FromData(img.Pix, 1, h, w, 3))
	var worst float64
	for i := range whole.Data {
		worst = max(worst, math.Abs(float64(tiled.Data[i]-whole.Data[i])))
	}
	if worst > 1e-5 {
		t.Fatalf("windowed condition differs from the whole input's by up to %g", worst)
	}
	// And the network's output is the learned part only: with its last
	// layer at zero the condition is the normalised skip, which is what
	// the exact encoder gives when its own learned part is zero.
	clear(s.Cond.out.W.Data)
	clear(s.Cond.out.B.Data)
	skip := s.condFromNet(tensor.FromData(img.Pix, 1, h, w, 3))
	c := s.AE.Config.LatentCh
	for i := range w * h {
		for ch := range c {
			want := -s.Config.LatentShift[ch] * s.Config.LatentScale[ch]
			if ch < 3 {
				want = (img.Pix[i*3+ch] - s.Config.LatentShift[ch]) * s.Config.LatentScale[ch]
			}
			if d := skip.Data[i*c+ch] - want; math.Abs(float64(d)) > 1e-5 {
				t.Fatalf("pixel %d channel %d: skip-only condition %g, want %g", i, ch, skip.Data[i*c+ch], want)
			}
		}
	}
}

// Sampling uses the network unless asked for the exact encoder, and the
// two conditions differ (the network here is untrained).
func TestExactConditionOption(t *testing.T) {
	s := tinySR(t, 7)
	img := synthImage(24, 20, 5)
	opt := DefaultSampleOptions()
	exact, err := s.encodeCondTiled(context.Background(), img.Pix, 20, 24, opt)
	if err != nil {
		t.Fatal(err)
	}
	tinyCondNet(t, s, 1)
	opt.ExactCondition = true
	again, err := s.encodeCondTiled(context.Background(), img.Pix, 20, 24, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.ExactCondition = false
	fast, err := s.encodeCondTiled(context.Background(), img.Pix, 20, 24, opt)
	if err != nil {
		t.Fatal(err)
	}
	same, differ := true, false
	for i := range exact.Data {
		same = same && exact.Data[i] == again.Data[i]
		differ = differ || fast.Data[i] != exact.Data[i]
	}
	if !same || !differ {
		t.Fatalf("exact-condition=true gave the encoder's condition: %v; the network's differs from it: %v", same, differ)
	}
	if o, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"exact-condition": "true"}); err != nil || !o.ExactCondition {
		t.Fatalf("exact-condition=true parsed as %v, %v", o.ExactCondition, err)
	}
	if _, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"exact-condition": "maybe"}); err == nil {
		t.Fatal("exact-condition=maybe accepted")
	}
}

func TestCondNetFileRoundTrip(t *testing.T) {
	s := tinySR(t, 7)
	n := tinyCondNet(t, s, 1)
	dir := t.TempDir()
	for _, half := range []bool{false, true} {
		path := filepath.Join(dir, "cond.safetensors")
		if err := n.Save(path, half, map[string]string{"stage": "condition"}); err != nil {
			t.Fatal(err)
		}
		back, err := LoadCondNet(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Config != n.Config {
			t.Fatalf("config %+v came back as %+v", n.Config, back.Config)
		}
		want, got := n.Params.List(), back.Params.List()
		for i := range want {
			for j, v := range want[i].T.Data {
				tol := 0.0
				if half {
					tol = 1e-3 * math.Max(1, math.Abs(float64(v)))
				}
				if math.Abs(float64(got[i].T.Data[j]-v)) > tol {
					t.Fatalf("half=%v: %s[%d] = %g, saved %g", half, want[i].Name, j, got[i].T.Data[j], v)
				}
			}
		}
	}
	// An SR model file is not a condition network.
	srPath := filepath.Join(dir, "sr.safetensors")
	if err := s.Save(srPath, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCondNet(srPath); err == nil {
		t.Fatal("an SR model file loaded as a condition network")
	}
	if _, err := LoadCondNetBytes("garbage", []byte("not a model")); err == nil {
		t.Fatal("garbage loaded as a condition network")
	}
}

// A network is refused by a model whose condition it was not trained for.
func TestSetCondNetRefusesOtherSpaces(t *testing.T) {
	s := tinySR(t, 7)
	n := tinyCondNet(t, s, 1)
	other := tinySR(t, 8) // another encoder
	if err := other.SetCondNet(n); err == nil || !strings.Contains(err.Error(), "condition space") {
		t.Fatalf("another encoder's model took the network: %v", err)
	}
	renorm := tinySR(t, 7)
	renorm.Config.LatentScale[3] *= 2 // same encoder, another normalisation
	if err := renorm.SetCondNet(n); err == nil {
		t.Fatal("a model with another latent normalisation took the network")
	}
	wide := tinySR(t, 7)
	wide.Config.Scale *= 2 // latent twice the input's size
	if err := wide.SetCondNet(n); err == nil {
		t.Fatal("a model whose latent is larger than its input took the network")
	}
	if err := s.SetCondNet(nil); err != nil || s.Cond != nil {
		t.Fatalf("SetCondNet(nil) = %v, left %v", err, s.Cond)
	}
	for _, cfg := range []CondConfig{{Channels: 0, Blocks: 1, LatentCh: 4}, {Channels: 1024, Blocks: 64, LatentCh: 16}, {Channels: 8, Blocks: 1, LatentCh: 2}} {
		if _, err := NewCondNet(cfg, 0); err == nil {
			t.Errorf("a network of config %+v was built", cfg)
		}
	}
}

// The pool's targets are the exact condition less the skip, so a network
// that predicts them gives the exact condition back.
func TestCondPoolTargets(t *testing.T) {
	s := tinySR(t, 7)
	opt := DefaultCondTrainOptions()
	opt.Side, opt.Border, opt.Real = 24, 4, 0.5
	pool, err := s.NewCondPool(rand.New(rand.NewPCG(1, 2)), synthSet(3, 96, 1), 2, opt)
	if err != nil {
		t.Fatal(err)
	}
	side, inner, c := opt.Side, opt.Side-2*opt.Border, s.AE.Config.LatentCh
	lr := tensor.FromData(pool.LR.Data[side*side*3:], 1, side, side, 3) // the second input
	exact := s.encodeCond(lr)
	rebuilt := make([]float32, inner*inner*c)
	copy(rebuilt, pool.Target.Data[inner*inner*c:])
	for y := range inner {
		at := (y+opt.Border)*side + opt.Border
		s.addSkip(rebuilt[y*inner*c:(y+1)*inner*c], lr.Data[at*3:(at+inner)*3], 1)
		for j := range inner * c {
			if d := rebuilt[y*inner*c+j] - exact.Data[at*c+j]; math.Abs(float64(d)) > 1e-4 {
				t.Fatalf("row %d value %d: target + skip %g, exact condition %g", y, j, rebuilt[y*inner*c+j], exact.Data[at*c+j])
			}
		}
	}
}

// A few steps of training bring the network's error on its pool down.
func TestTrainCondNetLossFalls(t *testing.T) {
	s := tinySR(t, 7)
	perturb(s.AE.Params, 9, 0.2) // a learned part worth learning
	n, err := NewCondNet(CondConfig{Channels: 8, Blocks: 1, LatentCh: s.AE.Config.LatentCh, Space: s.ConditionSpace()}, 3)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultCondTrainOptions()
	opt.Pool, opt.Side, opt.Border, opt.Batch, opt.Steps, opt.Warmup, opt.LR = 8, 24, 4, 4, 150, 5, 1e-2
	data := synthSet(3, 96, 1)
	tr, err := s.TrainCondNet(n, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := s.NewCondPool(rand.New(rand.NewPCG(opt.Seed, math.MaxUint64)), data, opt.Pool, opt) // the training pool
	if err != nil {
		t.Fatal(err)
	}
	before, skip := pool.Error(n)
	if math.Abs(before-skip) > 1e-6*skip {
		t.Fatalf("a fresh network's error %g is not the skip alone's %g", before, skip)
	}
	tp := tensor.NewTape()
	for tr.Step < opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := pool.Error(n)
	t.Logf("pool error %.3f -> %.3f", before, after)
	if !(after < 0.6*before) {
		t.Fatalf("pool error %g after %d steps, %g before", after, opt.Steps, before)
	}
	bad := opt
	bad.Border = 12
	if _, err := s.TrainCondNet(n, data, bad); err == nil {
		t.Fatal("a border leaving no pixel was accepted")
	}
	bad = opt
	bad.MaxReduce = 8 // 192-pixel crops from 96-pixel photos
	if _, err := s.TrainCondNet(n, data, bad); err == nil {
		t.Fatal("crops larger than every photo were accepted")
	}
}
