package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/featdist"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/internal/optflag"
	"github.com/zoomdiff/zoomdiff/resample"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

func runClassifier(args []string) error {
	return dispatch("classifier", []subcommand{{"train", runClassifierTrain}, {"eval", runClassifierEval}}, args)
}

// loadSplit reads a labelled archive and holds back perClass images of
// every class.
func loadSplit(path string, perClass int) (train, held *dataset.Labeled, err error) {
	start := time.Now()
	all, err := dataset.LoadTar(path, dataset.TarOptions{})
	if err != nil {
		return nil, nil, err
	}
	train, held, err = all.Split(perClass)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d images in %d classes (%.1fs); %d held back\n",
		path, len(all.Photos), len(all.Classes), time.Since(start).Seconds(), len(held.Photos))
	return train, held, nil
}

// classifierRun is one `classifier train` run: its flags, data, trainer
// and output files.
type classifierRun struct {
	data, out       string
	holdout         int
	resume          bool
	restart         bool
	checkpointEvery int
	train, held     *dataset.Labeled
	tr              *featdist.Trainer
}

// runClassifierTrain trains, checkpointing as it goes. SIGINT or SIGTERM
// saves the run and stops it before the final measurement, which the run
// continued with --resume makes.
func runClassifierTrain(args []string) error {
	r, err := newClassifierRun(args)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if err := r.tr.Run(ctx, os.Stderr, false, r.hooks()); err != nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "stopped at step %d; %s and %s hold it, continue with --resume\n", r.tr.Step, r.out, r.statePath())
		return nil
	}
	return r.finish()
}

// newClassifierRun reads the flags and the data and builds the trainer,
// resumed from OUT.train with --resume.
func newClassifierRun(args []string) (*classifierRun, error) {
	fs := flag.NewFlagSet("classifier train", flag.ContinueOnError)
	r := &classifierRun{}
	fs.StringVar(&r.data, "data", "", "labelled .tar or .tar.gz of images in class folders (e.g. cifar10-train.tar.gz)")
	fs.StringVar(&r.out, "out", "", "output model file (.safetensors); the training state goes to OUT.train")
	fs.IntVar(&r.holdout, "holdout", 500, "images per class held back for the test accuracy")
	fs.BoolVar(&r.resume, "resume", false, "continue the run saved in OUT.train")
	fs.BoolVar(&r.restart, "restart", false, "start a new run over the one OUT.train holds (replaced at the first checkpoint)")
	fs.IntVar(&r.checkpointEvery, "checkpoint-every", 500, "steps between checkpoints (OUT and OUT.train) and held-out accuracy reports (0: only at the end)")
	topt, cfg := featdist.DefaultTrainOptions(), featdist.DefaultConfig(nil)
	synopsis := "zoomdiff classifier train --data FILE.tar.gz --out FILE.safetensors [--resume | --restart] [--set KEY=VALUE ...]"
	fs.Usage = optflag.Usage(fs, synopsis, optflag.Add(fs, "set", nil, &topt, &cfg))
	if err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	if r.data == "" || r.out == "" {
		return nil, errors.New("usage: " + synopsis)
	}
	if err := checkOut(r.out, map[string]string{r.data: "--data"}); err != nil {
		return nil, err
	}
	if err := checkRun(r.statePath(), r.out, r.resume, r.restart); err != nil {
		return nil, err
	}
	if r.checkpointEvery < 0 {
		return nil, fmt.Errorf("--checkpoint-every %d: want 0 (only at the end) or more", r.checkpointEvery)
	}
	// The held-out images give the accuracy reported at each checkpoint
	// and at the end: without them the run would fail there, not now.
	if r.holdout < 1 {
		return nil, fmt.Errorf("--holdout %d: the test accuracy needs at least 1 held-out image per class", r.holdout)
	}
	if isDir(r.data) {
		return nil, fmt.Errorf("--data %s is a folder: classifier train reads a labelled .tar or .tar.gz (one folder per class inside)", r.data)
	}
	var err error
	if r.train, r.held, err = loadSplit(r.data, r.holdout); err != nil {
		return nil, err
	}
	cfg.Classes = r.train.Classes
	p := r.train.Photos[0]
	if p.W != p.H {
		return nil, fmt.Errorf("%s: images are %dx%d, the classifier wants squares", r.data, p.W, p.H)
	}
	cfg.Size = p.W
	m, err := featdist.NewClassifier(cfg, topt.Seed)
	if err != nil {
		return nil, err
	}
	if r.tr, err = featdist.NewTrainer(m, r.train, topt); err != nil {
		return nil, err
	}
	if r.resume {
		if err := r.tr.Resume(r.statePath()); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "classifier %v on %dx%d, %d parameters; start at step %d of %d\n",
		cfg.Widths, cfg.Size, cfg.Size, m.Params.Count(), r.tr.Step, topt.Steps)
	return r, nil
}

// statePath is the training-state file beside the model file.
func (r *classifierRun) statePath() string { return r.out + ".train" }

