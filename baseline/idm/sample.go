package idm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Limits of one call. The encoder works at the input's size; everything
// else is held at the output's, per sample (see the package doc).
const (
	MaxInputPixels  = 1 << 22
	MaxOutputPixels = 1 << 28
	maxSamples      = 64
)

// DefaultSampleOptions is how the baseline samples by default: IDM's
// DDIM with 50 steps, one sample, from pure noise at τ = 1, in windows of
// 64 output pixels (the training crop, and the side of our own model's
// latent windows) overlapping by 16; no back-projection, no margin.
func DefaultSampleOptions() diffusion.SampleOptions {
	return diffusion.SampleOptions{Sampler: diffusion.SamplerDDIM, Steps: 50, Samples: 1, Temperature: 1, Tile: 64, Overlap: 16}
}

// resolve rejects what this model cannot do and rounds the tile to the
// U-Net's multiple. The options are our sampler's
// (diffusion.SampleOptions), so the baselines take the same parameters.
func (m *Model) resolve(o diffusion.SampleOptions) (diffusion.SampleOptions, error) {
	if o.Tile < 1 {
		return o, fmt.Errorf("tile %d: want a positive side", o.Tile)
	}
	mult := m.UNet.Config.Multiple()
	o.Tile = max(mult, o.Tile/mult*mult) // windows keep the U-Net's size constraint
	switch {
	case o.Sampler != diffusion.SamplerDDIM && o.Sampler != diffusion.SamplerDDPM:
		return o, fmt.Errorf("sampler %q: want %s or %s", o.Sampler, diffusion.SamplerDDIM, diffusion.SamplerDDPM)
	case o.Steps < 1 || o.Steps > m.Sched.T():
		return o, fmt.Errorf("sampling steps %d outside [1, %d]", o.Steps, m.Sched.T())
	case math.IsNaN(o.Eta) || o.Eta < 0 || o.Eta > 10:
		return o, fmt.Errorf("eta %g outside [0, 10]", o.Eta)
	case o.Samples < 1 || o.Samples > maxSamples:
		return o, fmt.Errorf("samples %d outside [1, %d]", o.Samples, maxSamples)
	case o.Strength != 0 || o.Consistency != 0 || o.Margin != 0 || o.Temperature != 1 || o.Detail != 0:
		return o, fmt.Errorf("idm samples from pure noise at τ = 1 in image space, has no back-projection, pads no margin and has no latent decoder: strength, temperature, consistency, margin and detail are not its parameters")
	case o.Overlap < 0 || o.Overlap >= o.Tile:
		return o, fmt.Errorf("tile %d with overlap %d: want 0 ≤ overlap < tile", o.Tile, o.Overlap)
	}
	return o, nil
}

// CheckOptions reports whether opt is usable, so a front end can refuse
// bad settings before any work starts.
func (m *Model) CheckOptions(opt diffusion.SampleOptions) error {
	_, err := m.resolve(opt)
	return err
}

// band is how many output rows of the condition are rendered at a time.
const band = 64

// condition renders the U-Net's condition for lr at w×h: per output
// pixel the bicubic up-sample of lr and the implicitly up-sampled
// features, in [1,ph,pw,3+CondCh], the rows and columns beyond h and w
// (padding to the U-Net's multiple) repeating the last ones.
func (m *Model) condition(ctx context.Context, lr *imageio.Image, w, h, pw, ph int) (*tensor.Tensor, error) {
	up, err := resample.Resize(lr.Pix, lr.W, lr.H, 3, w, h, resample.Options{Method: resample.Bicubic})
	if err != nil {
		return nil, fmt.Errorf("idm condition: %w", err)
	}
	f := m.head.Prepare(nil, m.enc.Forward(nil, liif.Normalize(lr.Pix, 1, lr.H, lr.W, 3)))
	cc := m.Config.CondCh
	c := 3 + cc
	cond := tensor.New(1, ph, pw, c)
	for y0 := 0; y0 < h; y0 += band {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		y1 := min(y0+band, h)
		feats := m.head.Rows(f, h, w, y0, y1, m.Config.QueryBatch)
		for y := y0; y < y1; y++ {
			for x := range w {
				dst := cond.Data[(y*pw+x)*c : (y*pw+x+1)*c]
				for k, v := range up[(y*w+x)*3 : (y*w+x+1)*3] {
					dst[k] = 2*v - 1
				}
				copy(dst[3:], feats[((y-y0)*w+x)*cc:])
			}
		}
	}
	for y := range ph {
		for x := range pw {
			if y >= h || x >= w {
				src := (min(y, h-1)*pw + min(x, w-1)) * c
				copy(cond.Data[(y*pw+x)*c:(y*pw+x+1)*c], cond.Data[src:src+c])
			}
		}
	}
	return cond, nil
}

