package trainloop

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

func TestRunCheckpointsValidatesAndStops(t *testing.T) {
	step, saves, vals := 0, []int{}, []int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := Loop{Label: "t", Step: &step, Total: 100, Until: 30, LR: func(int) float64 { return 1 },
		Do: func() error {
			step++
			if step == 7 {
				return errors.New("skipped")
			}
			return nil
		},
		Status: func() string { return "" }, Reset: func() {}}
	h := Hooks{CheckpointEvery: 10, Checkpoint: func() error { saves = append(saves, step); return nil },
		ValidateEvery: 25, Validate: func() (string, error) { vals = append(vals, step); return "", nil }}
	if err := Run(ctx, l, nil, true, h); err != nil {
		t.Fatal(err)
	}
	if step != 30 || len(saves) != 4 || saves[3] != 30 || len(vals) != 2 || vals[0] != 25 || vals[1] != 30 {
		t.Fatalf("step %d, saves %v, validations %v", step, saves, vals)
	}
	// A cancelled run saves before returning.
	cancel()
	saves = nil
	l.Until = 0
	if err := Run(ctx, l, nil, true, h); err != nil || len(saves) != 1 || step != 30 {
		t.Fatalf("cancelled run: err %v, saves %v, step %d", err, saves, step)
	}
	// A failing checkpoint stops the run with an error naming the step.
	h.Checkpoint = func() error { return errors.New("disk full") }
	if err := Run(context.Background(), l, nil, true, h); err == nil {
		t.Fatal("checkpoint failure must stop the run")
	}
}

func TestUpdateSkipsNonFinite(t *testing.T) {
	p := tensor.Param(2)
	p.Data[0], p.Data[1] = 1, 2
	adam := optim.NewAdam([]*tensor.Tensor{p}, optim.AdamConfig())
	ema := optim.NewEMA([]*tensor.Tensor{p}, 0.9)
	clip := optim.NewClipper([]*tensor.Tensor{p})
	p.Grad[0] = float32(math.NaN())
	if Update(adam, ema, clip, 1, 0.1, 0.5) || p.Data[0] != 1 || p.Grad[0] != 0 {
		t.Fatalf("a NaN gradient must skip the step and clear the gradient: %v %v", p.Data, p.Grad)
	}
	p.Grad[0], p.Grad[1] = 1, -1
	if !Update(adam, ema, clip, 1, 0.1, 0.5) || p.Data[0] >= 1 || p.Data[1] <= 2 {
		t.Fatalf("a finite step must move the weights against the gradient: %v", p.Data)
	}
	p.Grad[0] = 1
	if Update(adam, ema, clip, 1, 0.1, math.NaN()) {
		t.Fatal("a non-finite loss must skip the step")
	}
}

func TestRecipeCheckAndSchedule(t *testing.T) {
	good := Recipe{Steps: 100, Batch: 2, LR: 1e-3, MinLRFac: 0.01, Warmup: 10, Clip: 1, EMADecay: 0.999, Seed: 1}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	s := good.Schedule()
	if s.LR(10) != 1e-3 || math.Abs(s.LR(100)-1e-5) > 1e-12 || !(s.LR(5) < s.LR(10)) {
		t.Errorf("schedule: %g at the peak, %g at the end, %g warming up", s.LR(10), s.LR(100), s.LR(5))
	}
	for _, bad := range []func(*Recipe){
		func(r *Recipe) { r.Steps = 0 }, func(r *Recipe) { r.Batch = 0 }, func(r *Recipe) { r.LR = 0 },
		func(r *Recipe) { r.LR = math.Inf(1) }, func(r *Recipe) { r.MinLRFac = 1.5 }, func(r *Recipe) { r.Warmup = 100 },
		func(r *Recipe) { r.Clip = -1 }, func(r *Recipe) { r.EMADecay = 1 }, func(r *Recipe) { r.Until = -1 },
	} {
		r := good
		bad(&r)
		if err := r.Check(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}
