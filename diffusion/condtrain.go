package diffusion

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// CondTrainKind names a condition network's training state.
const CondTrainKind = "cond-train"

// CondTrainOptions is the condition network's recipe (TrainCondNet).
type CondTrainOptions struct {
	trainloop.Recipe
	// Pool inputs are drawn and encoded exactly once, before the first
	// step: encoding an input costs about three times what a training
	// step spends on it (0.14 against 0.05 s here), and the network is
	// small enough not to over-fit a few thousand inputs seen ten times
	// each.
	Pool int `opt:"pool" help:"training inputs drawn and encoded once, before the first step"`
	Side int `opt:"side" help:"side of each training input, in input pixels"`
	// Border is left out of the loss: there the encoder saw the edge of
	// the crop, which an input of any size has only at its own edges.
	Border int `opt:"border" help:"input pixels on every side of a crop left out of the loss"`
	// Inputs are photo crops reduced by a random factor in [2, MaxReduce],
	// by bicubic (the benchmarks' inputs) or, for a share Real of them,
	// through the real-photo chain of package degrade (blur, resize,
	// noise, JPEG), so the network learns what the encoder makes of both
	// the clean and the degraded inputs that the shipped models meet.
	MaxReduce float64 `opt:"max-reduce" help:"inputs are photo crops reduced by a random factor in [2, max-reduce]"`
	Real      float64 `opt:"real" help:"share of inputs made by the real-photo degradation chain instead of bicubic"`
}

// DefaultCondTrainOptions is the shipped network's recipe: 2,000 steps of
// 12 crops from a pool of 2,400, Adam at 1e-3 with a cosine to 1e-5 and
// no EMA (an EMA of 0.999 lagged the weights and gave smoother
// conditions and outputs: the condition network's model card).
func DefaultCondTrainOptions() CondTrainOptions {
	return CondTrainOptions{
		Recipe: trainloop.Recipe{Steps: 2000, Batch: 12, LR: 1e-3, MinLRFac: 0.01, Warmup: 100, Clip: 1, Seed: 1},
		Pool:   2400, Side: 60, Border: 10, MaxReduce: 4, Real: 0.5,
	}
}

// check refuses options no run can use.
func (o CondTrainOptions) check() error {
	if err := o.Recipe.Check(); err != nil {
		return err
	}
	switch {
	case o.Pool < 1 || o.Pool > 1<<20:
		return fmt.Errorf("condition training: pool %d outside [1, %d]", o.Pool, 1<<20)
	case o.Side < 1 || o.Side > 1024 || o.Border < 0 || 2*o.Border >= o.Side:
		return fmt.Errorf("condition training: side %d with border %d leaves no pixel to learn from", o.Side, o.Border)
	case !(o.MaxReduce >= 2 && o.MaxReduce <= 16):
		return fmt.Errorf("condition training: max-reduce %g outside [2, 16]", o.MaxReduce)
	case !(o.Real >= 0 && o.Real <= 1):
		return fmt.Errorf("condition training: real share %g outside [0, 1]", o.Real)
	}
	return nil
}

// CondPool is a set of inputs with their exact conditions: what a
// condition network learns from, or is measured on.
type CondPool struct {
	// Side is each input's side; Border the pixels on every side left
	// out of the targets.
	Side, Border int
	// LR holds the inputs [N,Side,Side,3]; Target the exact condition less
	// the normalised skip (what the network predicts) on each input's
	// inner part, [N,Side−2·Border,Side−2·Border,LatentCh].
	LR, Target *tensor.Tensor
}

// NewCondPool draws n inputs from data as opt describes (opt's Pool and
// Seed aside) and encodes each exactly, with rng.
func (s *SR) NewCondPool(rng *rand.Rand, data *dataset.Set, n int, opt CondTrainOptions) (*CondPool, error) {
	if err := s.checkPoolData(data, opt); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("condition pool of %d inputs", n)
	}
	side, inner, c := opt.Side, opt.Side-2*opt.Border, s.AE.Config.LatentCh
	p := &CondPool{Side: side, Border: opt.Border, LR: tensor.New(n, side, side, 3), Target: tensor.New(n, inner, inner, c)}
	const chunk = 8 // inputs encoded together: the encoder's activations stay small
	for i0 := 0; i0 < n; i0 += chunk {
		m := min(chunk, n-i0)
		lr := p.LR.Data[i0*side*side*3 : (i0+m)*side*side*3]
		for i := range m {
			if err := drawCondInput(rng, data, opt, lr[i*side*side*3:(i+1)*side*side*3]); err != nil {
				return nil, err
			}
		}
		z := s.encodeCond(tensor.FromData(lr, m, side, side, 3))
		for i := range m {
			for y := range inner {
				at := (i*side+y+opt.Border)*side + opt.Border // first inner pixel of the row
				dst := p.Target.Data[((i0+i)*inner+y)*inner*c : ((i0+i)*inner+y+1)*inner*c]
				copy(dst, z.Data[at*c:])
				s.addSkip(dst, lr[at*3:(at+inner)*3], -1)
			}
		}
	}
	return p, nil
}