// Upscale super-resolves lr to w×h (any size and aspect) and returns
// opt.Samples samples, clamped to [0, 1], grey again for a grey input.
// Sample k draws all its noise from a generator seeded by (opt.Seed, k),
// so a seed gives the same samples whatever the tiling. The reverse
// process runs on the whole output (padded to the U-Net's multiple) from
// pure noise; cancelling ctx stops it between steps and windows.
func (m *Model) Upscale(ctx context.Context, lr *imageio.Image, w, h int, opt diffusion.SampleOptions) ([]*imageio.Image, error) {
	opt, err := m.resolve(opt)
	if err != nil {
		return nil, err
	}
	if err := lr.Check(); err != nil {
		return nil, fmt.Errorf("idm input: %w", err)
	}
	if int64(lr.W)*int64(lr.H) > MaxInputPixels {
		return nil, fmt.Errorf("idm input %dx%d has more than %d pixels", lr.W, lr.H, MaxInputPixels)
	}
	if w < 1 || h < 1 || int64(w)*int64(h)*int64(opt.Samples) > MaxOutputPixels {
		return nil, fmt.Errorf("idm output %dx%d, %d sample(s): want 1 to %d pixels in all", w, h, opt.Samples, MaxOutputPixels)
	}
	mult := m.UNet.Config.Multiple()
	ph, pw := (h+mult-1)/mult*mult, (w+mult-1)/mult*mult
	cond, err := m.condition(ctx, lr, w, h, pw, ph)
	if err != nil {
		return nil, err
	}
	per := ph * pw * 3
	x := tensor.New(opt.Samples, ph, pw, 3)
	rngs := make([]*rand.Rand, opt.Samples)
	for k := range rngs {
		rngs[k] = rand.New(rand.NewPCG(opt.Seed, uint64(k)))
		for i := range per {
			x.Data[k*per+i] = float32(rngs[k].NormFloat64())
		}
	}
	noise := make([]func() float64, opt.Samples)
	for k, rng := range rngs {
		noise[k] = rng.NormFloat64
	}
	err = m.den.Reverse(ctx, x, m.Sched.Timesteps(opt.Steps), opt, noise, func(t int) ([]float32, error) {
		eps, err := m.den.PredictEps(ctx, x, cond, t, opt.Tile, opt.Overlap)
		if err != nil {
			return nil, err
		}
		clipDenoised(x.Data, eps, m.Sched, t)
		return eps, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*imageio.Image, opt.Samples)
	for k := range out {
		img := &imageio.Image{W: w, H: h, Pix: make([]float32, 0, w*h*3), Gray: lr.Gray}
		for y := range h {
			for _, v := range x.Data[k*per+y*pw*3 : k*per+(y*pw+w)*3] {
				img.Pix = append(img.Pix, (v+1)/2)
			}
		}
		autoencoder.FinishRGB(img.Pix, lr.Gray)
		out[k] = img
	}
	return out, nil
}

// clipDenoised clamps the clean image the step aims at, x̂0 = (x_t −
// √(1−ᾱ)·ε̂)/√ᾱ, to the image range [−1, 1] and rewrites ε̂ to match,
// ε̂ = (x_t − √ᾱ·x̂0)/√(1−ᾱ), as IDM's and SR3's samplers do
// (clip_denoised). Early in the reverse process √ᾱ is a few hundredths,
// so a small error in ε̂ would otherwise put x̂0 far outside any image and
// the sample never recovers; latents have no such range, so our own
// sampler does not clip.
func clipDenoised(x, eps []float32, sc *diffusion.Schedule, t int) {
	sa, sb := sc.Coefs(t)
	for i, xt := range x {
		x0 := (float64(xt) - sb*float64(eps[i])) / sa
		if c := math.Max(-1, math.Min(1, x0)); c != x0 {
			eps[i] = float32((float64(xt) - sa*c) / sb)
		}
	}
}

// Upscaler adapts a model to render.Sampler: Upscale returns the first
// sample of Opt, UpscaleSamples several.
type Upscaler struct {
	Model *Model
	Opt   diffusion.SampleOptions
}

// Name identifies the method in tables.
func (u *Upscaler) Name() string { return Kind }

// Upscale returns lr super-resolved to w×h.
func (u *Upscaler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	outs, err := u.UpscaleSamples(ctx, lr, w, h, 1)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// UpscaleSamples returns n samples of lr super-resolved to w×h.
func (u *Upscaler) UpscaleSamples(ctx context.Context, lr *imageio.Image, w, h, n int) ([]*imageio.Image, error) {
	opt := u.Opt
	opt.Samples = n
	return u.Model.Upscale(ctx, lr, w, h, opt)
}

// Summary describes the method for help texts.
const Summary = "image-space implicit diffusion baseline after IDM: U-Net at the output resolution (--model FILE, or random:idm for untrained weights; params sampler, steps, eta, seed, tile, overlap)"

// NewMethod opens the IDM baseline at model as a render.Method with the
// sampling params (see diffusion.ParseSampleOptions).
func NewMethod(model string, params map[string]string) (render.Method, error) {
	opt, err := diffusion.ParseSampleOptions(DefaultSampleOptions(), params)
	if err != nil {
		return nil, err
	}
	m, err := Open(model)
	if err != nil {
		return nil, err
	}
	if err := m.CheckOptions(opt); err != nil {
		return nil, err
	}
	return &Upscaler{Model: m, Opt: opt}, nil
}
