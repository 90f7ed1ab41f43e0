package trainloop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Optimizer is how every stage's step ends: the backward pass, gradient
// clipping at the recipe's norm, Adam at the recipe's learning rate for
// the step and the EMA of the weights (nil when the recipe has none). A
// stage's trainer embeds it; a checkpoint stores Adam, the EMA and Step.
type Optimizer struct {
	Adam *optim.Adam
	EMA  *optim.EMA
	// Step counts the steps taken, skipped ones included.
	Step int

	recipe *Recipe // the trainer's own, so a change to it holds
	clip   *optim.Clipper
}

// NewOptimizer optimises params with the recipe r points to.
func NewOptimizer(r *Recipe, params []*tensor.Tensor) *Optimizer {
	o := &Optimizer{Adam: optim.NewAdam(params, optim.AdamConfig()), recipe: r, clip: optim.NewClipper(params)}
	if r.EMADecay > 0 {
		o.EMA = optim.NewEMA(params, r.EMADecay)
	}
	return o
}

// LR is the learning rate of a step.
func (o *Optimizer) LR(step int) float64 { return o.recipe.Schedule().LR(step) }

// Finish backpropagates loss through tp, clears the tape and takes the
// step: a step whose loss or gradient is not finite is skipped, and
// reported as an error, but counted. It returns the loss.
func (o *Optimizer) Finish(tp *tensor.Tape, loss *tensor.Tensor) (float64, error) {
	val := float64(loss.Data[0])
	tp.Backward(loss)
	tp.Reset()
	return val, o.Apply(val)
}

// Apply takes the step for loss, whose gradients the caller has already
// backpropagated (for a loss whose gradient it computes itself, as a
// softmax cross-entropy does), as Finish does.
func (o *Optimizer) Apply(loss float64) error {
	lr := o.LR(o.Step)
	o.Step++
	if !Update(o.Adam, o.EMA, o.clip, o.recipe.Clip, lr, loss) {
		return fmt.Errorf("step %d: non-finite loss or gradient, step skipped", o.Step)
	}
	return nil
}

// Resume continues the run saved at path (with checkpoint.SaveTrain): st
// is the trainer's State, whose parameters, optimiser and EMA receive the
// stored ones; the step is restored, and a stored seed (st.RNG, 8 bytes)
// replaces the recipe's, so that the run goes on exactly where it
// stopped. The run must have been saved with the config st.Config points
// to, else nothing is resumed.
func (o *Optimizer) Resume(path string, st *checkpoint.TrainState) error {
	want := st.Config
	saved := reflect.New(reflect.TypeOf(want).Elem()).Interface()
	st.Config = saved
	st.RNG = nil
	if err := checkpoint.LoadTrain(path, st); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if !reflect.DeepEqual(saved, want) {
		return fmt.Errorf("resume %s: the run was started with config %+v, this one has %+v", path, saved, want)
	}
	switch len(st.RNG) {
	case 0:
	case 8:
		o.recipe.Seed = binary.LittleEndian.Uint64(st.RNG)
	default:
		return fmt.Errorf("resume %s: stored seed has %d bytes, want 8", path, len(st.RNG))
	}
	o.Step = st.Step
	return nil
}

// WithEMA runs fn with the EMA weights swapped into the parameters (with
// no EMA, the weights themselves), for validation and model files.
func (o *Optimizer) WithEMA(fn func() error) error {
	if o.EMA == nil {
		return fn()
	}
	o.EMA.Swap()
	defer o.EMA.Swap()
	return fn()
}

// Loop is the loop over the optimiser's steps to the recipe's end (or
// Until): label names it on the progress line, do runs one step and
// status/reset summarise the losses since the last validation.
func (o *Optimizer) Loop(label string, do func() error, status func() string, reset func()) Loop {
	return Loop{Label: label, Step: &o.Step, Total: o.recipe.Steps, Until: o.recipe.Until, LR: o.LR,
		Do: do, Status: status, Reset: reset}
}

// RunMean runs the loop (see Run) with step as each step and the mean
// loss of the steps since the last validation on the progress line.
func (o *Optimizer) RunMean(ctx context.Context, label string, step func() (float64, error), log io.Writer, quiet bool, h Hooks) error {
	var sum float64
	var n int
	do := func() error {
		l, err := step()
		if err == nil {
			sum, n = sum+l, n+1
		}
		return err
	}
	status := func() string { return fmt.Sprintf("loss %.4f", sum/math.Max(float64(n), 1)) }
	return Run(ctx, o.Loop(label, do, status, func() { sum, n = 0, 0 }), log, quiet, h)
}
