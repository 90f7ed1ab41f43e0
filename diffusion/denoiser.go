package diffusion

import (
	"context"
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Denoiser is a U-Net with its forward process and prediction target: the
// part of a diffusion model that does not depend on what is denoised. SR
// models denoise latents through it (SR.den); the image-space baseline
// (baseline/idm) runs it on images at the output resolution, so the two
// differ in what they denoise, not in how.
type Denoiser struct {
	UNet       *UNet
	Sched      *Schedule
	Prediction string // PredictEps or PredictV
}

// PredictEps returns ε̂ (converted from v̂ for a v-predicting U-Net) for
// every sample of x [S,H,W,C] joined on the channel axis with the shared
// condition cond [1,H,W,Cc] (nil for none) at timestep t. The U-Net runs
// over overlapping tile×tile windows blended as SR sampling blends them
// (see SampleOptions.Tile), so its activations are bounded by the tile;
// x, cond and the result are held whole. H and W must be multiples of
// UNet.Config.Multiple(); tile is rounded down to such a multiple (at
// least one) and overlap must be below the result.
func (d *Denoiser) PredictEps(ctx context.Context, x, cond *tensor.Tensor, t, tile, overlap int) ([]float32, error) {
	m := d.UNet.Config.Multiple()
	tile = max(m, tile/m*m)
	if overlap < 0 || overlap >= tile {
		return nil, fmt.Errorf("tile %d with overlap %d: want 0 ≤ overlap < tile", tile, overlap)
	}
	if len(x.Shape) != 4 || (cond != nil && (len(cond.Shape) != 4 || cond.Shape[0] != 1 || !tensor.SameShape(cond.Shape[1:3], x.Shape[1:3]))) {
		return nil, fmt.Errorf("denoiser input %v with condition %v: want [S H W C] and [1 H W Cc]", x.Shape, cond)
	}
	joined := x.Shape[3]
	if cond != nil {
		joined += cond.Shape[3]
	}
	ts := make([]float32, x.Shape[0])
	if err := d.UNet.CheckInput(&tensor.Tensor{Shape: []int{x.Shape[0], x.Shape[1], x.Shape[2], joined}}, ts); err != nil {
		return nil, err
	}
	out, err := d.predictTiled(ctx, x, cond, t, newTilePlan(x.Shape[1], x.Shape[2], tile, overlap, m), guide{}, nil)
	if err != nil {
		return nil, err
	}
	d.toEps(out, x.Data, t)
	return out, nil
}

// Reverse runs the reverse process on the batch x [S, …] in place
// through the timesteps ts, the one sampler loop of every diffusion model
// in the project (our latent SR, the generator, the image-space baseline):
// at each t, eps gives ε̂ for the whole batch (the caller may adjust it,
// as the baseline clips x̂0 to the image range), then every sample steps
// with opt's sampler and its own noise, noise[k]. It checks ctx between
// steps, fails when x stops being finite and reports to opt.Progress.
func (d *Denoiser) Reverse(ctx context.Context, x *tensor.Tensor, ts []int, opt SampleOptions, noise []func() float64, eps func(t int) ([]float32, error)) error {
	n := x.Shape[0]
	if len(noise) != n {
		return fmt.Errorf("reverse process: %d noise sources for %d samples", len(noise), n)
	}
	per := x.Len() / n
	var x0Last []float32 // DPM-Solver's previous x̂0 of every sample
	if opt.Sampler == SamplerDPM {
		x0Last = make([]float32, x.Len())
	}
	for i, t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := eps(t)
		if err != nil {
			return err
		}
		prev, tLast := -1, -1
		if i+1 < len(ts) {
			prev = ts[i+1]
		}
		if i > 0 {
			tLast = ts[i-1]
		}
		for k := range n {
			var hist []float32
			if x0Last != nil {
				hist = x0Last[k*per : (k+1)*per]
			}
			d.step(x.Data[k*per:(k+1)*per], e[k*per:(k+1)*per], hist, t, tLast, prev, opt, noise[k])
		}
		if !x.AllFinite() {
			return fmt.Errorf("sampling step %d (t=%d): the sample is no longer finite", i+1, t)
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(ts))
		}
	}
	return nil
}

// step moves x from timestep t to prev (−1: the clean end) given ε̂, in
// place, with opt's sampler: DDPMStep for SamplerDDPM, DPMSolverStep for
// SamplerDPM (x0Last is its memory of the step before, which started at
// tLast, −1 on the first step), else DDIMStep with opt.Eta. noise draws
// the sample's fresh noise.
func (d *Denoiser) step(x, eps, x0Last []float32, t, tLast, prev int, opt SampleOptions, noise func() float64) {
	switch opt.Sampler {
	case SamplerDDPM:
		d.Sched.DDPMStep(x, eps, t, prev, noise)
	case SamplerDPM:
		d.Sched.DPMSolverStep(x, eps, x0Last, t, tLast, prev)
	default:
		d.Sched.DDIMStep(x, eps, t, prev, opt.Eta, noise)
	}
}

// outputCoefs returns (a, b) with ẑ0 = a·z_t + b·out for the U-Net's
// output out at timestep t, whichever quantity it predicts.
func (d *Denoiser) outputCoefs(t int) (a, b float64) {
	sa, sb := d.Sched.Coefs(t)
	if d.Prediction == PredictV {
		return sa, -sb // ẑ0 = √ᾱ·z_t − √(1−ᾱ)·v̂
	}
	return 1 / sa, -sb / sa // ẑ0 = (z_t − √(1−ᾱ)·ε̂)/√ᾱ
}

// toEps converts the U-Net's output at timestep t to ε̂ in place (the
// samplers' currency): ε̂ = √ᾱ·v̂ + √(1−ᾱ)·z_t for v-prediction.
func (d *Denoiser) toEps(out, zt []float32, t int) {
	if d.Prediction != PredictV {
		return
	}
	sa, sb := d.Sched.Coefs(t)
	for i, v := range out {
		out[i] = float32(sa*float64(v) + sb*float64(zt[i]))
	}
}

// Target writes the U-Net's regression target for clean data x0, noise
// eps and timestep t into dst: ε, or v = √ᾱ·ε − √(1−ᾱ)·x0.
func (d *Denoiser) Target(dst, x0, eps []float32, t int) {
	if d.Prediction != PredictV {
		copy(dst, eps)
		return
	}
	sa, sb := d.Sched.Coefs(t)
	for i := range dst {
		dst[i] = float32(sa*float64(eps[i]) - sb*float64(x0[i]))
	}
}
