package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
)

// paramFlags collects repeated --param name=value settings for a method.
type paramFlags map[string]string

// modelCard is the card a training run stores in its model file: the step
// and stage, then the --card entries given.
func (p paramFlags) modelCard(step int, stage string) map[string]string {
	card := map[string]string{"steps": strconv.Itoa(step), "stage": stage}
	for k, v := range p {
		card[k] = v
	}
	return card
}

func (p paramFlags) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("%s given twice", k) // one of the two would be lost
	}
	p[k] = v
	return nil
}

func methodList() string {
	var names []string
	for _, m := range methods.List() {
		names = append(names, m.Name)
	}
	return strings.Join(names, "|")
}

// upscaleOptions are the flags of `zoomdiff upscale` once parsed, with
// the input and whether it is a folder.
type upscaleOptions struct {
	method, model string
	condition     string
	samples       int
	seed          uint64
	steps         int
	sampler       string
	eta           float64
	temperature   temperatureFlag
	consistency   int
	detail        float64
	mean, std     string
	band          int
	quiet         bool
	params        paramFlags
	scale         float64
	size, out     string
	overwrite     bool
	maxPixels     int64
	quality       int
	bits16        bool
	in            string
	folder        bool
	set           map[string]bool // the flags given on the command line
}

// upscaleFlags declares the flags of `zoomdiff upscale`, bound to the
// fields of the returned options.
func upscaleFlags() (*flag.FlagSet, *upscaleOptions) {
	o := &upscaleOptions{params: paramFlags{}}
	fs := flag.NewFlagSet("upscale", flag.ContinueOnError)
	fs.StringVar(&o.method, "method", "model", "upscaling method: "+methodList())
	fs.StringVar(&o.model, "model", "", "weights file or built-in name, for learned methods (model: default builtin:sr; real: builtin:real, the same as --model real)")
	fs.StringVar(&o.condition, "condition", "", "condition network file for the SR model, from zoomdiff train condition (default: builtin:cond where it fits; --param exact-condition=true: the encoder)")
	fs.IntVar(&o.samples, "samples", 1, "model: independent samples to draw (OUT-1, OUT-2, … when more than one)")
	fs.Uint64Var(&o.seed, "seed", 0, "model: random seed; the same seed gives the same samples")
	fs.IntVar(&o.steps, "steps", 0, fmt.Sprintf("model: denoising steps: %s; %d with a model file", models.StepsHelp(), diffusion.DefaultSRSteps))
	fs.StringVar(&o.sampler, "sampler", models.SamplerAuto, "model: "+models.SamplerAuto+" (the built-in few-step student, with "+diffusion.SamplerDDIM+", where it serves --steps; else "+diffusion.SamplerDPM+"), "+
		diffusion.SamplerDPM+" (deterministic, second order: 10 steps match DDIM's 20), "+diffusion.SamplerDDIM+" or "+diffusion.SamplerDDPM)
	fs.Float64Var(&o.eta, "eta", 0, "model: DDIM η (0 deterministic given the seed, 1 DDPM-like)")
	fs.Var(&o.temperature, "temperature", "model: noise temperature τ in [0, 2]: 1 samples the model's distribution (most natural detail), lower trades detail for fidelity (PSNR), 0 is the deterministic mean-seeking end; auto is "+diffusion.TemperatureSchedule())
	fs.IntVar(&o.consistency, "consistency", diffusion.DefaultConsistency, "model: back-projection rounds that make the output, down-sampled, match the input (0: none)")
	fs.Float64Var(&o.detail, "detail", diffusion.DefaultDetail, "model: the largest scale at which the decoder draws every pixel; larger outputs are drawn at it and enlarged bicubically (lower: fewer invented fine details, higher PSNR/SSIM; faster huge outputs)")
	fs.StringVar(&o.mean, "mean", "", "model: also write the mean of the samples to this file")
	fs.StringVar(&o.std, "std", "", "model: also write the per-pixel standard deviation of the samples (×8, grey) to this file")
	fs.IntVar(&o.band, "band", render.DefaultBand, "model, real, reconstruct: output rows decoded at a time (memory ∝ width × band)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress output")
	fs.Var(o.params, "param", "method setting name=value (repeatable)")
	fs.Float64Var(&o.scale, "scale", 0, "scale factor, any real number above 0 (output ceil(W·S)×ceil(H·S))")
	fs.StringVar(&o.size, "size", "", "output size WxH, or Wx / xH to keep the aspect ratio")
	fs.StringVar(&o.out, "o", "", "output file, .png, .jpg or .tif, or output folder when INPUT is a folder (required)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "folder mode: redo outputs that already exist (default: skip them)")
	fs.Int64Var(&o.maxPixels, "max-pixels", 0, "refuse outputs with more pixels than this (default: 100 M for methods that hold the output whole, 1 G for the model's streamed output)")
	fs.IntVar(&o.quality, "quality", 95, "JPEG quality 1-100")
	fs.BoolVar(&o.bits16, "16", false, "write 16-bit PNG or TIFF (automatic when the input has 16 bits a sample)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT [flags]")
		fmt.Fprintln(fs.Output(), "       zoomdiff upscale DIR (--scale S | --size WxH) -o OUTDIR [--overwrite] [flags]")
		fs.PrintDefaults()
	}
	return fs, o
}

