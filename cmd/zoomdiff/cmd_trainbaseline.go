package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zoomdiff/zoomdiff/baseline/idm"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// baselineStage is a baseline's training command (train liif or idm):
// the shared flags, its validation settings and, from --set, its recipe
// and the architecture of a fresh model.
type baselineStage struct {
	*trainFlags
	valSettings valSettings
}

// newBaselineStage declares a baseline's flags over its recipe and its
// architecture (pointers to the baseline's defaults, filled in place);
// groups adds validation settings beyond images, crop and scale.
func newBaselineStage(stage string, groups []string, recipe, arch any) *baselineStage {
	b := &baselineStage{valSettings: valSettings{Images: 4, Crop: 96, Scale: 4, Steps: 20}}
	synopsis := "zoomdiff train " + stage + " --data DIRS --out FILE [--val DIR] [--resume] [--set KEY=VALUE ...]"
	b.trainFlags = newTrainFlags(stage, synopsis, "folder of validation images (e.g. ../shared/data/val/Set5)",
		defaultRunSettings(500), append(groups, "val-scale"), recipe, arch, &b.valSettings)
	return b
}

// savable is what the shared training wiring needs of a baseline model.
type savable interface {
	Save(path string, half bool, card map[string]string) error
}

// train wires checkpoints and validation to the trainer of a baseline
// (stage liif or idm) and runs it; up renders with the model's live
// parameters, for validation.
func (f *baselineStage) train(tr *trainloop.Trainer, stage string, m savable, up render.Method, set *dataset.Set) error {
	label := "train " + stage
	if f.resume {
		if err := tr.Resume(f.statePath()); err != nil {
			return err
		}
	}
	count := 0
	for _, p := range tr.Params {
		count += p.T.Len()
	}
	f.logf("data: %d photos, %.1f Mpx; %s: %d parameters; start at step %d", len(set.Photos), float64(set.Pixels())/1e6, label, count, tr.Step)
	hooks := trainloop.Hooks{
		CheckpointEvery: f.run.CheckpointEvery,
		Checkpoint: func() error {
			if err := checkpoint.SaveTrain(f.statePath(), tr.State(), true); err != nil {
				return err
			}
			card := f.card.modelCard(tr.Step, stage)
			return tr.WithEMA(func() error { return m.Save(f.out, f.run.Half, card) })
		},
	}
	if f.val != "" {
		if err := f.valSettings.check(1); err != nil {
			return err
		}
		vs, err := dataset.LoadDirs([]string{f.val}, 1)
		if err != nil {
			return fmt.Errorf("--val: %w", err)
		}
		imgs := vs.Images()
		imgs = imgs[:min(len(imgs), f.valSettings.Images)]
		err = tryValidation(f.val, imgs, func(imgs []*imageio.Image) error {
			_, err := evaluate.ValidateCrops(context.Background(), up, imgs, f.valSettings.Scale, f.valSettings.Crop)
			return err
		})
		if err != nil {
			return err
		}
		started := time.Now()
		hooks.ValidateEvery = f.run.ValEvery
		hooks.Validate = func() (string, error) {
			var res evaluate.ValResult
			err := tr.WithEMA(func() (err error) {
				res, err = evaluate.ValidateCrops(context.Background(), up, imgs, f.valSettings.Scale, f.valSettings.Crop)
				return err
			})
			if err != nil {
				return "", err
			}
			if err := appendCSV(f.curvePath(), "step,session_seconds,psnr_y,bicubic_psnr_y",
				fmt.Sprintf("%d,%.0f,%.3f,%.3f", tr.Step, time.Since(started).Seconds(), res.PSNRY, res.BicubicPSNRY)); err != nil {
				return "", err
			}
			return res.String(), nil
		}
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, label, os.Stderr, f.quiet, hooks)
}

func runTrainLIIF(args []string) error {
	opt, cfg := liif.DefaultTrainOptions(), liif.DefaultConfig()
	f := newBaselineStage(liif.Kind, nil, &opt, &cfg)
	if err := f.parse(args); err != nil {
		return err
	}
	m, err := liif.New(cfg, opt.Seed)
	if err != nil {
		return err
	}
	set, err := f.dataDirs(opt.Patch)
	if err != nil {
		return err
	}
	tr, err := liif.NewTrainer(m, set, opt)
	if err != nil {
		return err
	}
	return f.train(tr, liif.Kind, m, &liif.Upscaler{Model: m}, set)
}

func runTrainIDM(args []string) error {
	opt, cfg := idm.DefaultTrainOptions(), idm.DefaultConfig()
	f := newBaselineStage(idm.Kind, []string{"val-steps"}, &opt, &cfg)
	if err := f.parse(args); err != nil {
		return err
	}
	cfg.UNet.InCh = cfg.UNetIn() // follows cond-ch
	m, err := idm.New(cfg, opt.Seed)
	if err != nil {
		return err
	}
	set, err := f.dataDirs(opt.Crop)
	if err != nil {
		return err
	}
	tr, err := idm.NewTrainer(m, set, opt)
	if err != nil {
		return err
	}
	up := &idm.Upscaler{Model: m, Opt: idm.DefaultSampleOptions()}
	up.Opt.Steps = f.valSettings.Steps
	return f.train(tr, idm.Kind, m, up, set)
}
