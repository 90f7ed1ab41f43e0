package liif

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// TrainKind is the kind of LIIF training states.
const TrainKind = Kind + "-train"

// TrainOptions configure LIIF training.
type TrainOptions struct {
	trainloop.Recipe
	Patch    int     `opt:"patch" help:"LR patch side"`
	Queries  int     `opt:"queries" help:"HR pixels queried per patch"`
	MaxScale float64 `opt:"max-scale" help:"scales are drawn from U(1, max-scale)"`
}

// DefaultTrainOptions is LIIF's recipe (batch 16 of 48×48 LR patches,
// scale U(1, 4), 2,304 queries, Adam at 1e-4, no EMA, no clipping) with a
// warm-up + cosine schedule over the step budget in place of LIIF's
// halving every 200 epochs.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Recipe: trainloop.Recipe{Steps: 1000, Batch: 16, LR: 1e-4, MinLRFac: 0.01, Warmup: 50, Seed: 1},
		Patch:  48, Queries: 2304, MaxScale: 4,
	}
}

// NewTrainer sets up training of m on data as LIIF trains: per patch a
// scale s ~ U(1, MaxScale), an HR crop of round(Patch·s) pixels, its LR
// of Patch×Patch by our MATLAB-style bicubic with antialiasing (as the
// benchmark degrades), and Queries distinct HR pixels as targets at the
// cell size 2/round(Patch·s); the loss is L1 in LIIF's [−1, 1] range.
// LIIF halves its rate every 200 epochs of 1,000 patches; a CPU run is far
// too short for that staircase, so the rate follows the recipe's warm-up
// and cosine over the steps we can afford, as our own stages do.
func NewTrainer(m *Model, data *dataset.Set, opt TrainOptions) (*trainloop.Trainer, error) {
	switch {
	case m == nil || data == nil:
		return nil, errors.New("liif trainer: no model or no data")
	case opt.Patch < 1 || opt.Queries < 1:
		return nil, fmt.Errorf("liif trainer: patch %d and queries %d must be at least 1", opt.Patch, opt.Queries)
	case !(opt.MaxScale >= 1 && opt.MaxScale <= 16):
		return nil, fmt.Errorf("liif trainer: largest scale %g outside [1, 16]", opt.MaxScale)
	}
	if side := hrSide(opt.Patch, opt.MaxScale); !data.Fits(side) {
		return nil, fmt.Errorf("liif trainer: scales up to x%g need %d-pixel crops, and no training photo is that large", opt.MaxScale, side)
	}
	loss := func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error) { return m.loss(tp, rng, data, opt) }
	return trainloop.NewTrainer(TrainKind, &m.Config, m.Params.List(), opt.Recipe, loss)
}

// hrSide is the HR crop side for LR patches of side patch at scale s.
func hrSide(patch int, s float64) int { return int(math.Round(float64(patch) * s)) }

// patchTargets are one patch's query points and target colours.
type patchTargets struct {
	side   int
	ys, xs []float32
	rgb    *tensor.Tensor // [q, 3] in [−1, 1]
}

// loss draws one batch and returns its L1 loss.
func (m *Model) loss(tp *tensor.Tape, rng *rand.Rand, data *dataset.Set, opt TrainOptions) (*tensor.Tensor, error) {
	p, b := opt.Patch, opt.Batch
	q := min(opt.Queries, p*p) // every HR crop has at least p² pixels
	x := tensor.New(b, p, p, 3)
	targets := make([]patchTargets, b)
	for i := range targets {
		side := hrSide(p, 1+rng.Float64()*(opt.MaxScale-1))
		hr := make([]float32, side*side*3)
		data.Crop(rng, side, hr)
		lr, err := resample.Resize(hr, side, side, 3, p, p, resample.Options{Method: resample.Bicubic})
		if err != nil {
			return nil, fmt.Errorf("degrading a training crop: %w", err)
		}
		copy(x.Data[i*p*p*3:], lr)
		t := patchTargets{side: side, ys: make([]float32, q), xs: make([]float32, q), rgb: tensor.New(q, 3)}
		for j, px := range rng.Perm(side * side)[:q] {
			t.ys[j] = implicit.Centre(px/side, side)
			t.xs[j] = implicit.Centre(px%side, side)
			for c := range 3 {
				t.rgb.Data[j*3+c] = 2*hr[px*3+c] - 1
			}
		}
		targets[i] = t
	}
	f := m.Features(tp, x)
	var sum *tensor.Tensor
	for i, t := range targets {
		cell := 2 / float32(t.side)
		l := tp.L1Loss(m.head.QueryImage(tp, f, i, t.ys, t.xs, cell, cell), t.rgb)
		if sum == nil {
			sum = l
		} else {
			sum = tp.Add(sum, l)
		}
	}
	return tp.Scale(sum, 1/float32(b)), nil
}