// parseUpscale parses and checks the command line of `zoomdiff upscale`
// as far as it does not depend on the method, so that a mistake fails
// before any model is loaded.
func parseUpscale(args []string) (*upscaleOptions, error) {
	fs, o := upscaleFlags()
	if err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	switch {
	case o.set["scale"] && !(o.scale > 0 && !math.IsInf(o.scale, 1)):
		return nil, fmt.Errorf("scale %g: want a finite number above 0", o.scale)
	case o.maxPixels < 0:
		return nil, fmt.Errorf("--max-pixels %d: want a number of pixels (0: the default)", o.maxPixels)
	case o.quality < 1 || o.quality > 100:
		// Checked here, not by the JPEG encoder after all the work.
		return nil, fmt.Errorf("--quality %d: want 1 to 100", o.quality)
	case fs.NArg() != 1:
		return nil, errors.New("want exactly one input file or folder (usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT)")
	case o.out == "":
		return nil, errors.New("no output file: give -o OUTPUT")
	case o.set["scale"] == (o.size != ""):
		return nil, errors.New("give exactly one of --scale and --size")
	}
	if o.size != "" {
		if _, _, err := render.ParseSize(o.size); err != nil {
			return nil, err
		}
	}
	o.in = fs.Arg(0)
	o.folder = isDir(o.in)
	if !o.folder && isDir(o.out) {
		return nil, fmt.Errorf("-o %s is a folder: one input file needs an output file name (e.g. %s)", o.out, filepath.Join(o.out, "out.png"))
	}
	if o.folder && (o.mean != "" || o.std != "") {
		return nil, errors.New("--mean and --std name single files: they are not for folder mode")
	}
	if f, err := imageio.FormatFor(o.out); !o.folder && err == nil && f == imageio.JPEG && o.bits16 {
		return nil, fmt.Errorf("--16 with %s: JPEG holds 8 bits a sample; write .png or .tif", o.out)
	}
	return o, nil
}

// runUpscale is `zoomdiff upscale`: one file, or every image of a folder,
// with any method. The flags are all checked, and the method built,
// before the first file is read.
func runUpscale(args []string) error {
	o, err := parseUpscale(args)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	u, err := o.fileUpscale()
	if err != nil {
		return err
	}
	if o.folder {
		return o.folderUpscale(u).run(ctx)
	}
	if err := u.run(ctx, o.in, o.out); errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %s not written", o.out)
	} else if err != nil {
		return err
	}
	return nil
}

