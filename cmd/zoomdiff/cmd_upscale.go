package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
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

func runUpscale(args []string) error {
	fs := flag.NewFlagSet("upscale", flag.ContinueOnError)
	method := fs.String("method", "model", "upscaling method: "+methodList())
	model := fs.String("model", "", "weights file or built-in name, for learned methods (model: default builtin:sr; real: builtin:real, the same as --model real)")
	samples := fs.Int("samples", 1, "model: independent samples to draw (OUT-1, OUT-2, … when more than one)")
	seed := fs.Uint64("seed", 0, "model: random seed; the same seed gives the same samples")
	steps := fs.Int("steps", diffusion.DefaultSRSteps, "model: denoising steps")
	sampler := fs.String("sampler", diffusion.DefaultSRSampler, "model: "+diffusion.SamplerDPM+" (deterministic, second order: 10 steps match DDIM's 20), "+diffusion.SamplerDDIM+" or "+diffusion.SamplerDDPM)
	eta := fs.Float64("eta", 0, "model: DDIM η (0 deterministic given the seed, 1 DDPM-like)")
	temperature := &temperatureFlag{}
	fs.Var(temperature, "temperature", "model: noise temperature τ in [0, 2]: 1 samples the model's distribution (most natural detail), lower trades detail for fidelity (PSNR), 0 is the deterministic mean-seeking end; auto is 0.9 up to ×6, falling to 0.7 at ×12")
	consistency := fs.Int("consistency", diffusion.DefaultConsistency, "model: back-projection rounds that make the output, down-sampled, match the input (0: none)")
	meanOut := fs.String("mean", "", "model: also write the mean of the samples to this file")
	stdOut := fs.String("std", "", "model: also write the per-pixel standard deviation of the samples (×8, grey) to this file")
	band := fs.Int("band", render.DefaultBand, "model: output rows decoded at a time (memory ∝ width × band)")
	quiet := fs.Bool("quiet", false, "no progress output")
	params := paramFlags{}
	fs.Var(params, "param", "method setting name=value (repeatable)")
	scale := fs.Float64("scale", 0, "scale factor, any real number above 0 (output ceil(W·S)×ceil(H·S))")
	size := fs.String("size", "", "output size WxH, or Wx / xH to keep the aspect ratio")
	out := fs.String("o", "", "output file, .png or .jpg, or output folder when INPUT is a folder (required)")
	overwrite := fs.Bool("overwrite", false, "folder mode: redo outputs that already exist (default: skip them)")
	maxPixels := fs.Int64("max-pixels", 0, "refuse outputs with more pixels than this (default: 100 M for methods that hold the output whole, 1 G for the model's streamed output)")
	quality := fs.Int("quality", 95, "JPEG quality 1-100")
	bits16 := fs.Bool("16", false, "write 16-bit PNG (automatic when the input has 16 bits a sample)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT [flags]")
		fmt.Fprintln(fs.Output(), "       zoomdiff upscale DIR (--scale S | --size WxH) -o OUTDIR [--overwrite] [flags]")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	scaleSet := false
	fs.Visit(func(f *flag.Flag) { scaleSet = scaleSet || f.Name == "scale" })
	switch {
	case scaleSet && !(*scale > 0):
		return fmt.Errorf("scale %g: want a finite number above 0", *scale)
	case fs.NArg() != 1:
		return errors.New("want exactly one input file or folder (usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT)")
	case *out == "":
		return errors.New("no output file: give -o OUTPUT")
	case scaleSet == (*size != ""):
		return errors.New("give exactly one of --scale and --size")
	}
	in := fs.Arg(0)
	st, err := os.Stat(in)
	folder := err == nil && st.IsDir()
	if folder && (*meanOut != "" || *stdOut != "") {
		return errors.New("--mean and --std name single files: they are not for folder mode")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	modelOnly := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "samples", "seed", "steps", "sampler", "eta", "temperature", "consistency", "mean", "std", "band":
			modelOnly = true
		}
	})
	u := &fileUpscale{scale: *scale, size: *size, maxPixels: *maxPixels, samples: *samples, mean: *meanOut, std: *stdOut,
		band: *band, write: imageio.WriteOptions{Quality: *quality, Bits16: *bits16}, quiet: *quiet, stderr: os.Stderr}
	if streamed := *method == "model" || *method == "real"; streamed {
		switch {
		case *band < 1:
			return fmt.Errorf("--band %d: want at least one row", *band)
		case *steps < 1:
			return fmt.Errorf("--steps %d: want at least 1", *steps)
		case *samples < 1:
			return fmt.Errorf("--samples %d: want at least 1", *samples)
		case *stdOut != "" && *samples < 2:
			return fmt.Errorf("--std needs at least 2 samples (have %d)", *samples)
		}
		if *maxPixels == 0 {
			u.maxPixels = render.DefaultMaxStreamedPixels
		}
		// The model flags are sampling params: a flag given wins over a
		// --param of the same name, a --param over a flag's default.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"steps": strconv.Itoa(*steps), "sampler": *sampler, "eta": strconv.FormatFloat(*eta, 'g', -1, 64),
			"seed": strconv.FormatUint(*seed, 10), "temperature": temperature.String(), "consistency": strconv.Itoa(*consistency)} {
			if _, given := params[name]; set[name] || !given {
				params[name] = v
			}
		}
	} else {
		if modelOnly {
			return fmt.Errorf("--samples, --seed, --steps, --eta, --temperature, --consistency, --mean, --std and --band are for --method model or real, not %s", *method)
		}
		if *maxPixels == 0 {
			u.maxPixels = render.DefaultMaxOutputPixels
		}
	}
	if u.method, err = methods.New(*method, methods.Options{Model: *model, Params: params}); err != nil {
		return err
	}
	if folder {
		f := &folderUpscale{in: in, out: *out, overwrite: *overwrite, quiet: *quiet, stderr: os.Stderr,
			one: func(ctx context.Context, in, out string, report func(string, int, int)) error {
				u.report = report
				return u.run(ctx, in, out)
			},
			outputs: func(out string) []string { return render.SamplePaths(out, *samples) }}
		return f.run(ctx)
	}
	return u.run(ctx, in, *out)
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
