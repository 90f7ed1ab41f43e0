package trainloop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// LossFunc builds one step's loss on tp. Everything random it draws from
// rng, which derives from the run's seed and the step alone, so a resumed
// run draws exactly what an uninterrupted one would have.
type LossFunc func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error)

// Trainer is a training run whose step is one loss over a fixed set of
// parameters (the baselines, the condition network): Adam over the
// parameters, the recipe's warm-up + cosine learning rate, optional
// gradient clipping and EMA, and a resumable state. The diffusion stages,
// whose steps need more, drive Optimizer themselves.
type Trainer struct {
	// Kind names the training state in checkpoints, so a run of one
	// model cannot resume as another.
	Kind string
	// Config points to the model's architecture, stored with the state;
	// a resumed run must have the same.
	Config any
	Params []checkpoint.Named
	Opt    Recipe
	*Optimizer

	loss LossFunc
}

// NewTrainer sets up training of params with loss.
func NewTrainer(kind string, config any, params []checkpoint.Named, opt Recipe, loss LossFunc) (*Trainer, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if config == nil || reflect.TypeOf(config).Kind() != reflect.Pointer {
		return nil, errors.New("trainer: the config must be given by pointer")
	}
	ts := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		ts[i] = p.T
	}
	t := &Trainer{Kind: kind, Config: config, Params: params, Opt: opt, loss: loss}
	t.Optimizer = NewOptimizer(&t.Opt, ts)
	return t, nil
}

// TrainStep runs one optimiser step and returns its loss. A step whose
// loss cannot be built, or whose loss or gradient is not finite, is
// skipped (the step counter still advances) and reported as an error.
func (t *Trainer) TrainStep(tp *tensor.Tape) (float64, error) {
	loss, err := t.loss(tp, rand.New(rand.NewPCG(t.Opt.Seed, uint64(t.Step))))
	if err != nil {
		tp.Reset()
		t.Step++
		return 0, fmt.Errorf("step %d skipped: %w", t.Step, err)
	}
	return t.Finish(tp, loss)
}

// Run trains until Opt.Steps (or Opt.Until) or until ctx is cancelled,
// reporting the mean loss since the last validation (the function Run).
func (t *Trainer) Run(ctx context.Context, label string, log io.Writer, quiet bool, h Hooks) error {
	tp := tensor.NewTape()
	return t.RunMean(ctx, label, func() (float64, error) { return t.TrainStep(tp) }, log, quiet, h)
}

// State is the resumable training state: parameters, optimiser, EMA, step
// and seed.
func (t *Trainer) State() *checkpoint.TrainState {
	return &checkpoint.TrainState{Kind: t.Kind, Config: t.Config, Params: t.Params, Optim: t.Adam, EMA: t.EMA,
		Step: t.Step, RNG: binary.LittleEndian.AppendUint64(nil, t.Opt.Seed)}
}

// Resume loads a state written from State with checkpoint.SaveTrain. The
// trainer must have been built for the same architecture (and the same
// choice of EMA); the stored seed replaces Opt.Seed, so the run continues
// exactly where it stopped.
func (t *Trainer) Resume(path string) error { return t.Optimizer.Resume(path, t.State()) }
