package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

func runTrain(args []string) error {
	return dispatch("train", []subcommand{{"ae", runTrainAE}, {"sr", runTrainSR}, {"align", runTrainAlign},
		{"student", runTrainStudent}, {"condition", runTrainCondition}, {"gen", runTrainGen}, {"liif", runTrainLIIF}, {"idm", runTrainIDM}}, args)
}

// signalContext is cancelled on SIGINT or SIGTERM, so long work can save
// its state and stop cleanly. The first signal is the only one it takes:
// a second Ctrl-C ends the process at once, for work (a long step, a
// validation) that would take too long to reach its next check. Writes
// stay atomic, so that leaves no half-written file either.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func runTrainAE(args []string) error {
	opt := autoencoder.DefaultTrainOptions() // the defaults, written once there
	cfg := autoencoder.DefaultConfig()
	t := newTrainFlags("ae", "zoomdiff train ae --data DIRS --out FILE [--val DIR] [--init AE] [--resume] [--set KEY=VALUE ...]",
		"folder of validation images (e.g. ../shared/data/val/Set14)", defaultRunSettings(250), nil, &opt, &cfg)
	initFrom := t.fs.String("init", "", "start from this model file's weights and architecture (a fresh optimiser and schedule; the architecture settings are ignored)")
	if err := t.parse(args); err != nil {
		return err
	}
	var m *autoencoder.Model
	var err error
	if t.resume {
		// The run's architecture is the state's, whatever --set says of
		// it now (as train sr does): only the recipe may change.
		if err := checkpoint.TrainConfig(t.statePath(), &cfg); err != nil {
			return err
		}
		if m, err = autoencoder.New(cfg, opt.Seed); err != nil {
			return err
		}
	} else if *initFrom != "" {
		if m, err = autoencoder.Load(*initFrom); err != nil {
			return err
		}
		t.logf("initialised from %s", *initFrom)
	} else if m, err = autoencoder.New(cfg, opt.Seed); err != nil {
		return err
	}
	set, err := t.dataDirs(opt.Crop)
	if err != nil {
		return err
	}
	t.logf("data: %d photos, %.1f Mpx; model: %d parameters", len(set.Photos), float64(set.Pixels())/1e6, m.Params.Count())
	resize := func(pix []float32, w, h, ow, oh int) []float32 {
		r, err := resample.Resize(pix, w, h, 3, ow, oh, resample.Options{Method: resample.Bicubic})
		if err != nil {
			panic(err) // sizes are computed by the trainer and always valid
		}
		return r
	}
	tr, err := autoencoder.NewTrainer(m, set, opt, resize)
	if err != nil {
		return err
	}
	if t.resume {
		if err := tr.Resume(t.statePath()); err != nil {
			return err
		}
		t.logf("resumed %s at step %d", t.statePath(), tr.Step)
	}
	hooks := trainloop.Hooks{
		CheckpointEvery: t.run.CheckpointEvery,
		Checkpoint:      func() error { return tr.Checkpoint(t.statePath(), t.out, t.run.Half, t.card.modelCard(tr.Step, "ae")) },
	}
	if t.val != "" {
		if hooks.Validate, err = aeValidation(tr, t.val, t.curvePath()); err != nil {
			return err
		}
		hooks.ValidateEvery = t.run.ValEvery
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, os.Stderr, t.quiet, hooks)
}

// appendCurve adds one validation row to a CSV file: step, seconds of
// this session, then PSNR-Y per scale of the raw and the EMA weights.
func appendCurve(path string, step int, el time.Duration, raw, ema []autoencoder.ReconResult) error {
	head, row := "step,session_seconds", fmt.Sprintf("%d,%.0f", step, el.Seconds())
	for i, rs := range [][]autoencoder.ReconResult{raw, ema} {
		for _, r := range rs {
			head += fmt.Sprintf(",%s_x%g", []string{"raw", "ema"}[i], r.Scale)
			row += fmt.Sprintf(",%.3f", r.PSNRY)
		}
	}
	return appendCSV(path, head, row)
}

// appendCSV adds row to a CSV file, writing header first when the file
// is new, so a resumed run extends its curve.
func appendCSV(path, header, row string) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if os.IsNotExist(statErr) {
		fmt.Fprintln(f, header)
	}
	fmt.Fprintln(f, row)
	return f.Close()
}

// aeValidation reads the validation images of folder and returns the hook
// that scores the live and averaged weights on them, appending each
// result to the curve file.
func aeValidation(tr *autoencoder.Trainer, folder, curve string) (func() (string, error), error) {
	files, err := dataset.ImageFiles(folder)
	if err != nil {
		return nil, fmt.Errorf("--val: %w", err)
	}
	var images []*imageio.Image
	for _, f := range files {
		img, err := imageio.Read(f)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("--val %s: no images", folder)
	}
	err = tryValidation(folder, images, func(imgs []*imageio.Image) error {
		_, _, err := tr.Validate(imgs)
		return err
	})
	if err != nil {
		return nil, err
	}
	started := time.Now()
	return func() (string, error) {
		raw, ema, err := tr.Validate(images)
		if err != nil {
			return "", err
		}
		if err := appendCurve(curve, tr.Step, time.Since(started), raw, ema); err != nil {
			return "", err
		}
		var parts []string
		for i := range raw {
			parts = append(parts, fmt.Sprintf("x%g %.2f/%.2f dB", raw[i].Scale, raw[i].PSNRY, ema[i].PSNRY))
		}
		return "val PSNR-Y (raw/EMA) " + strings.Join(parts, ", "), nil
	}, nil
}

// tryValidation runs validate on the image of imgs (the --val folders')
// with the shortest side, before the first step: a setting or an image
// the stage's validation cannot use must stop the run now, not at its
// first validation, maybe an hour in.
func tryValidation(val string, imgs []*imageio.Image, validate func([]*imageio.Image) error) error {
	if len(imgs) == 0 {
		return nil
	}
	least := imgs[0]
	for _, m := range imgs[1:] {
		if min(m.W, m.H) < min(least.W, least.H) {
			least = m
		}
	}
	if err := validate([]*imageio.Image{least}); err != nil {
		return fmt.Errorf("--val %s, tried on its smallest image (%dx%d): %w", val, least.W, least.H, err)
	}
	return nil
}
