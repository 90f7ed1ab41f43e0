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
	"github.com/zoomdiff/zoomdiff/resample"
)

func init() {
	register(&command{name: "classifier", summary: "train or test the CIFAR-10 feature classifier used for feature FD", run: runClassifier})
}

func runClassifier(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: zoomdiff classifier train|eval [flags]")
	}
	switch args[0] {
	case "train":
		return runClassifierTrain(args[1:])
	case "eval":
		return runClassifierEval(args[1:])
	}
	return fmt.Errorf("unknown classifier command %q (have: train, eval)", args[0])
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

func runClassifierTrain(args []string) error {
	fs := flag.NewFlagSet("classifier train", flag.ContinueOnError)
	data := fs.String("data", "", "labelled .tar or .tar.gz of images in class folders (e.g. cifar10-train.tar.gz)")
	out := fs.String("out", "", "output model file (.safetensors)")
	holdout := fs.Int("holdout", 500, "images per class held back for the test accuracy")
	minutes := fs.Float64("minutes", 8, "wall-time budget for training")
	steps := fs.Int("steps", 0, "stop after this many steps (0: the time budget decides)")
	topt := featdist.DefaultTrainOptions()
	fs.IntVar(&topt.Batch, "batch", topt.Batch, "images per step")
	fs.Float64Var(&topt.LR, "lr", topt.LR, "peak Adam learning rate")
	widths := fs.String("widths", "32,64,128", "channels per stage")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return errors.New("usage: zoomdiff classifier train --data FILE.tar.gz --out FILE.safetensors")
	}
	ws, err := intList(*widths)
	if err != nil {
		return fmt.Errorf("--widths: %w", err)
	}
	train, held, err := loadSplit(*data, *holdout)
	if err != nil {
		return err
	}
	cfg := featdist.DefaultConfig(train.Classes)
	cfg.Widths = ws
	p := train.Photos[0]
	if p.W != p.H {
		return fmt.Errorf("%s: images are %dx%d, the classifier wants squares", *data, p.W, p.H)
	}
	cfg.Size = p.W
	m, err := featdist.NewClassifier(cfg, *seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "classifier %v on %dx%d, %d parameters\n", cfg.Widths, cfg.Size, cfg.Size, m.Params.Count())
	ctx, stop := signalContext()
	defer stop()
	topt.Steps, topt.Duration, topt.Seed, topt.LogEvery = *steps, time.Duration(*minutes*float64(time.Minute)), *seed, 100
	topt.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	res, err := featdist.Train(ctx, m, train, topt)
	if err != nil && ctx.Err() == nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "trained %d steps (%d images, %.2f epochs) in %s\n",
		res.Steps, res.Images, float64(res.Images)/float64(len(train.Photos)), res.Elapsed.Round(time.Second))
	t0 := time.Now()
	acc, err := featdist.Accuracy(m, held)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "test accuracy %.4f on %d held-out images (%.1fs)\n", acc, len(held.Photos), time.Since(t0).Seconds())
	card := map[string]string{
		"test_accuracy":  strconv.FormatFloat(acc, 'f', 4, 64),
		"test_images":    strconv.Itoa(len(held.Photos)),
		"holdout":        fmt.Sprintf("%d per class, evenly spaced in name order (dataset.Labeled.Split)", *holdout),
		"data":           filepath.Base(*data),
		"train_steps":    strconv.Itoa(res.Steps),
		"train_images":   strconv.Itoa(res.Images),
		"train_seconds":  strconv.FormatFloat(res.Elapsed.Seconds(), 'f', 0, 64),
		"train_batch":    strconv.Itoa(topt.Batch),
		"train_peak_lr":  strconv.FormatFloat(topt.LR, 'g', -1, 64),
		"train_seed":     strconv.FormatUint(*seed, 10),
		"train_last_acc": strconv.FormatFloat(res.TrainAcc, 'f', 4, 64),
	}
	if err := m.Save(*out, card); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "saved %s\n", *out)
	return reportFD(m, train, held)
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
