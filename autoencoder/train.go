package autoencoder

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// TrainOptions configures stage-1 training. Start from
// DefaultTrainOptions: every field means what it holds, zero included.
type TrainOptions struct {
	trainloop.Recipe
	Crop       int     `opt:"crop" help:"HR crop side in pixels, a multiple of the factor"`
	Queries    int     `opt:"queries" help:"target pixels queried per crop (LIIF's number)"`
	LatentProb float64 `opt:"latent-prob" help:"share of steps decoded at the latent's own size (0: never)"`
	// MaxScale is the largest decoding scale trained, relative to the
	// latent (0: the factor f, the crop's own size). Above f the target
	// holds detail the latent cannot: a step whose target side exceeds the
	// crop draws wide crops of side Crop·MaxScale/f, encodes each reduced
	// to Crop (as an SR model's latent stands for its ×f output) and asks
	// the decoder for the wide crop itself, so it learns to add detail
	// beyond ×f instead of interpolating. It must be a multiple of f.
	MaxScale int `opt:"max-scale" help:"largest decoding scale of the latent (0: the factor, the crop's own size); above it wide crops supply targets with detail the latent lacks"`
	// DecoderOnly freezes the encoder and trains the implicit decoder
	// alone, so latents keep their meaning and a diffusion model trained
	// on them stays valid with the new decoder.
	DecoderOnly bool `opt:"decoder-only" help:"freeze the encoder and train the implicit decoder alone (latents keep their meaning; see zoomdiff sr-decoder)"`
}

// DefaultTrainOptions is stage 1's recipe. Every field means what it
// holds, zero included.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Recipe: trainloop.Recipe{Steps: 2000, Batch: 8, LR: 1e-3, MinLRFac: 0.01, Warmup: 200, Clip: 1, EMADecay: 0.999, Seed: 1},
		Crop: 64, Queries: 2304, LatentProb: 0.15}
}

// Check refuses options no run can use.
func (o TrainOptions) Check() error {
	if err := o.Recipe.Check(); err != nil {
		return err
	}
	switch {
	case o.Crop < 1 || o.Queries < 1:
		return fmt.Errorf("train options: crop %d and queries %d must be at least 1", o.Crop, o.Queries)
	case o.MaxScale < 0:
		return fmt.Errorf("train options: max scale %d must not be negative", o.MaxScale)
	case !(o.LatentProb >= 0 && o.LatentProb <= 1):
		return fmt.Errorf("train options: latent share %v outside [0, 1]", o.LatentProb)
	}
	return nil
}

// Trainer runs stage-1 training: it owns the model, the optimiser state,
// the EMA weights, the data and the random state, everything a checkpoint
// must hold for a run to continue exactly where it stopped.
type Trainer struct {
	Model *Model
	Opt   TrainOptions
	*trainloop.Optimizer
	Data *dataset.Set

	// Resize makes the training target: the crop resized (with
	// antialiasing when shrinking) to an s×s image. Injected so this
	// package does not depend on the image pipeline's choices.
	Resize func(pix []float32, w, h, outW, outH int) []float32

	rng *rand.Rand
}

// NewTrainer sets up training of m on data.
func NewTrainer(m *Model, data *dataset.Set, opt TrainOptions, resize func(pix []float32, w, h, outW, outH int) []float32) (*Trainer, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if opt.Crop%m.Config.Factor() != 0 {
		return nil, fmt.Errorf("crop %d is not a multiple of the down-sampling factor %d", opt.Crop, m.Config.Factor())
	}
	f := m.Config.Factor()
	if opt.MaxScale <= 0 {
		opt.MaxScale = f
	}
	if opt.MaxScale%f != 0 {
		return nil, fmt.Errorf("largest decoding scale %d is not a multiple of the factor %d", opt.MaxScale, f)
	}
	if wide := opt.Crop / f * opt.MaxScale; !data.Fits(wide) {
		return nil, fmt.Errorf("decoding scales up to x%d need %d-pixel crops, and no training photo is that large", opt.MaxScale, wide)
	}
	ps := m.Params.Tensors()
	if opt.DecoderOnly {
		ps = m.DecoderParams()
	}
	t := &Trainer{Model: m, Opt: opt, Data: data, Resize: resize}
	t.Optimizer = trainloop.NewOptimizer(&t.Opt.Recipe, ps)
	return t, nil
}

// batch is one step's input crops and query targets.
type batch struct {
	x      *tensor.Tensor // [B, P, P, 3]
	ys, xs []float32      // query coordinates, per crop back to back
	target *tensor.Tensor // [B·Q, 3]
	size   int            // target side S
}

