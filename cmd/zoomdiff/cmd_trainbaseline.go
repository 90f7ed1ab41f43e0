package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/baseline/idm"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// baselineFlags are the flags both baseline training commands share.
type baselineFlags struct {
	data, val, out, arch *string
	resume, quiet, half  *bool
	ckptEvery, valEvery  *int
	valImages, valCrop   *int
	valScale             *float64
	card                 paramFlags
}

// addBaselineFlags declares the shared flags, their training defaults
// taken from o (the baseline's DefaultTrainOptions), which the flags
// then fill.
func addBaselineFlags(fs *flag.FlagSet, o *baseline.TrainOptions) *baselineFlags {
	f := &baselineFlags{
		data:      fs.String("data", "", "comma-separated folders of training photos (searched recursively)"),
		val:       fs.String("val", "", "folder of validation images (e.g. ../shared/data/val/Set5)"),
		out:       fs.String("out", "", "model file to write (the training state goes to OUT.train)"),
		arch:      fs.String("arch", "", "architecture changes as JSON over the default config, e.g. '{\"blocks\":4}'"),
		resume:    fs.Bool("resume", false, "continue from OUT.train (with the same --arch)"),
		quiet:     fs.Bool("quiet", false, "print nothing but errors"),
		half:      fs.Bool("f16", true, "store the model file in float16"),
		ckptEvery: fs.Int("checkpoint-every", 100, "steps between checkpoints"),
		valEvery:  fs.Int("val-every", 500, "steps between validations"),
		valImages: fs.Int("val-images", 4, "validation images used at most"),
		valCrop:   fs.Int("val-crop", 96, "HR centre-crop side of each validation image"),
		valScale:  fs.Float64("val-scale", 4, "scale of the validation"),
		card:      paramFlags{},
	}
	fs.Var(f.card, "card", "model-card entry KEY=VALUE stored in the model file (repeatable)")
	fs.IntVar(&o.Steps, "steps", o.Steps, "total training steps (the schedule's length)")
	fs.IntVar(&o.Until, "until", 0, "stop after this step, keeping the schedule of --steps")
	fs.IntVar(&o.Batch, "batch", o.Batch, "crops per step")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate (linear warm-up, then a cosine to --min-lr over --steps)")
	fs.Float64Var(&o.MinLR, "min-lr", o.MinLR, "learning rate at the end of the cosine")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "learning-rate warm-up steps")
	fs.Float64Var(&o.Clip, "clip", o.Clip, "gradient-norm clip (0: none)")
	fs.Float64Var(&o.EMADecay, "ema", o.EMADecay, "EMA decay of the weights (0: none)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed (initial weights and training draws; a resumed run keeps its own)")
	return f
}

// architecture checks the required flags and fills cfg (holding the
// default architecture) with the --arch JSON: fields it does not name keep
// their defaults, unknown ones are an error.
func (f *baselineFlags) architecture(cfg any) error {
	if *f.data == "" || *f.out == "" {
		return errors.New("--data and --out are required")
	}
	if *f.arch == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(*f.arch)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("--arch: %w", err)
	}
	return nil
}

// savable is what the shared training wiring needs of a baseline model.
type savable interface {
	Save(path string, half bool, card map[string]string) error
}

