package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// scaleList parses "2,3,4" or "2.5,6" into benchmark scales (each > 1,
// none twice: results are told apart by dataset and scale).
func scaleList(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 1 {
			return nil, fmt.Errorf("scales %q: %q is not a number above 1", s, f)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("scales %q: %v is given twice", s, v)
		}
		out = append(out, v)
	}
	return out, nil
}

// evalOptions are the checked flags of `zoomdiff eval`.
type evalOptions struct {
	data          string // --data as given: "" for the shared data's Set5 and Set14
	method, model string
	condition     string
	params        paramFlags
	learnedFlags  []string // which of --model, --param and --seed were given, which a resampling kernel ignores
	asJSON, asCSV bool
	cfg           evaluate.Config // what every dataset is evaluated with
}

// parseEval parses and checks the command line of `zoomdiff eval`.
func parseEval(args []string) (*evalOptions, error) {
	o := &evalOptions{params: paramFlags{}}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.StringVar(&o.data, "data", "", "comma-separated folders of HR images (default: Set5 and Set14 of the shared data)")
	scales := fs.String("scales", "2,3,4", "comma-separated scales above 1; non-integer ones are allowed")
	fs.StringVar(&o.method, "method", "bicubic", "upscaling method: "+methodList()+" (reconstruct: the auto-encoder's round trip, scored at its own three scales; --model, default the built-in one)")
	fs.StringVar(&o.model, "model", "", "weights file, for learned methods")
	fs.StringVar(&o.condition, "condition", "", "condition network file for the SR model, from zoomdiff train condition (default: builtin:cond where it fits)")
	fs.Var(o.params, "param", "method setting name=value (repeatable)")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON array instead of a table")
	fs.BoolVar(&o.asCSV, "csv", false, "print CSV with a header row instead of a table (e.g. for zoomdiff plot -x psnr_y -y niqe)")
	fs.IntVar(&o.cfg.Workers, "workers", 0, "images evaluated at once (0: one per core)")
	fs.BoolVar(&o.cfg.FloatOutput, "float", false, "score outputs unrounded instead of as 8-bit files")
	perImage := fs.Bool("per-image", false, "include per-image scores (with --json only; what zoomdiff compare reads)")
	fs.IntVar(&o.cfg.Samples, "samples", 1, "outputs drawn per image by a generative method: each is scored, and their mean and spread")
	seed := fs.String("seed", "", "random seed of a generative method (same as --param seed=K)")
	fs.IntVar(&o.cfg.Crop, "crop", 0, "evaluate each image's HR centre crop of this side (0: whole images), e.g. to compare costly methods on the same pixels")
	degradation := fs.String("degrade", "", "degrade each LR after the bicubic resize, as real photos are: noise:SIGMA (8-bit levels) and/or jpeg:QUALITY, comma-separated (scores stay against the clean HR)")
	if err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q: folders go in --data", fs.Args())
	}
	// Combinations that would otherwise be ignored without a word.
	switch {
	case o.asJSON && o.asCSV:
		return nil, errors.New("--json and --csv ask for two formats of one output: give one of them, or neither for a table")
	case *perImage && !o.asJSON:
		return nil, errors.New("--per-image adds each image's scores to the --json output, which zoomdiff compare reads; a table or CSV holds the averages only")
	}
	if o.method == "reconstruct" {
		if given := givenFlags(fs, "scales", "samples", "seed", "param", "condition", "crop", "degrade", "workers", "float", "per-image"); len(given) > 0 {
			return nil, fmt.Errorf("%s: not for --method reconstruct, which decodes each whole image at scales %s (it takes --data, --model and --json or --csv)",
				strings.Join(given, ", "), reconScaleList())
		}
	}
	if o.condition != "" && !strings.EqualFold(o.method, "model") && !strings.EqualFold(o.method, "real") {
		return nil, fmt.Errorf("--condition: for --method model or real, not %s", o.method)
	}
	var err error
	if o.cfg.Input, err = degrade.ParseInput(*degradation); err != nil {
		return nil, err
	}
	if o.cfg.Samples < 1 || o.cfg.Samples > 64 {
		return nil, fmt.Errorf("--samples %d outside [1, 64]", o.cfg.Samples)
	}
	if *seed != "" {
		if v, ok := o.params["seed"]; ok {
			return nil, fmt.Errorf("--seed %s and --param seed=%s: give one of them", *seed, v)
		}
		o.params["seed"] = *seed
	}
	if o.cfg.Scales, err = scaleList(*scales); err != nil {
		return nil, err
	}
	o.cfg.PerImage = *perImage
	o.learnedFlags = givenFlags(fs, "model", "param", "seed")
	return o, nil
}

