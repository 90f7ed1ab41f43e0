package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/models"
)

// isTar reports whether a data path names an archive rather than folders.
func isTar(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".tar") || strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// loadGenData reads generation data: a .tar/.tar.gz of images (held back
// perClass images of every class folder for validation, as the classifier
// and eval-gen hold them back) or comma-separated folders (nothing held
// back). Crops are only mirrored, never rotated.
func loadGenData(path string, perClass, minSide int) (train, held *dataset.Set, err error) {
	if !isTar(path) {
		train, err = dataset.LoadDirs(strings.Split(path, ","), minSide)
		if err != nil {
			return nil, nil, err
		}
		train.Upright = true
		return train, nil, nil
	}
	tr, hd, err := loadSplit(path, perClass)
	if err != nil {
		return nil, nil, err
	}
	train, held = &tr.Set, &hd.Set
	for _, s := range []*dataset.Set{train, held} {
		for _, p := range s.Photos {
			if p.W < minSide || p.H < minSide {
				return nil, nil, fmt.Errorf("%s: %s is %dx%d, smaller than the %d-pixel crop", path, p.Name, p.W, p.H, minSide)
			}
		}
		s.Upright = true
	}
	return train, held, nil
}

func runTrainGen(args []string) error {
	fs := flag.NewFlagSet("train gen", flag.ContinueOnError)
	f := addSRFlags(fs, diffusion.DefaultGenTrainOptions(), false)
	aePath := fs.String("ae", "", "auto-encoder file (default: the built-in one); embedded into the generator")
	nf := addNewModelFlags(fs, diffusion.PredictV)
	holdout := fs.Int("holdout", 500, "images per class held back from a .tar for the validation loss (and eval-gen's reference)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *f.data == "" || *f.out == "" {
		return errors.New("usage: zoomdiff train gen --data DIR[,DIR...]|FILE.tar.gz --out FILE [flags]")
	}
	set, held, err := loadGenData(*f.data, *holdout, f.opt.Crop)
	if err != nil {
		return err
	}
	f.held = held
	if *f.resume {
		tr, err := diffusion.Resume(*f.out+".train", set, f.opt)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		return runSRTrainer(tr, set, f, "gen")
	}
	ae, err := models.AutoEncoder(*aePath)
	if err != nil {
		return err
	}
	tr, err := nf.newTrainer(ae, set, f, true, diffusion.DegradeBicubic)
	if err != nil {
		return err
	}
	if held != nil {
		logf(*f.quiet, "%d training images, %d held back", len(set.Photos), len(held.Photos))
	}
	return runSRTrainer(tr, set, f, "gen")
}
