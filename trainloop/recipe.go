package trainloop

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/optim"
)

// Recipe is the part of a training recipe every stage shares: how many
// steps of how many crops, the learning-rate schedule (linear warm-up,
// then a cosine down to a fraction of the peak), gradient clipping, the
// EMA of the weights and the seed. A stage's options embed it beside
// their own; each stage's Default…Options() writes its values once.
type Recipe struct {
	Steps    int     `opt:"steps" help:"total optimiser steps: the schedule's length"`
	Batch    int     `opt:"batch" help:"crops per step"`
	LR       float64 `opt:"lr" help:"peak learning rate (linear warm-up, then a cosine down to lr·min-lr-fac at steps)"`
	MinLRFac float64 `opt:"min-lr-fac" help:"learning rate at the end of the cosine, as a fraction of lr"`
	Warmup   int     `opt:"warmup" help:"linear warm-up steps"`
	Clip     float64 `opt:"clip" help:"gradient-norm clip (0: none)"`
	EMADecay float64 `opt:"ema" help:"EMA decay of the weights (0: no EMA, the weights themselves)"`
	Seed     uint64  `opt:"seed" help:"with the step, every random draw of the run: initial weights and training draws (a resumed run keeps its own)"`
	// Until stops the run after this step (0: at Steps) while keeping the
	// schedule of a Steps-long run, so short ablations follow exactly the
	// main run's schedule and are comparable step for step.
	Until int `opt:"until" help:"stop after this step, keeping the schedule of steps (0: at steps; for ablations)"`
}

// Check refuses recipes no run can use.
func (r Recipe) Check() error {
	switch {
	case r.Steps < 1 || r.Batch < 1:
		return fmt.Errorf("train options: steps %d and batch %d must be at least 1", r.Steps, r.Batch)
	case !(r.LR > 0) || math.IsInf(r.LR, 0) || !(r.MinLRFac >= 0 && r.MinLRFac <= 1):
		return fmt.Errorf("train options: learning rate %g, final fraction %g: want a finite rate above 0 and a fraction in [0, 1]", r.LR, r.MinLRFac)
	case r.Warmup < 0 || r.Warmup >= r.Steps:
		return fmt.Errorf("train options: %d warm-up steps for a %d-step run", r.Warmup, r.Steps)
	case !(r.Clip >= 0) || math.IsInf(r.Clip, 0):
		return fmt.Errorf("train options: clip %g: want a finite number of at least 0", r.Clip)
	case !(r.EMADecay >= 0 && r.EMADecay < 1):
		return fmt.Errorf("train options: EMA decay %g outside [0, 1)", r.EMADecay)
	case r.Until < 0:
		return fmt.Errorf("train options: until %d", r.Until)
	}
	return nil
}

// Schedule is the recipe's learning rate by step.
func (r Recipe) Schedule() optim.WarmupCosine {
	return optim.WarmupCosine{Peak: r.LR, Floor: r.LR * r.MinLRFac, Warmup: r.Warmup, Total: r.Steps}
}