func (t *Trainer) sample() batch {
	// Each step's randomness derives from (seed, step) alone, so a resumed
	// run draws exactly the crops an uninterrupted one would have.
	t.rng = rand.New(rand.NewPCG(t.Opt.Seed, uint64(t.Step)))
	o := t.Opt
	f := t.Model.Config.Factor()
	lat := o.Crop / f
	// Target side: the latent's own size with probability LatentProb, else
	// log-uniform between it and the crop size, so small scales (where the
	// skip alone is nearly right and the head must learn to stay quiet)
	// are trained as often as large ones.
	s := lat
	if t.rng.Float64() >= o.LatentProb {
		s = int(math.Round(float64(lat) * math.Exp(t.rng.Float64()*math.Log(float64(o.MaxScale)))))
		s = min(max(s, lat), lat*o.MaxScale)
	}
	side := o.Crop // the crop drawn: wide when the target is larger than the input
	if s > o.Crop {
		side = lat * o.MaxScale
	}
	q := min(o.Queries, s*s)
	b := batch{x: tensor.New(o.Batch, o.Crop, o.Crop, 3), size: s,
		ys: make([]float32, o.Batch*q), xs: make([]float32, o.Batch*q), target: tensor.New(o.Batch*q, 3)}
	perm := make([]int, s*s)
	src := make([]float32, side*side*3)
	for i := 0; i < o.Batch; i++ {
		crop := b.x.Data[i*o.Crop*o.Crop*3 : (i+1)*o.Crop*o.Crop*3]
		t.Data.Crop(t.rng, side, src)
		if side == o.Crop {
			copy(crop, src)
		} else {
			copy(crop, t.Resize(src, side, side, o.Crop, o.Crop))
		}
		tgt := src
		if s != side {
			tgt = t.Resize(src, side, side, s, s)
		}
		implicit.PickPixels(t.rng, perm, s, tgt, b.ys[i*q:(i+1)*q], b.xs[i*q:(i+1)*q], b.target.Data[i*q*3:(i+1)*q*3])
	}
	return b
}

// TrainStep runs one optimiser step on a fresh batch and returns the L1
// loss. A step whose gradient is not finite is skipped (and reported).
func (t *Trainer) TrainStep(tp *tensor.Tape) (float64, error) {
	b := t.sample()
	m := t.Model
	enc := tp
	if t.Opt.DecoderOnly {
		enc = nil // frozen: no gradient to keep
	}
	z := m.Encode(enc, b.x)
	pred := m.Query(tp, z, m.Features(tp, z), b.ys, b.xs, 2/float32(b.size), 2/float32(b.size))
	return t.Finish(tp, tp.L1Loss(pred, b.target))
}

// Run trains until Opt.Steps (or Opt.Until) or until ctx is cancelled;
// see trainloop.Run.
func (t *Trainer) Run(ctx context.Context, log io.Writer, quiet bool, h trainloop.Hooks) error {
	tp := tensor.NewTape()
	return t.RunMean(ctx, "train ae", func() (float64, error) { return t.TrainStep(tp) }, log, quiet, h)
}

// State is what a checkpoint of the run holds: the architecture, the
// weights, the optimiser and EMA state and the step.
func (t *Trainer) State() *checkpoint.TrainState {
	return &checkpoint.TrainState{Kind: Kind + "-train", Config: &t.Model.Config, Params: t.Model.Params.List(),
		Optim: t.Adam, EMA: t.EMA, Step: t.Step}
}

// Resume continues the run saved at path (by Checkpoint): weights,
// optimiser, EMA and step. The trainer must have been made with the same
// architecture and options.
func (t *Trainer) Resume(path string) error { return t.Optimizer.Resume(path, t.State()) }

// Checkpoint saves the run's state to statePath and the EMA weights as a
// model file at out (float16 when half) with card as its model card,
// each atomically, so a run killed at any moment keeps its last good
// checkpoint.
func (t *Trainer) Checkpoint(statePath, out string, half bool, card map[string]string) error {
	if err := checkpoint.SaveTrain(statePath, t.State(), true); err != nil {
		return err
	}
	return t.WithEMA(func() error { return t.Model.Save(out, half, card) })
}

// Validate scores the reconstruction of images at ReconScales with the
// live weights and with their average: early in a run the average still
// remembers the first steps and lags well behind.
func (t *Trainer) Validate(images []*imageio.Image) (raw, ema []ReconResult, err error) {
	if raw, err = t.Model.EvalReconstruction(images, ReconScales); err != nil {
		return nil, nil, err
	}
	err = t.WithEMA(func() (err error) {
		ema, err = t.Model.EvalReconstruction(images, ReconScales)
		return err
	})
	return raw, ema, err
}
