package diffusion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// errNotSR refuses super-resolution with a generator, which has no
// condition input.
var errNotSR = errors.New("this model is a generator (no low-resolution input): use it to generate, not to upscale")

// MaxGenerate bounds one Generate call; latents are small, but each is a
// full reverse process.
const MaxGenerate = 100000

// Generator draws new images from noise: a latent diffusion model whose
// U-Net takes no condition, over its auto-encoder's latents. It offers
// what generation needs; the machinery it shares with super-resolution
// (U-Net, schedule, latent statistics, auto-encoder, training, saving) is
// its Model, an SR whose Config.Generator is set, so that a generator can
// never be asked to upscale nor an SR model to generate.
type Generator struct {
	Model *SR
}

// Generate samples n new latents from noise, each
// of the side it was trained at (TrainLatent), ready to be decoded at any
// size with Decoder: the image's natural size is InW×InH, and every other
// size renders the same content. Sample k's noise comes from (opt.Seed, k)
// alone, so the first samples stay the same when more are drawn (up to
// float rounding, about 1e-7: the batch size changes the order of the
// U-Net's sums); the same seed and count repeat exactly. Samples run
// through the U-Net in batches to bound memory. opt.Samples, Strength and
// Consistency play no part. Progress counts denoising steps over all
// batches.
func (g *Generator) Generate(ctx context.Context, n int, opt SampleOptions) ([]*Latent, error) {
	s := g.Model
	if n < 1 || n > MaxGenerate {
		return nil, fmt.Errorf("generate %d images: want 1 to %d", n, MaxGenerate)
	}
	opt.Samples, opt.Strength, opt.Consistency = 1, 0, 0
	if err := opt.resolve(s); err != nil {
		return nil, err
	}
	side := s.Config.TrainLatent
	f := s.AE.Config.Factor()
	per := side * side * s.AE.Config.LatentCh
	batches := (n + maxSamples - 1) / maxSamples
	progress := opt.Progress
	out := make([]*Latent, 0, n)
	for b := range batches {
		first := b * maxSamples
		o := opt
		o.Samples = min(maxSamples, n-first)
		if progress != nil {
			o.Progress = func(done, total int) { progress(b*total+done, batches*total) }
		}
		z, err := s.sampleLatents(ctx, side, side, nil, first, o)
		if err != nil {
			return nil, err
		}
		s.denormalize(z.Data)
		for k := range o.Samples {
			zk := tensor.FromData(z.Data[k*per:(k+1)*per], 1, side, side, s.AE.Config.LatentCh)
			out = append(out, &Latent{Z: zk, ViewH: 1, ViewW: 1, InW: side * f, InH: side * f})
		}
	}
	return out, nil
}

// AddClasses returns g made class-conditional on the named classes (in
// label order): the same U-Net weights, latent statistics and
// auto-encoder, plus a class embedding at zero, so that it samples as g
// does until it is trained on labelled data.
func (g *Generator) AddClasses(names []string) (*Generator, error) {
	if g.Model.UNet.Config.Classes > 0 {
		return nil, fmt.Errorf("generator already has %d classes", g.Model.UNet.Config.Classes)
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("a class-conditional generator needs at least 2 classes, have %d", len(names))
	}
	cfg := g.Model.Config
	cfg.UNet.Classes, cfg.Classes = len(names), slices.Clone(names)
	m, err := build(cfg, g.Model.AE, 0)
	if err != nil {
		return nil, err
	}
	old := map[string]*tensor.Tensor{}
	for _, p := range g.Model.UNet.Params.List() {
		old[p.Name] = p.T
	}
	for _, p := range m.UNet.Params.List() {
		if o, ok := old[p.Name]; ok {
			copy(p.T.Data, o.Data)
		}
	}
	return &Generator{Model: m}, nil
}

// ClassIndex returns the label of a class given by name or number, for a
// class-conditional generator.
func (g *Generator) ClassIndex(class string) (int, error) {
	names := g.Model.Config.Classes
	if len(names) == 0 {
		return 0, fmt.Errorf("class %q: this generator has no classes", class)
	}
	if i := slices.Index(names, class); i >= 0 {
		return i, nil
	}
	if i, err := strconv.Atoi(class); err == nil && i >= 0 && i < len(names) {
		return i, nil
	}
	return 0, fmt.Errorf("class %q: want one of %s (or 0 to %d)", class, strings.Join(names, ", "), len(names)-1)
}

// MaxRenderPixels bounds Render, which holds the whole image.
const MaxRenderPixels = 1 << 26

// Render decodes a generated latent whole at w×h, clamped to [0, 1]. For
// outputs too large to hold, decode band by band with Decoder.
func (g *Generator) Render(l *Latent, w, h int) (*imageio.Image, error) {
	if w < 1 || h < 1 || int64(w)*int64(h) > MaxRenderPixels {
		return nil, fmt.Errorf("render size %dx%d: want 1 to %d pixels", w, h, MaxRenderPixels)
	}
	d, err := g.Model.Decoder(l)
	if err != nil {
		return nil, err
	}
	img := d.RenderImage(w, h)
	autoencoder.FinishRGB(img.Pix, false)
	return img, nil
}

// ImageGenerator generates whole images with a generator model. It is
// what the HTTP server's /v1/generate calls; a model is safe to share
// between concurrent calls.
type ImageGenerator struct {
	Model *Generator
	Steps int // denoising steps of DefaultGenSampleOptions' sampler
}

// Classes names the classes a request may ask for (none for an
// unconditional model).
func (g ImageGenerator) Classes() []string { return g.Model.Model.Config.Classes }

// Generate returns n images of w×h drawn with seed, of class (by name or
// number; "" for the classes in turn) at classifier-free guidance weight
// guidance (GuidanceByModel: the default).
func (g ImageGenerator) Generate(ctx context.Context, n, w, h int, seed uint64, class string, guidance float64) ([]*imageio.Image, error) {
	opt := DefaultGenSampleOptions()
	opt.Steps, opt.Seed, opt.Class, opt.Guidance = g.Steps, seed, class, guidance
	lats, err := g.Model.Generate(ctx, n, opt)
	if err != nil {
		return nil, err
	}
	out := make([]*imageio.Image, len(lats))
	for k, l := range lats {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if out[k], err = g.Model.Render(l, w, h); err != nil {
			return nil, err
		}
	}
	return out, nil
}
