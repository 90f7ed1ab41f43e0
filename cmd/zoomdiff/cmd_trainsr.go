package main

import (
	"cmp"
	"context"
	"errors"
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

// srStage is a diffusion training command (train sr, align or gen): the
// shared flags, the recipe and how it validates.
type srStage struct {
	*trainFlags
	opt         diffusion.TrainOptions
	valSettings valSettings
	fresh       freshModel
	// held, for a generator, is the held-back data its validation loss is
	// measured on.
	held *dataset.Set
}

// valSettings say how a stage validates on the --val images: centre crops
// upscaled and scored against bicubic. Each stage reads the groups it has.
type valSettings struct {
	Images   int     `opt:"val-images" help:"validation images used at most"`
	Crop     int     `opt:"val-crop" help:"HR centre-crop side of each validation image"`
	Scale    float64 `opt:"val-scale" group:"val-scale" help:"scale of the validation"`
	Steps    int     `opt:"val-steps" group:"val-steps" help:"sampling steps when validating (the model's default sampler)"`
	Strength float64 `opt:"val-strength" group:"val-strength" help:"sampling strength when validating (0: from pure noise)"`
}

// check refuses a count of images below least, or a crop, that no
// validation can use, before the run rather than at its first validation.
func (v valSettings) check(least int) error {
	if v.Images < least {
		return fmt.Errorf("val-images %d: want at least %d", v.Images, least)
	}
	if v.Crop < 1 {
		return fmt.Errorf("val-crop %d: want at least 1", v.Crop)
	}
	return nil
}

// freshModel shapes a diffusion model trained from scratch: its U-Net,
// what it predicts and how its latents are normalised. It is ignored
// when a stage starts from a model file or resumes.
type freshModel struct {
	UNet       diffusion.UNetConfig
	Prediction string `opt:"prediction" help:"what the U-Net predicts: eps (the paper's) or v"`
	Norm       string `opt:"norm" help:"latent normalisation: channel (per-channel mean/std) or global (1/std, as LDM)"`
	StatCrops  int    `opt:"stat-crops" help:"training crops encoded to estimate the latent statistics"`
}

// defaultFreshModel is the shipped models' shape: the default U-Net,
// v-prediction (ε fails at this budget: model card, "Why v-prediction")
// and per-channel latent statistics from 256 crops.
func defaultFreshModel() freshModel {
	return freshModel{UNet: diffusion.DefaultUNet(1), Prediction: diffusion.PredictV, Norm: "channel", StatCrops: 256}
}

// newSRStage declares a diffusion stage's flags; the U-Net settings are
// offered when fresh is set, sampled validation on --val when sampled is;
// groups are the recipe's option groups the stage reads and extra the
// stage's own settings structs.
func newSRStage(stage, synopsis string, opt diffusion.TrainOptions, fresh, sampled bool, groups []string, extra ...any) *srStage {
	s := &srStage{opt: opt, fresh: defaultFreshModel(),
		valSettings: valSettings{Images: 8, Crop: 96, Steps: 20}}
	recipe := []any{&s.opt}
	valHelp := ""
	if sampled {
		valHelp = "comma-separated folders of validation images (e.g. ../shared/data/val/Set14, or DIR@heldout: the held-out split of DIR)"
		recipe = append(recipe, &s.valSettings)
		groups = append(groups, "val-steps", "val-strength")
	}
	if fresh {
		recipe = append(recipe, &s.fresh)
	}
	recipe = append(recipe, extra...)
	s.trainFlags = newTrainFlags(stage, synopsis, valHelp, defaultRunSettings(500), groups, recipe...)
	return s
}

func runTrainSR(args []string) error {
	s := newSRStage("sr", "zoomdiff train sr [--ae AE | --init SR] [--degradation real] --data DIRS --out FILE [--val DIRS] [--resume] [--set KEY=VALUE ...]",
		diffusion.DefaultTrainOptions(), true, true, nil)
	aePath := s.fs.String("ae", "", "stage-1 auto-encoder file (default: the built-in one); embedded into the SR model")
	init := s.fs.String("init", "", "SR model to fine-tune (its U-Net, latent statistics and auto-encoder) instead of fresh weights")
	degradation := s.fs.String("degradation", "bicubic", "how training LRs are made from HR crops: bicubic (the benchmark protocol) or real (blur, resize, noise and JPEG: package degrade)")
	if err := s.parse(args); err != nil {
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
	set, err := s.dataDirs(s.opt.Crop)
	if err != nil {
		return err
	}
	return s.train("sr", set, func() (*diffusion.Trainer, error) {
		if *init != "" {
			return s.fineTune(*init, set, deg)
		}
		ae, err := models.AutoEncoder(*aePath)
		if err != nil {
			return nil, err
		}
		m, err := s.newModel(ae, set, false, deg)
		if err != nil {
			return nil, err
		}
		return diffusion.NewTrainer(m, set, s.opt)
	})
}

func runTrainAlign(args []string) error {
	s := newSRStage("align", "zoomdiff train align --model SR --data DIRS --out FILE [--val DIRS] [--resume] [--set KEY=VALUE ...]",
		diffusion.DefaultAlignOptions(), false, true, []string{"align"})
	model := s.fs.String("model", "", "stage-2 SR model to fine-tune")
	if err := s.parse(args); err != nil {
		return err
	}
	if *model == "" && !s.resume { // before the data, which may take minutes to read
		return errors.New("--model is required (the stage-2 SR model)")
	}
	set, err := s.dataDirs(s.opt.Crop)
	if err != nil {
		return err
	}
	return s.train("align", set, func() (*diffusion.Trainer, error) {
		return s.fineTune(*model, set, "")
	})
}

func runTrainStudent(args []string) error {
	s := newSRStage("student", "zoomdiff train student --teacher SR --data DIRS --out FILE [--val DIRS] [--resume] [--set KEY=VALUE ...]",
		diffusion.DefaultDistillOptions(), false, true, []string{"distill"})
	teacherPath := s.fs.String("teacher", "", "SR model to distil; needed again with --resume")
	initPath := s.fs.String("init", "", "the student's starting weights: an SR model with the teacher's configuration and encoder, e.g. a student of it to train further (default: the teacher's)")
	if err := s.parse(args); err != nil {
		return err
	}
	if !s.settings.Given("val-steps") {
		s.valSettings.Steps = s.opt.Distill // a student validates at its own step count, with DDIM
	}
	if *teacherPath == "" {
		return errors.New("--teacher is required (the SR model to distil, e.g. builtin:sr)")
	}
	teacher, err := models.SR(*teacherPath)
	if err != nil {
		return err
	}
	set, err := s.dataDirs(s.opt.Crop)
	if err != nil {
		return err
	}
	tr, err := s.start(set, func() (*diffusion.Trainer, error) {
		from := cmp.Or(*initPath, *teacherPath)
		student, err := models.SR(from)
		if err != nil {
			return nil, err
		}
		if err := student.CheckStudentOf(teacher); err != nil {
			return nil, fmt.Errorf("--init %s: %w", from, err)
		}
		return diffusion.NewTrainer(student, set, s.opt)
	})
	if err != nil {
		return err
	}
	tr.Teacher = teacher
	return s.runTrainer(tr, set, "student")
}

// train continues the run whose state is beside --out, or with --resume
// absent the one start begins, and runs it on set.
func (s *srStage) train(stage string, set *dataset.Set, start func() (*diffusion.Trainer, error)) error {
	tr, err := s.start(set, start)
	if err != nil {
		return err
	}
	// A resumed trainer is rebuilt from the state's own config, whose
	// kind matches the state whatever the stage: train sr and train gen
	// must still not take each other's runs.
	if gen := stage == "gen"; s.resume && tr.SR.Config.Generator != gen {
		other := "gen"
		if gen {
			other = "sr"
		}
		return fmt.Errorf("resume: %s holds a run of train %s, not of train %s", s.statePath(), other, stage)
	}
	return s.runTrainer(tr, set, stage)
}

// start resumes the run whose state is beside --out, or with --resume
// absent calls begin.
func (s *srStage) start(set *dataset.Set, begin func() (*diffusion.Trainer, error)) (*diffusion.Trainer, error) {
	if !s.resume {
		return begin()
	}
	return diffusion.Resume(s.statePath(), set, s.opt)
}

// fineTune starts from the SR model in path, with its LRs made by
// degradation ("": the model's own).
func (s *srStage) fineTune(path string, set *dataset.Set, degradation string) (*diffusion.Trainer, error) {
	m, err := diffusion.LoadSR(path)
	if err != nil {
		return nil, err
	}
	if degradation != "" {
		m.Config.Degradation = degradation
	}
	return diffusion.NewTrainer(m, set, s.opt)
}

// newModel builds a fresh model (a generator when gen is set) around ae
// with the settings' U-Net and estimates its latent statistics on set.
func (s *srStage) newModel(ae *autoencoder.Model, set *dataset.Set, gen bool, degradation string) (*diffusion.SR, error) {
	f := s.fresh
	if f.Norm != "channel" && f.Norm != "global" {
		return nil, fmt.Errorf("norm %q: want channel or global", f.Norm)
	}
	cfg := f.UNet
	def := diffusion.DefaultUNet(ae.Config.LatentCh)
	cfg.InCh, cfg.OutCh = def.InCh, def.OutCh
	m, err := s.buildModel(ae, cfg, gen)
	if err != nil {
		return nil, err
	}
	s.logf("estimating latent statistics over %d crops", f.StatCrops)
	shift, scale, err := diffusion.EstimateLatentStats(ae, set, f.StatCrops, s.opt.Crop, s.opt.Seed, f.Norm == "channel")
	if err != nil {
		return nil, err
	}
	if err := m.SetLatentStats(shift, scale); err != nil {
		return nil, err
	}
	if err := m.SetPrediction(f.Prediction); err != nil {
		return nil, err
	}
	m.Config.Degradation = degradation
	s.logf("latent shift %v, scale %v", shift, scale)
	return m, nil
}

// buildModel builds an SR model around ae with the U-Net cfg, or a
// generator's model when gen is set.
func (s *srStage) buildModel(ae *autoencoder.Model, cfg diffusion.UNetConfig, gen bool) (*diffusion.SR, error) {
	side := s.opt.Crop / ae.Config.Factor()
	if !gen {
		return diffusion.New(ae, cfg, diffusion.DefaultSchedule(), side, s.opt.Seed)
	}
	cfg.InCh = ae.Config.LatentCh
	g, err := diffusion.NewGenerator(ae, cfg, diffusion.DefaultSchedule(), side, s.opt.Seed)
	if err != nil {
		return nil, err
	}
	return g.Model, nil
}

// runTrainer wires checkpoints and validation to a trainer and runs it.
func (s *srStage) runTrainer(tr *diffusion.Trainer, set *dataset.Set, stage string) error {
	m := tr.SR
	s.logf("data: %d photos, %.1f Mpx; U-Net: %d parameters; start at step %d", len(set.Photos), float64(set.Pixels())/1e6, m.UNet.Params.Count(), tr.Step)
	hooks := trainloop.Hooks{
		CheckpointEvery: s.run.CheckpointEvery,
		Checkpoint: func() error {
			if err := checkpoint.SaveTrain(s.statePath(), tr.State(), true); err != nil {
				return err
			}
			return tr.WithEMA(func() error { return m.Save(s.out, s.run.Half, s.card.modelCard(tr.Step, stage)) })
		},
	}
	validate, err := s.validation(tr)
	if err != nil {
		return err
	}
	if validate != nil {
		hooks.ValidateEvery, hooks.Validate = s.run.ValEvery, validate
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, os.Stderr, s.quiet, hooks)
}

// validation returns the hook that measures the ε-loss of the EMA weights
// on fixed held-out crops (a generator's held-back images, or the --val
// folders) and, for SR, PSNR-Y of sampled outputs on the --val images,
// appending each result to the curve file; nil when there is nothing to
// validate on.
func (s *srStage) validation(tr *diffusion.Trainer) (func() (string, error), error) {
	m := tr.SR
	valData, lossCrops := s.held, 256
	var imgs []*imageio.Image
	if valData == nil && s.val != "" {
		if err := s.valSettings.check(0); err != nil { // 0 images: the loss alone
			return nil, err
		}
		dirs := strings.Split(s.val, ",")
		var err error
		if imgs, err = roundRobinImages(dirs, s.valSettings.Images); err != nil {
			return nil, fmt.Errorf("--val: %w", err)
		}
		if valData, err = dataset.LoadDirs(dirs, tr.Opt.Crop); err != nil {
			return nil, fmt.Errorf("--val: %w", err)
		}
		lossCrops = 32
	}
	if valData == nil {
		return nil, nil
	}
	up := &diffusion.Upscaler{SR: m, Opt: m.Config.SampleOptions()}
	up.Opt.Steps, up.Opt.Strength, up.Opt.Consistency = s.valSettings.Steps, s.valSettings.Strength, 0
	err := tryValidation(s.val, imgs, func(imgs []*imageio.Image) error {
		_, err := evaluate.ValidateCrops(context.Background(), up, imgs, float64(m.Config.Scale), s.valSettings.Crop)
		return err
	})
	if err != nil {
		return nil, err
	}
	started := time.Now()
	return func() (msg string, err error) {
		err = tr.WithEMA(func() error {
			loss, err := m.DenoiseLoss(valData, lossCrops, tr.Opt.Crop, 1)
			if err != nil {
				return err
			}
			head := "step,session_seconds,val_eps_loss"
			row := fmt.Sprintf("%d,%.0f,%.5f", tr.Step, time.Since(started).Seconds(), loss)
			msg = fmt.Sprintf("val ε-loss (EMA) %.4f", loss)
			if len(imgs) > 0 {
				res, err := evaluate.ValidateCrops(context.Background(), up, imgs, float64(m.Config.Scale), s.valSettings.Crop)
				if err != nil {
					return err
				}
				head += ",psnr_y,bicubic_psnr_y"
				row += fmt.Sprintf(",%.3f,%.3f", res.PSNRY, res.BicubicPSNRY)
				msg += ", " + res.String()
			}
			return appendCSV(s.curvePath(), head, row)
		})
		return msg, err
	}, nil
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