// fileUpscale builds the upscaler of one file from the options. The
// sampling flags apply to the diffusion methods (model and real) only;
// --band, and a higher default --max-pixels, to every method that renders
// in bands (render.Streamer: those two and reconstruct), since they never
// hold the output whole.
func (o *upscaleOptions) fileUpscale() (*fileUpscale, error) {
	u := &fileUpscale{scale: o.scale, size: o.size, maxPixels: o.maxPixels, samples: o.samples, mean: o.mean, std: o.std,
		band: o.band, write: imageio.WriteOptions{Quality: o.quality, Bits16: o.bits16}, quiet: o.quiet, stderr: os.Stderr}
	if o.method == "model" || o.method == "real" {
		if err := o.modelParams(); err != nil {
			return nil, err
		}
	} else {
		for _, name := range []string{"samples", "seed", "steps", "sampler", "eta", "temperature", "consistency", "detail", "mean", "std"} {
			if o.set[name] {
				return nil, fmt.Errorf("--samples, --seed, --steps, --eta, --temperature, --consistency, --detail, --mean and --std are for --method model or real, not %s", o.method)
			}
		}
	}
	u.note = func(jpegQuality int) string { return methods.Note(o.method, o.model, jpegQuality) }
	var err error
	if u.method, err = methods.New(o.method, methods.Options{Model: o.model, Condition: o.condition, Params: o.params}); err != nil {
		return nil, err
	}
	_, streamed := u.method.(render.Streamer)
	switch {
	case streamed && o.band < 1:
		return nil, fmt.Errorf("--band %d: want at least one row", o.band)
	case !streamed && o.set["band"]:
		return nil, fmt.Errorf("--band is for the methods that render in bands (model, real, reconstruct), not %s", o.method)
	case o.maxPixels == 0 && streamed:
		u.maxPixels = render.DefaultMaxStreamedPixels
	case o.maxPixels == 0:
		u.maxPixels = render.DefaultMaxOutputPixels
	}
	return u, nil
}

// modelParams checks the model flags and folds them into the method's
// params, since they are sampling params: a flag given wins over a
// --param of the same name, a --param over a flag's default.
func (o *upscaleOptions) modelParams() error {
	switch {
	case o.set["steps"] && o.steps < 1:
		return fmt.Errorf("--steps %d: want at least 1", o.steps)
	case o.samples < 1:
		return fmt.Errorf("--samples %d: want at least 1", o.samples)
	case o.std != "" && o.samples < 2:
		return fmt.Errorf("--std needs at least 2 samples (have %d)", o.samples)
	}
	if o.set["steps"] {
		o.params["steps"] = strconv.Itoa(o.steps)
	}
	for name, v := range map[string]string{"sampler": o.sampler, "eta": strconv.FormatFloat(o.eta, 'g', -1, 64),
		"seed": strconv.FormatUint(o.seed, 10), "temperature": o.temperature.String(), "consistency": strconv.Itoa(o.consistency),
		"detail": strconv.FormatFloat(o.detail, 'g', -1, 64)} {
		if _, given := o.params[name]; o.set[name] || !given {
			o.params[name] = v
		}
	}
	return nil
}

// folderUpscale is folder mode: u upscales each image, reporting to the
// folder's one bar, and a skip needs every sample file of an output.
func (o *upscaleOptions) folderUpscale(u *fileUpscale) *folderUpscale {
	f := &folderUpscale{in: o.in, out: o.out, overwrite: o.overwrite, quiet: o.quiet, stderr: os.Stderr,
		one: func(ctx context.Context, in, out string, report func(string, int, int)) error {
			u.report = report
			return u.run(ctx, in, out)
		},
		outputs: func(out string) []string { return render.SamplePaths(out, o.samples) }}
	u.noted = f.noted
	return f
}

// temperatureFlag is --temperature: "auto" (the default by output scale,
// diffusion.TemperatureFor) or τ in [0, 2], held as SampleOptions wants
// it: 0 for auto, −1 for an explicit 0.
type temperatureFlag struct{ tau float64 }

func (t *temperatureFlag) String() string {
	switch {
	case t == nil || t.tau == 0:
		return "auto"
	case t.tau < 0:
		return "0"
	}
	return strconv.FormatFloat(t.tau, 'g', -1, 64)
}

func (t *temperatureFlag) Set(s string) error {
	if s == "auto" {
		t.tau = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 2 {
		return fmt.Errorf("temperature %s: want auto or a number in [0, 2]", s)
	}
	if t.tau = v; v == 0 {
		t.tau = -1
	}
	return nil
}
