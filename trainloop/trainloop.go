// Package trainloop is what every training stage shares: the common part
// of a recipe (Recipe: steps, batch, the warm-up + cosine learning rate,
// clipping, EMA, seed), the optimiser update (Update) and the outer loop
// (Run): run steps until the end (or a stop signal), report progress,
// checkpoint and validate at intervals, and save once more when stopping,
// so a run can be killed at any moment and continued with --resume. A
// stage supplies its loss, its data and its own options.
package trainloop

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/progress"
)

// Hooks are called by Run at intervals; any may be nil.
type Hooks struct {
	CheckpointEvery int
	Checkpoint      func() error
	ValidateEvery   int
	Validate        func() (string, error)
}

// Loop describes one run.
type Loop struct {
	Label string // progress label, e.g. "train ae"
	Step  *int   // the trainer's step counter, advanced by Do
	Total int    // the schedule's length
	Until int    // stop after this step (0: at Total), for short runs on a long schedule
	LR    func(int) float64
	// Do runs one step. A step error (e.g. a skipped non-finite step) is
	// reported and the run goes on.
	Do func() error
	// Status summarises the losses since the last validation (for the
	// progress line); Reset starts a new summary.
	Status func() string
	Reset  func()
}

// Run trains until the end of the loop or until ctx is cancelled.
func Run(ctx context.Context, l Loop, log io.Writer, quiet bool, h Hooks) error {
	bar := progress.New(log, l.Label, l.Total, quiet)
	bar.Resume(*l.Step)
	save := func() error {
		if h.Checkpoint == nil {
			return nil
		}
		if err := h.Checkpoint(); err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", *l.Step, err)
		}
		return nil
	}
	end := l.Total
	if l.Until > 0 {
		end = min(end, l.Until)
	}
	for *l.Step < end {
		if ctx.Err() != nil {
			bar.Printf("stopping at step %d: %v", *l.Step, ctx.Err())
			return save()
		}
		if err := l.Do(); err != nil {
			bar.Printf("%v", err)
		}
		bar.Update(*l.Step, fmt.Sprintf("%s lr %.2g", l.Status(), l.LR(*l.Step)))
		if h.CheckpointEvery > 0 && *l.Step%h.CheckpointEvery == 0 {
			if err := save(); err != nil {
				return err
			}
		}
		if h.Validate != nil && h.ValidateEvery > 0 && (*l.Step%h.ValidateEvery == 0 || *l.Step == end) {
			msg, err := h.Validate()
			if err != nil {
				return fmt.Errorf("validation at step %d: %w", *l.Step, err)
			}
			bar.Printf("step %d: %s, %s", *l.Step, l.Status(), msg)
			l.Reset()
		}
	}
	bar.Finish()
	return save()
}

// Update finishes one optimiser step after the backward pass: it clips the
// gradients to maxNorm (global L2 norm) and, when they and loss are
// finite, steps Adam at lr and folds the weights into the EMA. The
// gradients are cleared either way. It reports whether the step was taken.
func Update(adam *optim.Adam, ema *optim.EMA, clip *optim.Clipper, maxNorm, lr, loss float64) bool {
	_, finite := clip.Clip(maxNorm)
	if !finite || math.IsNaN(loss) || math.IsInf(loss, 0) {
		adam.ZeroGrad()
		return false
	}
	adam.Step(lr)
	adam.ZeroGrad()
	if ema != nil {
		ema.Update()
	}
	return true
}
