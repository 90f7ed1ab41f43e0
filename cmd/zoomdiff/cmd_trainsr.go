package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// init routes `train sr` and `train align` here. It wraps the train
// command that cmd_train.go registers (files initialise in name order, so
// that one exists by now); folding the two stages into runTrain's switch
// would make this unnecessary.
// srFlags are the flags both diffusion stages share.
type srFlags struct {
	data, val, out            *string
	resume, quiet, half       *bool
	ckptEvery, valEvery       *int
	valSteps, valCrop, valMax *int
	valStr                    *float64
	card                      paramFlags
	opt                       diffusion.TrainOptions
}

func addSRFlags(fs *flag.FlagSet, align bool) *srFlags {
	f := &srFlags{
		data:      fs.String("data", "", "comma-separated folders of training photos (searched recursively)"),
		val:       fs.String("val", "", "folder of validation images (e.g. ../shared/data/val/Set14)"),
		out:       fs.String("out", "", "model file to write (the training state goes to OUT.train)"),
		resume:    fs.Bool("resume", false, "continue from OUT.train"),
		quiet:     fs.Bool("quiet", false, "print nothing but errors"),
		half:      fs.Bool("f16", true, "store the model file in float16"),
		ckptEvery: fs.Int("checkpoint-every", 100, "steps between checkpoints"),
		valEvery:  fs.Int("val-every", 500, "steps between validations"),
		valSteps:  fs.Int("val-steps", 20, "DDIM steps when validating"),
		valCrop:   fs.Int("val-crop", 96, "HR centre-crop side of each validation image"),
		valMax:    fs.Int("val-images", 8, "validation images used at most"),
		valStr:    fs.Float64("val-strength", 0, "sampling strength when validating (0: from pure noise)"),
		card:      paramFlags{},
	}
	fs.Var(f.card, "card", "model-card entry KEY=VALUE stored in the model file (repeatable), e.g. data=... or training=...")
	steps, lr, warmup := 10000, 5e-4, 200
	if align {
		steps, lr, warmup = 2000, 2e-5, 50
	}
	o := &f.opt
	fs.IntVar(&o.Steps, "steps", steps, "total training steps")
	fs.IntVar(&o.Until, "until", 0, "stop after this step, keeping the schedule of --steps (for ablations)")
	fs.IntVar(&o.Batch, "batch", 8, "crops per step")
	fs.IntVar(&o.Crop, "crop", 64, "HR crop side in pixels (the LR is crop/scale)")
	fs.Float64Var(&o.LR, "lr", lr, "peak learning rate")
	fs.IntVar(&o.Warmup, "warmup", warmup, "learning-rate warm-up steps")
	fs.Float64Var(&o.EMADecay, "ema", 0.999, "EMA decay of the weights")
	fs.IntVar(&o.Reuse, "reuse", 4, "steps each encoded crop serves on average (1: fresh crops every step, as the paper)")
	fs.IntVar(&o.Pool, "pool", 512, "encoded crops kept for reuse")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (initial weights and training draws)")
	return f
}

func (f *srFlags) check() error {
	if *f.data == "" || *f.out == "" {
		return errors.New("--data and --out are required")
	}
	return nil
}

func runTrainSR(args []string) error {
	fs := flag.NewFlagSet("train sr", flag.ContinueOnError)
	f := addSRFlags(fs, false)
	aePath := fs.String("ae", "", "stage-1 auto-encoder file (default: the built-in one); embedded into the SR model")
	def := diffusion.DefaultUNet(8)
	modelCh := fs.Int("model-ch", def.ModelCh, "U-Net base width")
	mult := fs.String("ch-mult", "1,2,2", "U-Net width multiplier per level (len-1 down-samplings)")
	numRes := fs.Int("num-res", def.NumResBlocks, "U-Net residual blocks per level")
	attn := fs.String("attn", "2,4", "down-sampling factors with self-attention (empty: none)")
	heads := fs.Int("heads", def.Heads, "attention heads")
	midAttn := fs.Bool("mid-attn", def.MidAttn, "self-attention in the middle block")
	pred := fs.String("prediction", diffusion.PredictEps, "what the U-Net predicts: eps (the paper's) or v")
	norm := fs.String("norm", "channel", "latent normalisation: channel (per-channel mean/std) or global (1/std, as LDM)")
	statCrops := fs.Int("stat-crops", 256, "training crops encoded to estimate the latent statistics")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	set, err := dataset.LoadDirs(strings.Split(*f.data, ","), f.opt.Crop)
	if err != nil {
		return err
	}
	var tr *diffusion.Trainer
	if *f.resume {
		if tr, err = diffusion.Resume(*f.out+".train", set, f.opt); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	} else {
		if *norm != "channel" && *norm != "global" {
			return fmt.Errorf("--norm %q: want channel or global", *norm)
		}
		ae, err := models.AutoEncoder(*aePath)
		if err != nil {
			return err
		}
		cfg := diffusion.DefaultUNet(ae.Config.LatentCh)
		cfg.ModelCh, cfg.NumResBlocks, cfg.Heads, cfg.MidAttn = *modelCh, *numRes, *heads, *midAttn
		if cfg.ChMult, err = intList(*mult); err != nil {
			return err
		}
		cfg.AttnDown = nil
		if *attn != "" {
			if cfg.AttnDown, err = intList(*attn); err != nil {
				return err
			}
		}
		s, err := diffusion.New(ae, cfg, diffusion.DefaultSchedule(), f.opt.Crop/ae.Config.Factor(), f.opt.Seed)
		if err != nil {
			return err
		}
		logf(*f.quiet, "estimating latent statistics over %d crops", *statCrops)
		shift, scale, err := diffusion.EstimateLatentStats(ae, set, *statCrops, f.opt.Crop, f.opt.Seed, *norm == "channel")
		if err != nil {
			return err
		}
		if err := s.SetLatentStats(shift, scale); err != nil {
			return err
		}
		if err := s.SetPrediction(*pred); err != nil {
			return err
		}
		logf(*f.quiet, "latent shift %v, scale %v", shift, scale)
		if tr, err = diffusion.NewTrainer(s, set, f.opt); err != nil {
			return err
		}
	}
	return runSRTrainer(tr, set, f, "sr")
}