// run wires checkpoints and validation to the trainer of a baseline
// (stage liif or idm) and runs it; up renders with the model's live
// parameters, for validation.
func (f *baselineFlags) run(tr *baseline.Trainer, stage string, m savable, up render.Method, set *dataset.Set) error {
	label := "train " + stage
	statePath := *f.out + ".train"
	if *f.resume {
		if err := tr.Resume(statePath); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	count := 0
	for _, p := range tr.Params {
		count += p.T.Len()
	}
	logf(*f.quiet, "data: %d photos, %.1f Mpx; %s: %d parameters; start at step %d", len(set.Photos), float64(set.Pixels())/1e6, label, count, tr.Step)
	hooks := trainloop.Hooks{
		CheckpointEvery: *f.ckptEvery,
		Checkpoint: func() error {
			if err := checkpoint.SaveTrain(statePath, tr.State(), true); err != nil {
				return err
			}
			card := f.card.modelCard(tr.Step, stage)
			return tr.WithEMA(func() error { return m.Save(*f.out, *f.half, card) })
		},
	}
	if *f.val != "" {
		vs, err := dataset.LoadDirs([]string{*f.val}, 1)
		if err != nil {
			return err
		}
		imgs := vs.Images()
		imgs = imgs[:min(len(imgs), *f.valImages)]
		curve := *f.out + ".val.csv"
		started := time.Now()
		hooks.ValidateEvery = *f.valEvery
		hooks.Validate = func() (string, error) {
			var res evaluate.ValResult
			err := tr.WithEMA(func() (err error) {
				res, err = evaluate.ValidateCrops(context.Background(), up, imgs, *f.valScale, *f.valCrop)
				return err
			})
			if err != nil {
				return "", err
			}
			if err := appendCSV(curve, "step,session_seconds,psnr_y,bicubic_psnr_y",
				fmt.Sprintf("%d,%.0f,%.3f,%.3f", tr.Step, time.Since(started).Seconds(), res.PSNRY, res.BicubicPSNRY)); err != nil {
				return "", err
			}
			return res.String(), nil
		}
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, label, os.Stderr, *f.quiet, hooks)
}

func runTrainLIIF(args []string) error {
	fs := flag.NewFlagSet("train liif", flag.ContinueOnError)
	opt := liif.DefaultTrainOptions()
	f := addBaselineFlags(fs, &opt.TrainOptions)
	fs.IntVar(&opt.Patch, "patch", opt.Patch, "LR patch side")
	fs.IntVar(&opt.Queries, "queries", opt.Queries, "HR pixels queried per patch")
	fs.Float64Var(&opt.MaxScale, "max-scale", opt.MaxScale, "scales are drawn from U(1, max-scale)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg := liif.DefaultConfig()
	if err := f.architecture(&cfg); err != nil {
		return err
	}
	m, err := liif.New(cfg, opt.Seed)
	if err != nil {
		return err
	}
	set, err := dataset.LoadDirs(strings.Split(*f.data, ","), opt.Patch)
	if err != nil {
		return err
	}
	tr, err := liif.NewTrainer(m, set, opt)
	if err != nil {
		return err
	}
	return f.run(tr, liif.Kind, m, &liif.Upscaler{Model: m}, set)
}

func runTrainIDM(args []string) error {
	fs := flag.NewFlagSet("train idm", flag.ContinueOnError)
	opt := idm.DefaultTrainOptions()
	f := addBaselineFlags(fs, &opt.TrainOptions)
	fs.IntVar(&opt.Crop, "crop", opt.Crop, "HR crop side in pixels")
	fs.Float64Var(&opt.MaxScale, "max-scale", opt.MaxScale, "each step's scale is drawn from U(1, max-scale)")
	pred := fs.String("prediction", diffusion.PredictEps, "what the U-Net predicts: eps (IDM's) or v")
	valSteps := fs.Int("val-steps", 20, "DDIM steps when validating")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg := idm.DefaultConfig()
	if err := f.architecture(&cfg); err != nil {
		return err
	}
	cfg.Prediction = *pred
	cfg.UNet.InCh = cfg.UNetIn() // follows cond_channels when --arch changes it
	m, err := idm.New(cfg, opt.Seed)
	if err != nil {
		return err
	}
	set, err := dataset.LoadDirs(strings.Split(*f.data, ","), opt.Crop)
	if err != nil {
		return err
	}
	tr, err := idm.NewTrainer(m, set, opt)
	if err != nil {
		return err
	}
	return f.run(tr, idm.Kind, m, &idm.Upscaler{Model: m, Opt: diffusion.SampleOptions{Steps: *valSteps}}, set)
}