// hooks checkpoint the run and report the accuracy on up to 100 held-out
// images per class every --checkpoint-every steps: enough to follow the
// run for a second or two of a check, where the whole held-out set would
// take much longer.
func (r *classifierRun) hooks() trainloop.Hooks {
	val := r.held.PerClass(100)
	return trainloop.Hooks{
		CheckpointEvery: r.checkpointEvery,
		Checkpoint:      func() error { return r.tr.Checkpoint(r.statePath(), r.out, r.card()) },
		ValidateEvery:   r.checkpointEvery,
		Validate: func() (msg string, err error) {
			err = r.tr.WithEMA(func() error {
				acc, err := featdist.Accuracy(r.tr.Model, val)
				msg = fmt.Sprintf("held-out acc %.3f (%d images)", acc, len(val.Photos))
				return err
			})
			return msg, err
		},
	}
}

// card is the model file's metadata: the data and the recipe so far.
func (r *classifierRun) card() map[string]string {
	o, step := r.tr.Opt, r.tr.Step
	return map[string]string{
		"holdout":       fmt.Sprintf("%d per class, evenly spaced in name order (dataset.Labeled.Split)", r.holdout),
		"data":          filepath.Base(r.data),
		"train_steps":   strconv.Itoa(step),
		"train_images":  strconv.Itoa(step * o.Batch),
		"train_batch":   strconv.Itoa(o.Batch),
		"train_peak_lr": strconv.FormatFloat(o.LR, 'g', -1, 64),
		"train_seed":    strconv.FormatUint(o.Seed, 10),
	}
}

// finish measures the finished model on the whole held-out set, saves it
// with that accuracy in its card and prints the feature-FD reference
// points.
func (r *classifierRun) finish() error {
	fmt.Fprintf(os.Stderr, "trained %d steps (%.2f epochs)\n", r.tr.Step, float64(r.tr.Step*r.tr.Opt.Batch)/float64(len(r.train.Photos)))
	t0 := time.Now()
	m := r.tr.Model
	return r.tr.WithEMA(func() error {
		acc, err := featdist.Accuracy(m, r.held)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "test accuracy %.4f on %d held-out images (%.1fs)\n", acc, len(r.held.Photos), time.Since(t0).Seconds())
		card := r.card()
		card["test_accuracy"] = strconv.FormatFloat(acc, 'f', 4, 64)
		card["test_images"] = strconv.Itoa(len(r.held.Photos))
		if err := m.Save(r.out, card); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "saved %s\n", r.out)
		return reportFD(m, r.train, r.held)
	})
}

func runClassifierEval(args []string) error {
	fs := flag.NewFlagSet("classifier eval", flag.ContinueOnError)
	model := fs.String("model", "", "classifier file from `zoomdiff classifier train`")
	data := fs.String("data", "", "the labelled archive it was trained on")
	holdout := fs.Int("holdout", 500, "images per class held back (as in training)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" || *data == "" {
		return errors.New("usage: zoomdiff classifier eval --model FILE --data FILE.tar.gz")
	}
	m, err := featdist.LoadClassifier(*model)
	if err != nil {
		return err
	}
	train, held, err := loadSplit(*data, *holdout)
	if err != nil {
		return err
	}
	acc, err := featdist.Accuracy(m, held)
	if err != nil {
		return err
	}
	fmt.Printf("test accuracy %.4f on %d held-out images\n", acc, len(held.Photos))
	return reportFD(m, train, held)
}

// reportFD prints the reference points that make a feature FD readable:
// real against real (the floor a perfect generator reaches at these set
// sizes) and real against degraded copies of itself.
func reportFD(m *featdist.Classifier, train, held *dataset.Labeled) error {
	n := len(held.Photos)
	ref := held.Images()
	reals := train.PerClass(n / len(held.Classes)).Images()
	fd, err := featdist.FeatureFD(m, reals, ref)
	if err != nil {
		return err
	}
	fmt.Printf("feature FD, %d train vs %d held-out real images: %.4f\n", len(reals), n, fd)
	for _, f := range []float64{1.5, 2} {
		b, err := blurRoundTrip(reals, f)
		if err != nil {
			return err
		}
		fd, err := featdist.FeatureFD(m, b, ref)
		if err != nil {
			return err
		}
		fmt.Printf("feature FD, train blurred (bicubic ÷%.1f then ×%.1f) vs held-out: %.4f\n", f, f, fd)
	}
	return nil
}

// blurRoundTrip blurs images by a bicubic round trip through a smaller size.
func blurRoundTrip(imgs []*imageio.Image, f float64) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, len(imgs))
	for i, m := range imgs {
		s, err := resample.Image(m, int(float64(m.W)/f+0.5), int(float64(m.H)/f+0.5), resample.Options{Method: resample.Bicubic})
		if err != nil {
			return nil, err
		}
		if out[i], err = resample.Image(s, m.W, m.H, resample.Options{Method: resample.Bicubic}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