// reconScaleList names the round trip's decode scales: "×1, ×0.5 and ×0.25".
func reconScaleList() string {
	names := make([]string, len(autoencoder.ReconScales))
	for i, s := range autoencoder.ReconScales {
		names[i] = "×" + evaluate.FormatScale(s)
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// givenFlags returns those of names that the command line set, as
// "--name", in the order of names.
func givenFlags(fs *flag.FlagSet, names ...string) []string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var out []string
	for _, n := range names {
		if set[n] {
			out = append(out, "--"+n)
		}
	}
	return out
}

// loadEvalSets loads every folder of --data, or the shared data's Set5
// and Set14 when it is empty.
func loadEvalSets(data string) ([]evaluate.Dataset, error) {
	dirs := strings.Split(data, ",")
	if data == "" {
		root, err := dataset.DataDir()
		if err != nil {
			return nil, fmt.Errorf("no --data given and %w", err)
		}
		dirs = []string{filepath.Join(root, "val", "Set5"), filepath.Join(root, "val", "Set14")}
	}
	var sets []evaluate.Dataset
	from := map[string]string{} // dataset name → the folder that has it
	for _, d := range dirs {
		d = strings.TrimSpace(d)
		if d == "" {
			return nil, fmt.Errorf("--data %q: an empty folder name", data)
		}
		set, err := evaluate.LoadDataset(d)
		if err != nil {
			return nil, err
		}
		// Results, tables and compare tell datasets apart by name alone.
		if prev, ok := from[set.Name]; ok {
			return nil, fmt.Errorf("--data: %s and %s would both be reported as dataset %q", prev, d, set.Name)
		}
		from[set.Name] = d
		sets = append(sets, set)
	}
	return sets, nil
}

// runEval is `zoomdiff eval`: the standard SR protocol of a method on
// each dataset, printed as one table, JSON or CSV. The datasets are
// loaded and the method built before the long work starts, so a typo
// fails at once.
func runEval(args []string) error {
	o, err := parseEval(args)
	if err != nil {
		return err
	}
	sets, err := loadEvalSets(o.data)
	if err != nil {
		return err
	}
	if o.method == "reconstruct" {
		return evalReconstruction(sets, o.model, o.asJSON, o.asCSV)
	}
	up, err := methods.New(o.method, methods.Options{Model: o.model, Condition: o.condition, Params: o.params})
	if err != nil {
		return err
	}
	// A resampling kernel ignores these (methods.New accepts them, since
	// the server passes them to every method); given here, they are a mistake.
	if _, kernel := up.(render.Resampler); kernel && len(o.learnedFlags) > 0 {
		return fmt.Errorf("%s: for learned methods; %s is a resampling kernel and takes none", strings.Join(o.learnedFlags, ", "), o.method)
	}
	ctx, stop := signalContext()
	defer stop()
	var all []evaluate.Result
	for _, set := range sets {
		rs, err := evaluate.Run(ctx, set, up, o.cfg)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return errors.New("interrupted")
			}
			return err
		}
		all = append(all, rs...)
	}
	return writeEvalResults(all, o.asJSON, o.asCSV)
}

// writeEvalResults prints the results to stdout as JSON, CSV or (by
// default) a table.
func writeEvalResults(all []evaluate.Result, asJSON, asCSV bool) error {
	switch {
	case asJSON:
		return evaluate.WriteJSON(os.Stdout, all)
	case asCSV:
		return evaluate.WriteCSV(os.Stdout, all)
	}
	return evaluate.WriteTable(os.Stdout, all)
}

// evalReconstruction encodes each HR image with a stage-1 model and decodes
// it at its own size, half and a quarter (rows with scale 1, 0.5, 0.25),
// printed as writeEvalResults does. An empty model means the built-in one.
func evalReconstruction(sets []evaluate.Dataset, model string, asJSON, asCSV bool) error {
	m, err := models.AutoEncoder(model)
	if err != nil {
		return err
	}
	var all []evaluate.Result
	for _, set := range sets {
		var images []*imageio.Image
		for _, f := range set.Files {
			img, err := imageio.Read(f)
			if err != nil {
				return err
			}
			// Checked here, since the round trip's error could not say which file.
			for _, s := range autoencoder.ReconScales {
				shave := autoencoder.ReconShave(s)
				w, h := resample.ScaledSize(img.W, s)-2*shave, resample.ScaledSize(img.H, s)-2*shave
				if w < metrics.SSIMMinSide || h < metrics.SSIMMinSide {
					return fmt.Errorf("%s: %dx%d decoded at ×%v leaves %dx%d pixels to score after a %d-pixel border, less than SSIM's %dx%d window",
						f, img.W, img.H, s, max(w, 0), max(h, 0), shave, metrics.SSIMMinSide, metrics.SSIMMinSide)
				}
			}
			images = append(images, img)
		}
		start := time.Now()
		rs, err := m.EvalReconstruction(images, autoencoder.ReconScales)
		if err != nil {
			return err
		}
		for _, r := range rs {
			// One deterministic output an image, scored by PSNR and SSIM alone.
			all = append(all, evaluate.Result{Dataset: set.Name, Method: "reconstruct", Scale: r.Scale, Images: r.Images,
				Scores: evaluate.Scores{PSNRY: r.PSNRY, SSIMY: r.SSIMY, PSNRRGB: r.PSNRRGB}, PSNRSSIMOnly: true, Samples: 1,
				Shave: autoencoder.ReconShave(r.Scale), Seconds: time.Since(start).Seconds()})
		}
	}
	return writeEvalResults(all, asJSON, asCSV)
}