func runTrainAlign(args []string) error {
	fs := flag.NewFlagSet("train align", flag.ContinueOnError)
	f := addSRFlags(fs, true)
	model := fs.String("model", "", "stage-2 SR model to fine-tune")
	f.opt.Align = true
	fs.IntVar(&f.opt.Queries, "queries", 1024, "target pixels decoded per crop in the image term")
	fs.Float64Var(&f.opt.SNRCap, "snr-cap", 5, "cap γ on the weight w(t) = min(SNR(t), γ)")
	fs.Float64Var(&f.opt.LatentWeight, "latent-weight", 1, "weight of the latent term (negative: off)")
	fs.Float64Var(&f.opt.ImageWeight, "image-weight", 1, "weight of the image term (negative: off)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	set, err := dataset.LoadDirs(strings.Split(*f.data, ","), f.opt.Crop)
	if err != nil {
		return err
	}
	var tr *diffusion.Trainer
	if *f.resume {
		if tr, err = diffusion.Resume(*f.out+".train", set, f.opt); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	} else {
		if *model == "" {
			return errors.New("--model is required (the stage-2 SR model)")
		}
		s, err := diffusion.LoadSR(*model)
		if err != nil {
			return err
		}
		if tr, err = diffusion.NewTrainer(s, set, f.opt); err != nil {
			return err
		}
	}
	return runSRTrainer(tr, set, f, "align")
}

func logf(quiet bool, format string, a ...any) {
	if !quiet {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
}

// runSRTrainer wires checkpoints and validation to a trainer and runs it.
func runSRTrainer(tr *diffusion.Trainer, set *dataset.Set, f *srFlags, stage string) error {
	s := tr.SR
	statePath := *f.out + ".train"
	logf(*f.quiet, "data: %d photos, %.1f Mpx; U-Net: %d parameters; start at step %d", len(set.Photos), float64(set.Pixels())/1e6, s.UNet.Params.Count(), tr.Step)
	hooks := trainloop.Hooks{
		CheckpointEvery: *f.ckptEvery,
		Checkpoint: func() error {
			if err := checkpoint.SaveTrain(statePath, tr.State(), true); err != nil {
				return err
			}
			tr.EMA.Swap()
			defer tr.EMA.Swap()
			card := map[string]string{"steps": strconv.Itoa(tr.Step), "stage": stage}
			for k, v := range f.card {
				card[k] = v
			}
			return s.Save(*f.out, *f.half, card)
		},
	}
	if *f.val != "" {
		files, err := dataset.ImageFiles(*f.val)
		if err != nil {
			return err
		}
		var imgs []*imageio.Image
		for _, p := range files[:min(len(files), *f.valMax)] {
			img, err := imageio.Read(p)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
		valSet, err := dataset.LoadDirs([]string{*f.val}, tr.Opt.Crop)
		if err != nil {
			return err
		}
		curve := *f.out + ".val.csv"
		started := time.Now()
		hooks.ValidateEvery = *f.valEvery
		hooks.Validate = func() (string, error) {
			tr.EMA.Swap()
			defer tr.EMA.Swap()
			loss, err := s.DenoiseLoss(valSet, 32, tr.Opt.Crop, 1)
			if err != nil {
				return "", err
			}
			res, err := s.Validate(context.Background(), imgs, *f.valCrop, diffusion.SampleOptions{Steps: *f.valSteps, Strength: *f.valStr, Consistency: -1})
			if err != nil {
				return "", err
			}
			if err := appendSRCurve(curve, tr.Step, time.Since(started), loss, res); err != nil {
				return "", err
			}
			return fmt.Sprintf("val ε-loss (EMA) %.4f, %s", loss, res), nil
		}
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, os.Stderr, *f.quiet, hooks)
}

// appendSRCurve adds one validation row to a CSV file, writing the header
// on first use.
func appendSRCurve(path string, step int, el time.Duration, loss float64, r diffusion.ValResult) error {
	_, statErr := os.Stat(path)
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if os.IsNotExist(statErr) {
		fmt.Fprintln(fh, "step,session_seconds,val_eps_loss,psnr_y,bicubic_psnr_y")
	}
	fmt.Fprintf(fh, "%d,%.0f,%.5f,%.3f,%.3f\n", step, el.Seconds(), loss, r.PSNRY, r.BicubicPSNRY)
	return fh.Close()
}
