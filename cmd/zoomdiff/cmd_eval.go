package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/models"
)

// scaleList parses "2,3,4" or "2.5,6" into benchmark scales (each > 1).
func scaleList(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 1 {
			return nil, fmt.Errorf("scales %q: %q is not a number above 1", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	data := fs.String("data", "", "comma-separated folders of HR images (default: Set5 and Set14 of the shared data)")
	scales := fs.String("scales", "2,3,4", "comma-separated scales above 1; non-integer ones are allowed")
	method := fs.String("method", "bicubic", "upscaling method: "+methodList()+", or reconstruct (auto-encoder round trip; --model, default the built-in one)")
	model := fs.String("model", "", "weights file, for learned methods")
	params := paramFlags{}
	fs.Var(params, "param", "method setting name=value (repeatable)")
	asJSON := fs.Bool("json", false, "print one JSON array instead of a table")
	asCSV := fs.Bool("csv", false, "print CSV with a header row instead of a table (e.g. for zoomdiff plot -x psnr_y -y niqe)")
	workers := fs.Int("workers", 0, "images evaluated at once (0: one per core)")
	float := fs.Bool("float", false, "score outputs unrounded instead of as 8-bit files")
	perImage := fs.Bool("per-image", false, "include per-image scores (JSON only)")
	samples := fs.Int("samples", 1, "outputs drawn per image by a generative method: each is scored, and their mean and spread")
	seed := fs.String("seed", "", "random seed of a generative method (same as --param seed=K)")
	crop := fs.Int("crop", 0, "evaluate each image's HR centre crop of this side (0: whole images), e.g. to compare costly methods on the same pixels")
	degradation := fs.String("degrade", "", "degrade each LR after the bicubic resize, as real photos are: noise:SIGMA (8-bit levels) and/or jpeg:QUALITY, comma-separated (scores stay against the clean HR)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q: folders go in --data", fs.Args())
	}
	input, err := degrade.ParseInput(*degradation)
	if err != nil {
		return err
	}
	if *samples < 1 || *samples > 64 {
		return fmt.Errorf("--samples %d outside [1, 64]", *samples)
	}
	if *seed != "" {
		params["seed"] = *seed
	}
	sc, err := scaleList(*scales)
	if err != nil {
		return err
	}
	dirs := strings.Split(*data, ",")
	if *data == "" {
		root, err := dataset.DataDir()
		if err != nil {
			return fmt.Errorf("no --data given and %w", err)
		}
		dirs = []string{filepath.Join(root, "val", "Set5"), filepath.Join(root, "val", "Set14")}
	}
	// Load every folder and build the method before the long work starts, so
	// a typo fails at once.
	var sets []evaluate.Dataset
	for _, d := range dirs {
		set, err := evaluate.LoadDataset(strings.TrimSpace(d))
		if err != nil {
			return err
		}
		sets = append(sets, set)
	}
	if *method == "reconstruct" {
		return evalReconstruction(sets, *model, *asJSON)
	}
	up, err := methods.New(*method, methods.Options{Model: *model, Params: params})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var all []evaluate.Result
	for _, set := range sets {
		rs, err := evaluate.Run(ctx, set, up, evaluate.Config{Scales: sc, Workers: *workers, FloatOutput: *float, PerImage: *perImage && *asJSON, Samples: *samples, Crop: *crop, Input: input})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return errors.New("interrupted")
			}
			return err
		}
		all = append(all, rs...)
	}
	switch {
	case *asJSON:
		return evaluate.WriteJSON(os.Stdout, all)
	case *asCSV:
		return evaluate.WriteCSV(os.Stdout, all)
	}
	return evaluate.WriteTable(os.Stdout, all)
}

// evalReconstruction encodes each HR image with a stage-1 model and decodes
// it at its own size, half and a quarter (rows with scale 1, 0.5, 0.25).
// An empty model means the built-in one.
func evalReconstruction(sets []evaluate.Dataset, model string, asJSON bool) error {
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
			images = append(images, img)
		}
		start := time.Now()
		rs, err := m.EvalReconstruction(images, autoencoder.ReconScales)
		if err != nil {
			return err
		}
		for _, r := range rs {
			all = append(all, evaluate.Result{Dataset: set.Name, Method: "reconstruct", Scale: r.Scale, Images: r.Images,
				PSNRY: r.PSNRY, SSIMY: r.SSIMY, PSNRRGB: r.PSNRRGB, Shave: autoencoder.ReconShave(r.Scale),
				Seconds: time.Since(start).Seconds()})
		}
	}
	if asJSON {
		return evaluate.WriteJSON(os.Stdout, all)
	}
	return evaluate.WriteTable(os.Stdout, all)
}
