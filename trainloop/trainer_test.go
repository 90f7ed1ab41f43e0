package trainloop

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

type toyConfig struct {
	Size int `json:"size"`
}

// toyTrainer fits a vector to noisy draws around a fixed target: small
// enough to run many steps, random enough that resuming must restore the
// seed, the step and the optimiser to reproduce a run.
func toyTrainer(t *testing.T, cfg *toyConfig, opt Recipe) (*Trainer, *tensor.Tensor) {
	t.Helper()
	w := tensor.Param(cfg.Size)
	loss := func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error) {
		target := tensor.New(cfg.Size)
		for i := range target.Data {
			target.Data[i] = float32(i) + 0.1*float32(rng.NormFloat64())
		}
		return tp.MSELoss(w, target), nil
	}
	tr, err := NewTrainer("toy-train", cfg, []checkpoint.Named{{Name: "w", T: w}}, opt, loss)
	if err != nil {
		t.Fatal(err)
	}
	return tr, w
}

func toyOptions() Recipe {
	return Recipe{Steps: 10, Batch: 1, LR: 0.1, MinLRFac: 0.1, Warmup: 2, EMADecay: 0.9, Seed: 5}
}

func run(t *testing.T, tr *Trainer, steps int) []float64 {
	t.Helper()
	tp := tensor.NewTape()
	var losses []float64
	for range steps {
		l, err := tr.TrainStep(tp)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	return losses
}

// A run stopped, saved and resumed (by a trainer built with another seed)
// ends bit for bit where an uninterrupted run does, EMA included.
func TestResumeIsExact(t *testing.T) {
	whole, w := toyTrainer(t, &toyConfig{4}, toyOptions())
	losses := run(t, whole, 10)
	if !(losses[9] < losses[0]/1.5) {
		t.Fatalf("loss %v does not fall", losses)
	}
	first, _ := toyTrainer(t, &toyConfig{4}, toyOptions())
	run(t, first, 4)
	path := filepath.Join(t.TempDir(), "toy.train")
	if err := checkpoint.SaveTrain(path, first.State(), false); err != nil {
		t.Fatal(err)
	}
	opt := toyOptions()
	opt.Seed = 99
	second, w2 := toyTrainer(t, &toyConfig{4}, opt)
	if err := second.Resume(path); err != nil {
		t.Fatal(err)
	}
	if second.Step != 4 || second.Opt.Seed != 5 {
		t.Fatalf("resumed at step %d with seed %d, want 4 and 5", second.Step, second.Opt.Seed)
	}
	run(t, second, 6)
	if !slices.Equal(w.Data, w2.Data) {
		t.Errorf("resumed weights %v, uninterrupted %v", w2.Data, w.Data)
	}
	if !slices.Equal(whole.EMA.Shadow(0), second.EMA.Shadow(0)) {
		t.Errorf("resumed EMA %v, uninterrupted %v", second.EMA.Shadow(0), whole.EMA.Shadow(0))
	}

	// Same shapes, other config: refused, not silently mixed.
	other, _ := toyTrainer(t, &toyConfig{4}, toyOptions())
	other.Config = &struct {
		Size int `json:"size"`
		More int `json:"more"`
	}{4, 1}
	if err := other.Resume(path); err == nil || !strings.Contains(err.Error(), "config") {
		t.Errorf("a different config resumed: %v", err)
	}
	noEMA := toyOptions()
	noEMA.EMADecay = 0
	plain, _ := toyTrainer(t, &toyConfig{4}, noEMA)
	if err := plain.Resume(path); err == nil || !strings.Contains(err.Error(), "EMA") {
		t.Errorf("a state with EMA resumed into a run without: %v", err)
	}
	plain.Kind = "other-train"
	if err := plain.Resume(path); err == nil || !strings.Contains(err.Error(), "toy-train") {
		t.Errorf("another kind's state resumed: %v", err)
	}
}

func TestWithEMA(t *testing.T) {
	tr, w := toyTrainer(t, &toyConfig{3}, toyOptions())
	run(t, tr, 5)
	live, avg := slices.Clone(w.Data), slices.Clone(tr.EMA.Shadow(0))
	var seen []float32
	if err := tr.WithEMA(func() error { seen = slices.Clone(w.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, avg) || slices.Equal(avg, live) {
		t.Errorf("inside WithEMA the weights are %v, want the average %v (live %v)", seen, avg, live)
	}
	if !slices.Equal(w.Data, live) {
		t.Errorf("WithEMA left %v, want the live %v back", w.Data, live)
	}
}

// A step whose loss cannot be built is skipped and counted.
func TestSkippedStep(t *testing.T) {
	w := tensor.Param(1)
	tr, err := NewTrainer("toy-train", &toyConfig{1}, []checkpoint.Named{{Name: "w", T: w}}, toyOptions(),
		func(*tensor.Tape, *rand.Rand) (*tensor.Tensor, error) { return nil, errors.New("no data") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(tensor.NewTape()); err == nil || !strings.Contains(err.Error(), "no data") || tr.Step != 1 {
		t.Errorf("step error %v, step %d", err, tr.Step)
	}
}

func TestRecipeAndConfigChecks(t *testing.T) {
	for _, o := range []Recipe{
		{Steps: 0, Batch: 1, LR: 1},
		{Steps: 5, Batch: 1, LR: 0},
		{Steps: 5, Batch: 1, LR: 1, MinLRFac: 2},
		{Steps: 5, Batch: 1, LR: 1, Warmup: 5},
		{Steps: 5, Batch: 1, LR: 1, EMADecay: 1},
		{Steps: 5, Batch: 1, LR: 1, Clip: -1},
	} {
		if err := o.Check(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := NewTrainer("k", toyConfig{1}, nil, toyOptions(), nil); err == nil {
		t.Error("a config given by value was accepted")
	}
}
