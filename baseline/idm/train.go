package idm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// TrainKind is the kind of IDM training states.
const TrainKind = Kind + "-train"

// TrainOptions configure IDM training.
type TrainOptions struct {
	trainloop.Recipe
	Crop     int     `opt:"crop" help:"HR crop side, a multiple of the U-Net's Multiple"`
	MaxScale float64 `opt:"max-scale" help:"each step's scale is drawn from U(1, max-scale)"`
}

// DefaultTrainOptions is IDM's recipe at a CPU's size: batch 8 of 64×64
// HR crops, scale U(1, 4), Adam at 1e-4 with EMA 0.999 of the weights, no
// clipping, a warm-up + cosine schedule over the step budget.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Recipe: trainloop.Recipe{Steps: 1000, Batch: 8, LR: 1e-4, MinLRFac: 0.01, Warmup: 50, EMADecay: 0.999, Seed: 1},
		Crop:   64, MaxScale: 4,
	}
}

// NewTrainer sets up training of m on data: per step a scale s ~ U(1,
// MaxScale) shared by the batch; per crop the HR crop (Crop×Crop), its LR
// of round(Crop/s) pixels by our MATLAB-style bicubic with antialiasing
// (as the benchmark degrades), the condition built from that LR at the
// HR's size, a timestep t ~ U{0, T−1} and noise ε; the loss is the mean
// squared error of the U-Net's ε̂ (or v̂) on the noised HR. Encoder,
// up-sampler and U-Net train together, end to end.
func NewTrainer(m *Model, data *dataset.Set, opt TrainOptions) (*trainloop.Trainer, error) {
	if m == nil || data == nil {
		return nil, errors.New("idm trainer: no model or no data")
	}
	mult := m.UNet.Config.Multiple()
	switch {
	case opt.Crop < mult || opt.Crop%mult != 0:
		return nil, fmt.Errorf("idm trainer: crop %d must be a positive multiple of the U-Net's %d", opt.Crop, mult)
	case !(opt.MaxScale >= 1 && opt.MaxScale <= 16):
		return nil, fmt.Errorf("idm trainer: largest scale %g outside [1, 16]", opt.MaxScale)
	case !data.Fits(opt.Crop):
		return nil, fmt.Errorf("idm trainer: no training photo gives a %d-pixel crop", opt.Crop)
	}
	loss := func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error) { return m.loss(tp, rng, data, opt) }
	return trainloop.NewTrainer(TrainKind, &m.Config, m.Named(), opt.Recipe, loss)
}

// loss draws one batch and returns the denoising loss.
func (m *Model) loss(tp *tensor.Tape, rng *rand.Rand, data *dataset.Set, opt TrainOptions) (*tensor.Tensor, error) {
	p, b := opt.Crop, opt.Batch
	ls := max(1, int(math.Round(float64(p)/(1+rng.Float64()*(opt.MaxScale-1)))))
	per := p * p * 3
	hr := make([]float32, b*per)
	lr := make([]float32, b*ls*ls*3)
	up := make([]float32, b*per)
	for i := range b {
		data.Crop(rng, p, hr[i*per:(i+1)*per])
		small, err := resample.Resize(hr[i*per:(i+1)*per], p, p, 3, ls, ls, resample.Options{Method: resample.Bicubic})
		if err != nil {
			return nil, fmt.Errorf("degrading a training crop: %w", err)
		}
		big, err := resample.Resize(small, ls, ls, 3, p, p, resample.Options{Method: resample.Bicubic})
		if err != nil {
			return nil, fmt.Errorf("up-sampling a training LR: %w", err)
		}
		copy(lr[i*ls*ls*3:], small)
		copy(up[i*per:], big)
	}
	// The condition, on the tape: gradients reach the encoder and the
	// up-sampler through it.
	f := m.head.Prepare(tp, m.enc.Forward(tp, liif.Normalize(lr, b, ls, ls, 3)))
	gy, gx := implicit.Grid(p, p)
	ys, xs := make([]float32, 0, b*p*p), make([]float32, 0, b*p*p)
	for range b {
		ys, xs = append(ys, gy...), append(xs, gx...)
	}
	feats := m.head.Query(tp, f, ys, xs, 2/float32(p), 2/float32(p))
	cond := tp.Concat(liif.Normalize(up, b, p, p, 3), tp.Reshape(feats, b, p, p, m.Config.CondCh))

	x0 := liif.Normalize(hr, b, p, p, 3)
	eps, xt, target := tensor.New(b, p, p, 3), tensor.New(b, p, p, 3), tensor.New(b, p, p, 3)
	ts := make([]float32, b)
	for i := range b {
		t := rng.IntN(m.Sched.T())
		ts[i] = float32(t)
		e := eps.Data[i*per : (i+1)*per]
		for j := range e {
			e[j] = float32(rng.NormFloat64())
		}
		m.Sched.QSample(xt.Data[i*per:(i+1)*per], x0.Data[i*per:(i+1)*per], e, t)
		m.den.Target(target.Data[i*per:(i+1)*per], x0.Data[i*per:(i+1)*per], e, t)
	}
	out := m.UNet.Forward(tp, tp.Concat(xt, cond), ts)
	return tp.MSELoss(out, target), nil
}
