// Package methods is the table of upscaling methods that every front end
// offers (zoomdiff upscale, eval, serve, bench): the plain kernels, the
// diffusion model with its two built-in weights, the auto-encoder's round
// trip, and the two baselines.
// The table is written out here, so which methods exist never depends on
// which packages happen to be imported.
package methods

import (
	"fmt"
	"strings"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/baseline/idm"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Options configures a method when it is created.
type Options struct {
	// Model is the path of the method's weights (or a "builtin:" name),
	// for learned methods; "" means the method's default.
	Model string
	// Params holds method-specific settings as name=value strings (e.g.
	// steps, seed), so new methods need no change here or in the CLI.
	Params map[string]string
	// Condition is the condition network an SR model samples with (a
	// file or a "builtin:" name); "" gives the model builtin:cond where
	// it fits (models.SR).
	Condition string
}

// Info describes a method.
type Info struct {
	Name    string // what --method accepts
	Summary string // one line for help texts
}

// entry is one row of the table.
type entry struct {
	Info
	open func(Options) (render.Method, error)
}

// kernel is the row of a plain resampling kernel. It has no settings and
// ignores those given (the server passes a seed and its model path to
// every method).
func kernel(m resample.Method, summary string) entry {
	return entry{Info{m.String(), summary}, func(Options) (render.Method, error) { return render.Resampler{Method: m}, nil }}
}

// table lists every method, by name.
var table = []entry{
	kernel(resample.Area, "area average when shrinking, pixel repetition when enlarging"),
	kernel(resample.Bicubic, "MATLAB-compatible bicubic (the benchmark baseline)"),
	kernel(resample.Bilinear, "bilinear (triangle kernel)"),
	{Info{idm.Kind, idm.Summary}, func(o Options) (render.Method, error) { return idm.NewMethod(o.Model, o.Params) }},
	kernel(resample.Lanczos3, "Lanczos-3 windowed sinc"),
	{Info{liif.Kind, liif.Summary}, func(o Options) (render.Method, error) { return liif.NewMethod(o.Model, o.Params) }},
	{Info{"model", "latent diffusion SR with the implicit decoder (--model FILE, default builtin:sr; params " + diffusion.SampleParams + ")"},
		func(o Options) (render.Method, error) {
			return models.SRMethod(o.Model, "builtin:sr", o.Condition, o.Params)
		}},
	kernel(resample.Nearest, "nearest neighbour"),
	{Info{"real", "the model method with builtin:real: for photos with blur, noise or JPEG artefacts (same params)"},
		func(o Options) (render.Method, error) {
			return models.SRMethod(o.Model, "builtin:real", o.Condition, o.Params)
		}},
	{Info{"reconstruct", "the auto-encoder's round trip alone, no diffusion: what stage 1 draws at any size (--model AE, default builtin:ae)"},
		func(o Options) (render.Method, error) {
			m, err := models.AutoEncoder(o.Model)
			if err != nil {
				return nil, err
			}
			return autoencoder.Reconstruct{Model: m}, nil
		}},
}

// New creates the method called name (case-insensitive).
func New(name string, o Options) (render.Method, error) {
	for _, e := range table {
		if strings.EqualFold(e.Name, name) {
			m, err := e.open(o)
			if err != nil {
				return nil, fmt.Errorf("method %s: %w", e.Name, err)
			}
			return m, nil
		}
	}
	var names []string
	for _, e := range table {
		names = append(names, e.Name)
	}
	return nil, fmt.Errorf("unknown method %q (available: %s)", name, strings.Join(names, ", "))
}

// List returns every method, sorted by name.
func List() []Info {
	out := make([]Info, len(table))
	for i, e := range table {
		out[i] = e.Info
	}
	return out
}

// RealJPEGQuality is the JPEG quality at or below which an input is served
// better by the real-photo model (method real) than by the benchmark model
// (method model with builtin:sr). Measured ×4 with each model's default
// sampling on the held-out bsds photos and Set14 saved as JPEG after the
// ÷4 at quality 75, 85, 90 and 95, real against the benchmark model,
// PSNR-Y: +0.44, +0.40, +0.34, +0.13 dB (bsds) and +0.40, +0.29, +0.15,
// −0.14 (Set14); on clean inputs −0.12 and −0.40. Its NIQE is about one
// point higher at every quality: it smooths the blocks and ringing away
// where the benchmark model sharpens them (README, "Real photos").
const RealJPEGQuality = 90

// Note is what a front end tells its user about upscaling with method (and
// Options.Model model) an image saved as JPEG at jpegQuality
// (imageio.Image.JPEGQuality; 0 for other formats): for the benchmark
// model and a quality of RealJPEGQuality or lower, that method real serves
// it better; "" otherwise.
func Note(method, model string, jpegQuality int) string {
	if method != "model" || jpegQuality == 0 || jpegQuality > RealJPEGQuality {
		return ""
	}
	if b, ok := models.Find(model); model != "" && (!ok || b.Name != "builtin:sr") {
		return ""
	}
	return fmt.Sprintf("the input was saved as JPEG at quality %d or so: the real method (builtin:real) is trained for compressed photos and scores 0.15 to 0.44 dB higher than this model on such inputs", jpegQuality)
}
