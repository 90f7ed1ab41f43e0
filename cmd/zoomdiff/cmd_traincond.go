package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// condValInputs is how many inputs the validation error is measured on.
const condValInputs = 256

func runTrainCondition(args []string) error {
	opt, cfg := diffusion.DefaultCondTrainOptions(), diffusion.DefaultCondConfig()
	t := newTrainFlags("condition", "zoomdiff train condition [--model SR] --data DIRS --out FILE [--val DIRS] [--resume] [--set KEY=VALUE ...]",
		"comma-separated folders whose photos give the validation inputs (e.g. DIR@heldout: the held-out split of DIR)",
		defaultRunSettings(500), nil, &opt, &cfg)
	model := t.fs.String("model", "", "SR model whose condition the network learns to compute (default builtin:sr; the built-in SR models share its condition space)")
	if err := t.parse(args); err != nil {
		return err
	}
	s, err := models.SR(*model)
	if err != nil {
		return err
	}
	cfg.LatentCh, cfg.Space = s.AE.Config.LatentCh, s.ConditionSpace()
	net, err := diffusion.NewCondNet(cfg, opt.Seed)
	if err != nil {
		return err
	}
	minSide := int(math.Ceil(opt.MaxReduce * float64(opt.Side)))
	set, err := t.dataDirs(minSide)
	if err != nil {
		return err
	}
	tr, err := s.TrainCondNet(net, set, opt)
	if err != nil {
		return err
	}
	if t.resume {
		if err := tr.Resume(t.statePath()); err != nil {
			return err
		}
	}
	t.logf("data: %d photos, %.1f Mpx; condition network: %d parameters; start at step %d; the first step encodes the pool of %d inputs (minutes)",
		len(set.Photos), float64(set.Pixels())/1e6, net.Params.Count(), tr.Step, opt.Pool)
	hooks := trainloop.Hooks{
		CheckpointEvery: t.run.CheckpointEvery,
		Checkpoint: func() error {
			if err := checkpoint.SaveTrain(t.statePath(), tr.State(), true); err != nil {
				return err
			}
			return tr.WithEMA(func() error { return net.Save(t.out, t.run.Half, t.card.modelCard(tr.Step, "condition")) })
		},
	}
	if t.val != "" {
		vs, err := dataset.LoadDirs(strings.Split(t.val, ","), minSide)
		if err != nil {
			return fmt.Errorf("--val: %w", err)
		}
		// Fixed inputs, the same at every validation and in every run.
		pool, err := s.NewCondPool(rand.New(rand.NewPCG(0, 0)), vs, condValInputs, opt)
		if err != nil {
			return err
		}
		started := time.Now()
		hooks.ValidateEvery = t.run.ValEvery
		hooks.Validate = func() (string, error) {
			var mse, skip float64
			tr.WithEMA(func() error { mse, skip = pool.Error(net); return nil })
			if err := appendCSV(t.curvePath(), "step,session_seconds,val_mse,skip_only_mse",
				fmt.Sprintf("%d,%.0f,%.6f,%.6f", tr.Step, time.Since(started).Seconds(), mse, skip)); err != nil {
				return "", err
			}
			return fmt.Sprintf("val error %.6f against the skip alone's %.4f (%.1f dB)", mse, skip, 10*math.Log10(skip/mse)), nil
		}
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, "train condition", os.Stderr, t.quiet, hooks)
}
