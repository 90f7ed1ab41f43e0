package baseline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// LossFunc builds one step's loss on tp. Everything random it draws from
// rng, which derives from the run's seed and the step alone, so a resumed
// run draws exactly what an uninterrupted one would have.
type LossFunc func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error)

// Trainer is one baseline's training run: Adam over the parameters, a
// warm-up + cosine learning-rate schedule over the step budget, optional
// gradient clipping and EMA, and a resumable state.
type Trainer struct {
	// Kind names the training state in checkpoints, so a run of one
	// baseline cannot resume as another.
	Kind string
	// Config points to the model's architecture, stored with the state;
	// a resumed run must have the same.
	Config any
	Params []checkpoint.Named
	Opt    trainloop.Recipe
	Adam   *optim.Adam
	EMA    *optim.EMA // nil without EMA
	Step   int

	clip  *optim.Clipper
	sched optim.Schedule
	loss  LossFunc
}

// NewTrainer sets up training of params with loss.
func NewTrainer(kind string, config any, params []checkpoint.Named, opt trainloop.Recipe, loss LossFunc) (*Trainer, error) {
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
	t := &Trainer{Kind: kind, Config: config, Params: params, Opt: opt, Adam: optim.NewAdam(ts, optim.AdamConfig()),
		clip: optim.NewClipper(ts), loss: loss,
		// LIIF halves its rate every 200 epochs of 1,000 patches; a
		// CPU run is far too short for that staircase, so the rate
		// follows a warm-up and a cosine over the steps we can afford,
		// as our own stages do.
		sched: opt.Schedule()}
	if opt.EMADecay > 0 {
		t.EMA = optim.NewEMA(ts, opt.EMADecay)
	}
	return t, nil
}

// Schedule is the run's learning-rate schedule.
func (t *Trainer) Schedule() optim.Schedule { return t.sched }

// TrainStep runs one optimiser step and returns its loss. A step whose
// loss cannot be built, or whose loss or gradient is not finite, is
// skipped (the step counter still advances) and reported as an error.
func (t *Trainer) TrainStep(tp *tensor.Tape) (float64, error) {
	step, lr := t.Step, t.sched.LR(t.Step)
	t.Step++
	loss, err := t.loss(tp, rand.New(rand.NewPCG(t.Opt.Seed, uint64(step))))
	if err != nil {
		tp.Reset()
		return 0, fmt.Errorf("step %d skipped: %w", step+1, err)
	}
	val := float64(loss.Data[0])
	tp.Backward(loss)
	tp.Reset()
	if !trainloop.Update(t.Adam, t.EMA, t.clip, t.Opt.Clip, lr, val) {
		return val, fmt.Errorf("step %d: non-finite loss or gradient, step skipped", step+1)
	}
	return val, nil
}

// Run trains until Opt.Steps (or Opt.Until) or until ctx is cancelled,
// reporting the mean loss since the last validation; see trainloop.Run.
func (t *Trainer) Run(ctx context.Context, label string, log io.Writer, quiet bool, h trainloop.Hooks) error {
	tp := tensor.NewTape()
	var sum float64
	var n int
	return trainloop.Run(ctx, trainloop.Loop{
		Label: label, Step: &t.Step, Total: t.Opt.Steps, Until: t.Opt.Until, LR: t.sched.LR,
		Do: func() error {
			l, err := t.TrainStep(tp)
			if err == nil {
				sum, n = sum+l, n+1
			}
			return err
		},
		Status: func() string { return fmt.Sprintf("loss %.4f", sum/math.Max(float64(n), 1)) },
		Reset:  func() { sum, n = 0, 0 },
	}, log, quiet, h)
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
func (t *Trainer) Resume(path string) error {
	st := t.State()
	saved := reflect.New(reflect.TypeOf(t.Config).Elem()).Interface()
	st.Config = saved
	if err := checkpoint.LoadTrain(path, st); err != nil {
		return err
	}
	if !reflect.DeepEqual(saved, t.Config) {
		return fmt.Errorf("resume %s: the run was started with config %+v, this one has %+v", path, saved, t.Config)
	}
	if len(st.RNG) != 8 {
		return fmt.Errorf("resume %s: stored seed has %d bytes, want 8", path, len(st.RNG))
	}
	t.Opt.Seed = binary.LittleEndian.Uint64(st.RNG)
	t.Step = st.Step
	return nil
}

// WithEMA runs fn with the EMA weights swapped into the parameters (the
// live weights when the run keeps no EMA), e.g. to save or validate them.
func (t *Trainer) WithEMA(fn func() error) error {
	if t.EMA == nil {
		return fn()
	}
	t.EMA.Swap()
	defer t.EMA.Swap()
	return fn()
}
