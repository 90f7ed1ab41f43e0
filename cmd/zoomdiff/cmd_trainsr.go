package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// srFlags are the flags every diffusion training command shares.
type srFlags struct {
	data, val, out            *string
	resume, quiet, half       *bool
	ckptEvery, valEvery       *int
	valSteps, valCrop, valMax *int
	valStr                    *float64
	card                      paramFlags
	opt                       diffusion.TrainOptions
	// held, for a generator, is the held-back data its validation loss is
	// measured on.
	held *dataset.Set
}

// addSRFlags defines the shared flags with opt's values as their
// defaults (the diffusion package's Default…Options, written once there).
// sampled adds the flags of validation by sampling the --val images, which
// super-resolution has and a generator (validated on its held-back images)
// has not.
func addSRFlags(fs *flag.FlagSet, opt diffusion.TrainOptions, sampled bool) *srFlags {
	f := &srFlags{
		data:      fs.String("data", "", "comma-separated folders of training photos (searched recursively)"),
		out:       fs.String("out", "", "model file to write (the training state goes to OUT.train)"),
		resume:    fs.Bool("resume", false, "continue from OUT.train"),
		quiet:     fs.Bool("quiet", false, "print nothing but errors"),
		half:      fs.Bool("f16", true, "store the model file in float16"),
		ckptEvery: fs.Int("checkpoint-every", 100, "steps between checkpoints"),
		valEvery:  fs.Int("val-every", 500, "steps between validations"),
		val:       new(string), valSteps: new(int), valCrop: new(int), valMax: new(int), valStr: new(float64),
		card: paramFlags{},
		opt:  opt,
	}
	if sampled {
		f.val = fs.String("val", "", "comma-separated folders of validation images (e.g. ../shared/data/val/Set14, or DIR@heldout: the held-out split of DIR)")
		f.valSteps = fs.Int("val-steps", 20, "DDIM steps when validating")
		f.valCrop = fs.Int("val-crop", 96, "HR centre-crop side of each validation image")
		f.valMax = fs.Int("val-images", 8, "validation images used at most")
		f.valStr = fs.Float64("val-strength", 0, "sampling strength when validating (0: from pure noise)")
	}
	fs.Var(f.card, "card", "model-card entry KEY=VALUE stored in the model file (repeatable), e.g. data=... or training=...")
	o := &f.opt
	fs.IntVar(&o.Steps, "steps", o.Steps, "total training steps")
	fs.IntVar(&o.Until, "until", 0, "stop after this step, keeping the schedule of --steps (for ablations)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "crops per step")
	fs.IntVar(&o.Crop, "crop", o.Crop, "HR crop side in pixels (the LR is crop/scale)")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "learning-rate warm-up steps")
	fs.Float64Var(&o.EMADecay, "ema", o.EMADecay, "EMA decay of the weights (0: none)")
	fs.IntVar(&o.Reuse, "reuse", o.Reuse, "steps each encoded crop serves on average (1: fresh crops every step, as the paper)")
	fs.IntVar(&o.Pool, "pool", o.Pool, "encoded crops kept for reuse")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed (initial weights and training draws)")
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
	f := addSRFlags(fs, diffusion.DefaultTrainOptions(), true)
	aePath := fs.String("ae", "", "stage-1 auto-encoder file (default: the built-in one); embedded into the SR model")
	init := fs.String("init", "", "SR model to fine-tune (its U-Net, latent statistics and auto-encoder) instead of fresh weights")
	degradation := fs.String("degradation", "bicubic", "how training LRs are made from HR crops: bicubic (the benchmark protocol) or real (blur, resize, noise and JPEG: package degrade)")
	nf := addNewModelFlags(fs, diffusion.PredictV) // ε fails at this budget: model card, "Why v-prediction"
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	deg := diffusion.DegradeBicubic
	switch *degradation {
	case "bicubic":
	case diffusion.DegradeReal:
		deg = diffusion.DegradeReal
	default:
		return fmt.Errorf("--degradation %q: want bicubic or real", *degradation)
	}
	set, err := dataset.LoadDirs(strings.Split(*f.data, ","), f.opt.Crop)
	if err != nil {
		return err
	}
	var tr *diffusion.Trainer
	switch {
	case *f.resume:
		if tr, err = diffusion.Resume(*f.out+".train", set, f.opt); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	case *init != "":
		s, err := diffusion.LoadSR(*init)
		if err != nil {
			return err
		}
		s.Config.Degradation = deg
		if tr, err = diffusion.NewTrainer(s, set, f.opt); err != nil {
			return err
		}
	default:
		ae, err := models.AutoEncoder(*aePath)
		if err != nil {
			return err
		}
		if tr, err = nf.newTrainer(ae, set, f, false, deg); err != nil {
			return err
		}
	}
	return runSRTrainer(tr, set, f, "sr")
}

