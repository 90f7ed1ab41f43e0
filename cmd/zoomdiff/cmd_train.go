package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

func init() {
	register(&command{name: "train", summary: "train a stage: ae (auto-encoder + implicit decoder), sr (latent diffusion), align (alignment fine-tuning), gen (generation from noise), or a baseline: liif, idm", run: runTrain})
}

func runTrain(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: zoomdiff train ae|sr|align|gen|liif|idm [flags]")
	}
	switch args[0] {
	case "ae":
		return runTrainAE(args[1:])
	case "sr":
		return runTrainSR(args[1:])
	case "align":
		return runTrainAlign(args[1:])
	case "gen":
		return runTrainGen(args[1:])
	case "liif":
		return runTrainLIIF(args[1:])
	case "idm":
		return runTrainIDM(args[1:])
	}
	return fmt.Errorf("unknown stage %q (have: ae, sr, align, gen, liif, idm)", args[0])
}

// intList parses "128,128,128".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad list %q: want positive integers separated by commas", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// signalContext is cancelled on SIGINT or SIGTERM, so long work can save
// its state and stop cleanly.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runTrainAE(args []string) error {
	fs := flag.NewFlagSet("train ae", flag.ContinueOnError)
	data := fs.String("data", "", "comma-separated folders of training photos (searched recursively)")
	val := fs.String("val", "", "folder of validation images (e.g. ../shared/data/val/Set14)")
	out := fs.String("out", "", "model file to write (the training state goes to OUT.train)")
	resume := fs.Bool("resume", false, "continue from OUT.train")
	initFrom := fs.String("init", "", "start from this model file's weights and architecture (a fresh optimiser and schedule)")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	opt := autoencoder.DefaultTrainOptions() // the defaults, written once there
	fs.IntVar(&opt.Steps, "steps", opt.Steps, "total training steps")
	fs.IntVar(&opt.Until, "until", 0, "stop after this step, keeping the schedule of --steps (for ablations)")
	fs.IntVar(&opt.Batch, "batch", opt.Batch, "crops per step")
	fs.IntVar(&opt.Crop, "crop", opt.Crop, "crop side in pixels")
	fs.IntVar(&opt.Queries, "queries", opt.Queries, "target pixels queried per crop")
	fs.Float64Var(&opt.LR, "lr", opt.LR, "peak learning rate")
	fs.IntVar(&opt.Warmup, "warmup", opt.Warmup, "learning-rate warm-up steps")
	fs.Float64Var(&opt.LatentProb, "latent-prob", opt.LatentProb, "share of steps decoded at the latent's own size (0: never)")
	fs.IntVar(&opt.MaxScale, "max-scale", 0, "largest decoding scale of the latent (0: the factor, the crop's own size); above it wide crops supply targets with detail the latent lacks")
	fs.BoolVar(&opt.DecoderOnly, "decoder-only", false, "freeze the encoder and train the implicit decoder alone (latents keep their meaning; see `zoomdiff sr-decoder`)")
	fs.Uint64Var(&opt.Seed, "seed", opt.Seed, "random seed (initial weights and crops)")
	archFlags := addAEArchFlags(fs)
	ckptEvery := fs.Int("checkpoint-every", 100, "steps between checkpoints")
	valEvery := fs.Int("val-every", 250, "steps between validations")
	half := fs.Bool("f16", true, "store the model file in float16")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return errors.New("--data and --out are required")
	}
	cfg, err := archFlags()
	if err != nil {
		return err
	}
	statePath := *out + ".train"
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}

	var m *autoencoder.Model
	if *initFrom != "" {
		// A model file carries its own architecture; the flags that shape
		// the network are ignored.
		if m, err = autoencoder.Load(*initFrom); err != nil {
			return err
		}
		logf("initialised from %s", *initFrom)
	} else if m, err = autoencoder.New(cfg, opt.Seed); err != nil {
		return err
	}
	set, err := dataset.LoadDirs(strings.Split(*data, ","), opt.Crop)
	if err != nil {
		return err
	}
	logf("data: %d photos, %.1f Mpx; model: %d parameters", len(set.Photos), float64(set.Pixels())/1e6, m.Params.Count())
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
	if *resume {
		if err := tr.Resume(statePath); err != nil {
			return err
		}
		logf("resumed %s at step %d", statePath, tr.Step)
	}

	hooks := trainloop.Hooks{
		CheckpointEvery: *ckptEvery,
		Checkpoint:      func() error { return tr.Checkpoint(statePath, *out, *half) },
	}
	if *val != "" {
		if hooks.Validate, err = aeValidation(tr, *val, *out+".val.csv"); err != nil {
			return err
		}
		hooks.ValidateEvery = *valEvery
	}
	ctx, stop := signalContext()
	defer stop()
	return tr.Run(ctx, os.Stderr, *quiet, hooks)
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

// addAEArchFlags defines the flags that shape a new auto-encoder, with
// autoencoder.DefaultConfig's values as defaults; the returned function
// reads them into a Config after parsing.
func addAEArchFlags(fs *flag.FlagSet) func() (autoencoder.Config, error) {
	def := autoencoder.DefaultConfig()
	channels := fs.Int("channels", def.Channels, "base width")
	mult := fs.String("ch-mult", "1,2,2", "width multiplier per level (len-1 down-samplings)")
	numRes := fs.Int("num-res", def.NumResBlocks, "residual blocks per level")
	latent := fs.Int("latent", def.LatentCh, "latent channels")
	mlp := fs.String("mlp", "128,128,128", "LIIF MLP hidden widths")
	noSkip := fs.Bool("faithful", false, "the paper's network exactly: no global skip")
	mlpOnly := fs.Bool("mlp-only", def.MLPOnly, "LIIF head directly on the latent; --mlp-only=false adds the convolutional decoder (the paper's full implicit decoder)")
	unfold := fs.Bool("unfold", false, "LIIF 3x3 feature unfolding")
	attn := fs.Bool("attention", false, "self-attention in the middle blocks")
	randomResidual := fs.Bool("random-residual", false, "start the skip design's residual layers from random weights, not zero")
	return func() (autoencoder.Config, error) {
		cfg := def
		cfg.Channels, cfg.NumResBlocks, cfg.LatentCh = *channels, *numRes, *latent
		cfg.GlobalSkip, cfg.MLPOnly, cfg.Unfold, cfg.Attention = !*noSkip, *mlpOnly, *unfold, *attn
		cfg.RandomResidual = *randomResidual
		var err error
		if cfg.ChMult, err = intList(*mult); err != nil {
			return cfg, err
		}
		if cfg.MLP, err = intList(*mlp); err != nil {
			return cfg, err
		}
		return cfg, nil
	}
}

// aeValidation reads the validation images of folder and returns the hook
// that scores the live and averaged weights on them, appending each
// result to the curve file.
func aeValidation(tr *autoencoder.Trainer, folder, curve string) (func() (string, error), error) {
	files, err := dataset.ImageFiles(folder)
	if err != nil {
		return nil, err
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
