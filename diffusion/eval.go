package diffusion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
)

// DenoiseLoss is the ε-loss of the current weights on a fixed draw (a
// v-predicting model's output is converted to ε̂ first, so the numbers of
// the two parameterisations compare): n
// crops from data chosen by seed, at timesteps spread evenly over [0, T)
// rather than drawn, so the number moves only when the weights do. It is
// the smooth validation curve of stage 2.
func (s *SR) DenoiseLoss(data *dataset.Set, n, crop int, seed uint64) (float64, error) {
	if n < 1 {
		return 0, fmt.Errorf("denoise loss over %d crops", n)
	}
	if err := checkCrop(s, crop); err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xda7a))
	b, err := s.makeBatch(rng, data, n, crop)
	if err != nil {
		return 0, err
	}
	per := b.z0.Len() / n
	ts := make([]float32, n)
	for i := range n {
		b.ts[i] = (2*i + 1) * s.Sched.T() / (2 * n)
		ts[i] = float32(b.ts[i])
		s.Sched.QSample(b.zt.Data[i*per:(i+1)*per], b.z0.Data[i*per:(i+1)*per], b.eps.Data[i*per:(i+1)*per], b.ts[i])
	}
	// One crop at a time bounds memory for large n.
	var sum float64
	for i := range n {
		one := func(t *tensor.Tensor) *tensor.Tensor {
			return tensor.FromData(t.Data[i*per:(i+1)*per], 1, t.Shape[1], t.Shape[2], t.Shape[3])
		}
		var cond *tensor.Tensor
		if b.cond != nil {
			cond = one(b.cond)
		}
		pred := s.UNet.Forward(nil, joinBatch(one(b.zt), cond), ts[i:i+1])
		s.den().toEps(pred.Data, b.zt.Data[i*per:(i+1)*per], b.ts[i])
		sum += float64((*tensor.Tape)(nil).MSELoss(pred, one(b.eps)).Data[0])
	}
	return sum / float64(n), nil
}

// Upscaler is an SR model as a render.Method: Upscale gives the first
// sample of Opt, Stream any number of samples rendered on demand.
type Upscaler struct {
	SR  *SR
	Opt SampleOptions
}

// Name identifies the method in tables.
func (u *Upscaler) Name() string { return "model" }

// Upscale returns lr super-resolved to w×h.
func (u *Upscaler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	opt := u.Opt
	opt.Samples = 1
	outs, err := u.SR.Upscale(ctx, lr, w, h, opt)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// Stream samples n latents of lr and renders them at w×h on demand.
func (u *Upscaler) Stream(ctx context.Context, lr *imageio.Image, w, h, n int) (render.Source, error) {
	opt := u.Opt
	opt.Samples = n
	return u.SR.Stream(ctx, lr, w, h, opt)
}

// SetProgress has the sampler report its steps to f (the server's jobs
// and web page show it).
func (u *Upscaler) SetProgress(f func(done, total int)) { u.Opt.Progress = f }

// CheckOptions reports whether opt is usable with s, so a front end can
// refuse bad settings before any work starts.
func (s *SR) CheckOptions(opt SampleOptions) error { return opt.resolve(s) }

// SampleParams names, for help texts, the parameters ParseSampleOptions
// reads.
const SampleParams = "sampler, steps, eta, seed, strength, tile, overlap, encode-tile, exact-condition, consistency, margin, detail, temperature"

// ParseSampleOptions returns base with the sampler settings in params,
// name=value strings (sampler, steps, eta, seed, strength, tile, overlap,
// encode-tile, exact-condition: true or false, consistency, margin,
// detail, temperature: a number or auto, for TemperatureByScale), the form
// the CLI's --param flags and the server's query parameters take. Unknown names are errors, so a typo does not
// silently leave a default in place.
func ParseSampleOptions(base SampleOptions, params map[string]string) (SampleOptions, error) {
	o := base
	for k, v := range params {
		var err error
		switch k {
		case "sampler":
			o.Sampler = v
		case "steps":
			o.Steps, err = strconv.Atoi(v)
		case "eta":
			o.Eta, err = strconv.ParseFloat(v, 64)
			if err == nil && (math.IsNaN(o.Eta) || math.IsInf(o.Eta, 0)) {
				err = fmt.Errorf("not finite")
			}
		case "seed":
			o.Seed, err = strconv.ParseUint(v, 10, 64)
		case "strength":
			o.Strength, err = strconv.ParseFloat(v, 64)
		case "tile":
			o.Tile, err = strconv.Atoi(v)
		case "overlap":
			o.Overlap, err = strconv.Atoi(v)
		case "encode-tile":
			o.EncodeTile, err = strconv.Atoi(v)
		case "exact-condition":
			o.ExactCondition, err = strconv.ParseBool(v)
		case "consistency":
			o.Consistency, err = strconv.Atoi(v)
		case "margin":
			o.Margin, err = strconv.Atoi(v)
		case "detail":
			o.Detail, err = strconv.ParseFloat(v, 64)
		case "temperature":
			o.Temperature = TemperatureByScale
			if v != "auto" {
				o.Temperature, err = strconv.ParseFloat(v, 64)
			}
		default:
			return o, fmt.Errorf("unknown sampling parameter %q (have %s)", k, SampleParams)
		}
		if err != nil {
			return o, fmt.Errorf("sampling parameter %s=%q: %w", k, v, err)
		}
	}
	return o, nil
}