// drawCondInput fills dst (side²·3 values) with a training input: a photo
// crop reduced by a random factor, by bicubic or the real-photo chain.
func drawCondInput(rng *rand.Rand, data *dataset.Set, opt CondTrainOptions, dst []float32) error {
	side := opt.Side
	big := int(math.Round(float64(side) * (2 + rng.Float64()*(opt.MaxReduce-2))))
	src := make([]float32, big*big*3)
	data.Crop(rng, big, src)
	var lr []float32
	var err error
	if rng.Float64() < opt.Real {
		lr, err = degrade.Default().Apply(rng, src, big, big, side, side)
	} else {
		lr, err = resample.Resize(src, big, big, 3, side, side, resample.Options{Method: resample.Bicubic})
	}
	if err != nil {
		return fmt.Errorf("condition input: %w", err)
	}
	copy(dst, lr)
	return nil
}

// checkPoolData reports whether inputs as opt describes can be drawn from
// data and learnt for s.
func (s *SR) checkPoolData(data *dataset.Set, opt CondTrainOptions) error {
	if err := s.condNetFits(); err != nil {
		return err
	}
	if data == nil || len(data.Photos) == 0 {
		return errors.New("condition pool: no data")
	}
	if maxSide := int(math.Ceil(opt.MaxReduce * float64(opt.Side))); !data.Fits(maxSide) {
		return fmt.Errorf("condition pool: inputs reduced up to %g times need %d-pixel crops, and no photo is that large", opt.MaxReduce, maxSide)
	}
	return nil
}

// loss is the mean squared error of net's prediction on the inputs idx
// of the pool, over their inner parts, recorded on tp.
func (p *CondPool) loss(tp *tensor.Tape, net *CondNet, idx []int) *tensor.Tensor {
	side, inner := p.Side, p.Side-2*p.Border
	c := p.Target.Shape[3]
	x := tensor.New(len(idx), side, side, 3)
	want := tensor.New(len(idx), inner, inner, c)
	for k, i := range idx {
		copy(x.Data[k*side*side*3:(k+1)*side*side*3], p.LR.Data[i*side*side*3:])
		copy(want.Data[k*inner*inner*c:(k+1)*inner*inner*c], p.Target.Data[i*inner*inner*c:])
	}
	got := tp.Crop(net.Forward(tp, x), p.Border, p.Border, inner, inner)
	return tp.MSELoss(got, want)
}

// Error is net's mean squared error on the whole pool, in the normalised
// latent, and the error of the skip alone (the targets' mean square), for
// scale.
func (p *CondPool) Error(net *CondNet) (mse, skipOnly float64) {
	const chunk = 16
	n := p.LR.Shape[0]
	var sum float64
	for i0 := 0; i0 < n; i0 += chunk {
		idx := make([]int, 0, chunk)
		for i := i0; i < min(n, i0+chunk); i++ {
			idx = append(idx, i)
		}
		sum += float64(p.loss(nil, net, idx).Data[0]) * float64(len(idx))
	}
	for _, v := range p.Target.Data {
		skipOnly += float64(v) * float64(v)
	}
	return sum / float64(n), skipOnly / float64(len(p.Target.Data))
}

// TrainCondNet sets up the training of net to stand in for s's encoder
// (see CondNet): before the first step a pool of opt.Pool inputs from
// data is encoded exactly (drawn from the run's seed, so a resumed run
// draws the same pool), then each step regresses net on opt.Batch of them.
// net must have been built for s's condition space.
func (s *SR) TrainCondNet(net *CondNet, data *dataset.Set, opt CondTrainOptions) (*trainloop.Trainer, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if err := s.CheckCondNet(net); err != nil {
		return nil, err
	}
	if err := s.checkPoolData(data, opt); err != nil {
		return nil, err
	}
	var tr *trainloop.Trainer
	var pool *CondPool
	loss := func(tp *tensor.Tape, rng *rand.Rand) (*tensor.Tensor, error) {
		if pool == nil {
			var err error
			if pool, err = s.NewCondPool(rand.New(rand.NewPCG(tr.Opt.Seed, math.MaxUint64)), data, opt.Pool, opt); err != nil {
				return nil, err
			}
		}
		idx := make([]int, opt.Batch)
		for i := range idx {
			idx[i] = rng.IntN(opt.Pool)
		}
		return pool.loss(tp, net, idx), nil
	}
	tr, err := trainloop.NewTrainer(CondTrainKind, &net.Config, net.Params.List(), opt.Recipe, loss)
	return tr, err
}