func runTrainAlign(args []string) error {
	fs := flag.NewFlagSet("train align", flag.ContinueOnError)
	f := addSRFlags(fs, diffusion.DefaultAlignOptions(), true)
	model := fs.String("model", "", "stage-2 SR model to fine-tune")
	fs.IntVar(&f.opt.Queries, "queries", f.opt.Queries, "target pixels decoded per crop in the image term")
	fs.Float64Var(&f.opt.SNRCap, "snr-cap", f.opt.SNRCap, "cap γ on the weight w(t) = min(SNR(t), γ)")
	fs.Float64Var(&f.opt.LatentWeight, "latent-weight", f.opt.LatentWeight, "weight of the latent term (0: off)")
	fs.Float64Var(&f.opt.ImageWeight, "image-weight", f.opt.ImageWeight, "weight of the image term (0: off)")
	fs.IntVar(&f.opt.MaxScale, "max-scale", 0, "largest output scale of the image term, a multiple of the model's (0: the model's own); above it, wide crops supply the targets")
	fs.Float64Var(&f.opt.Wide, "wide", f.opt.Wide, "share of wide crops when --max-scale exceeds the model's scale")
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

// newModelFlags shape a fresh diffusion model: its U-Net, what it
// predicts and how its latents are normalised.
type newModelFlags struct {
	modelCh, numRes, heads, statCrops *int
	mult, attn, pred, norm            *string
	midAttn                           *bool
}

func addNewModelFlags(fs *flag.FlagSet, pred string) *newModelFlags {
	def := diffusion.DefaultUNet(8)
	return &newModelFlags{
		modelCh:   fs.Int("model-ch", def.ModelCh, "U-Net base width"),
		mult:      fs.String("ch-mult", "1,2,2", "U-Net width multiplier per level (len-1 down-samplings)"),
		numRes:    fs.Int("num-res", def.NumResBlocks, "U-Net residual blocks per level"),
		attn:      fs.String("attn", "2,4", "down-sampling factors with self-attention (empty: none)"),
		heads:     fs.Int("heads", def.Heads, "attention heads"),
		midAttn:   fs.Bool("mid-attn", def.MidAttn, "self-attention in the middle block"),
		pred:      fs.String("prediction", pred, "what the U-Net predicts: eps (the paper's) or v"),
		norm:      fs.String("norm", "channel", "latent normalisation: channel (per-channel mean/std) or global (1/std, as LDM)"),
		statCrops: fs.Int("stat-crops", 256, "training crops encoded to estimate the latent statistics"),
	}
}

// newTrainer builds a fresh model (a generator when gen is set) around ae
// with the flags' U-Net, estimates its latent statistics on set and
// returns a trainer for it.
func (nf *newModelFlags) newTrainer(ae *autoencoder.Model, set *dataset.Set, f *srFlags, gen bool, degradation string) (*diffusion.Trainer, error) {
	if *nf.norm != "channel" && *nf.norm != "global" {
		return nil, fmt.Errorf("--norm %q: want channel or global", *nf.norm)
	}
	cfg := diffusion.DefaultUNet(ae.Config.LatentCh)
	cfg.ModelCh, cfg.NumResBlocks, cfg.Heads, cfg.MidAttn = *nf.modelCh, *nf.numRes, *nf.heads, *nf.midAttn
	var err error
	if cfg.ChMult, err = intList(*nf.mult); err != nil {
		return nil, err
	}
	cfg.AttnDown = nil
	if *nf.attn != "" {
		if cfg.AttnDown, err = intList(*nf.attn); err != nil {
			return nil, err
		}
	}
	build := diffusion.New
	if gen {
		cfg.InCh = ae.Config.LatentCh
		build = diffusion.NewGenerator
	}
	s, err := build(ae, cfg, diffusion.DefaultSchedule(), f.opt.Crop/ae.Config.Factor(), f.opt.Seed)
	if err != nil {
		return nil, err
	}
	logf(*f.quiet, "estimating latent statistics over %d crops", *nf.statCrops)
	shift, scale, err := diffusion.EstimateLatentStats(ae, set, *nf.statCrops, f.opt.Crop, f.opt.Seed, *nf.norm == "channel")
	if err != nil {
		return nil, err
	}
	if err := s.SetLatentStats(shift, scale); err != nil {
		return nil, err
	}
	if err := s.SetPrediction(*nf.pred); err != nil {
		return nil, err
	}
	s.Config.Degradation = degradation
	logf(*f.quiet, "latent shift %v, scale %v", shift, scale)
	return diffusion.NewTrainer(s, set, f.opt)
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
			return s.Save(*f.out, *f.half, f.card.modelCard(tr.Step, stage))
		},
	}
	// Validation: the ε-loss of the EMA weights on fixed held-out crops
	// (a generator's held-back images, or the --val folder) and, for SR,
	// PSNR-Y of sampled outputs on the --val images.
	valData, lossCrops := f.held, 256
	var imgs []*imageio.Image
	if valData == nil && *f.val != "" {
		dirs := strings.Split(*f.val, ",")
		var err error
		if imgs, err = roundRobinImages(dirs, *f.valMax); err != nil {
			return err
		}
		if valData, err = dataset.LoadDirs(dirs, tr.Opt.Crop); err != nil {
			return err
		}
		lossCrops = 32
	}
	if valData != nil {
		curve := *f.out + ".val.csv"
		started := time.Now()
		hooks.ValidateEvery = *f.valEvery
		hooks.Validate = func() (string, error) {
			tr.EMA.Swap()
			defer tr.EMA.Swap()
			loss, err := s.DenoiseLoss(valData, lossCrops, tr.Opt.Crop, 1)
			if err != nil {
				return "", err
			}
			head := "step,session_seconds,val_eps_loss"
			row := fmt.Sprintf("%d,%.0f,%.5f", tr.Step, time.Since(started).Seconds(), loss)
			msg := fmt.Sprintf("val ε-loss (EMA) %.4f", loss)
			if len(imgs) > 0 {
				res, err := evaluate.ValidateCrops(context.Background(), &diffusion.Upscaler{SR: s, Opt: diffusion.SampleOptions{Steps: *f.valSteps, Strength: *f.valStr, Consistency: -1}}, imgs, float64(s.Config.Scale), *f.valCrop)
				if err != nil {
					return "", err
				}
				head += ",psnr_y,bicubic_psnr_y"
				row += fmt.Sprintf(",%.3f,%.3f", res.PSNRY, res.BicubicPSNRY)
				msg += ", " + res.String()
			}
			return msg, appendCSV(curve, head, row)
		}
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, os.Stderr, *f.quiet, hooks)
}

// roundRobinImages reads up to max images from the folders in turn, so
// that each folder is among the first ones.
func roundRobinImages(dirs []string, max int) ([]*imageio.Image, error) {
	var lists [][]string
	for _, d := range dirs {
		files, err := dataset.ImageFiles(d)
		if err != nil {
			return nil, err
		}
		lists = append(lists, files)
	}
	var imgs []*imageio.Image
	for i := 0; len(imgs) < max; i++ {
		more := false
		for _, files := range lists {
			if i >= len(files) || len(imgs) == max {
				continue
			}
			more = true
			img, err := imageio.Read(files[i])
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
		if !more {
			break
		}
	}
	return imgs, nil
}
