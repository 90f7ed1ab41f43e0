package main

import (
	"fmt"
	"slices"
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
// and eval-gen hold them back; held is nil when perClass is 0) or
// comma-separated folders (nothing held back). Crops are only mirrored,
// never rotated.
func loadGenData(path string, perClass, minSide int) (train, held *dataset.Set, classes []string, err error) {
	if !isTar(path) {
		train, err = dataset.LoadDirs(strings.Split(path, ","), minSide)
		if err != nil {
			return nil, nil, nil, err
		}
		train.Upright = true
		return train, nil, nil, nil
	}
	tr, hd, err := loadSplit(path, perClass)
	if err != nil {
		return nil, nil, nil, err
	}
	sets := []*dataset.Set{&tr.Set}
	if len(hd.Photos) > 0 { // holdout=0: nothing to validate on
		sets = append(sets, &hd.Set)
		held = &hd.Set
	}
	train = &tr.Set
	for _, s := range sets {
		for _, p := range s.Photos {
			if p.W < minSide || p.H < minSide {
				return nil, nil, nil, fmt.Errorf("%s: %s is %dx%d, smaller than the %d-pixel crop", path, p.Name, p.W, p.H, minSide)
			}
		}
		s.Upright = true
	}
	return train, held, tr.Classes, nil
}

// genSettings are train gen's own settings.
type genSettings struct {
	Holdout int `opt:"holdout" help:"images per class held back from a .tar for the validation loss (and eval-gen's reference)"`
	// Conditional trains a class-conditional generator on a labelled
	// archive; an unconditional --init model is given classes first.
	Conditional bool `opt:"conditional" help:"class-conditional generation on a labelled .tar's classes (generate --class, --guidance)"`
}

func runTrainGen(args []string) error {
	gs := genSettings{Holdout: 500}
	s := newSRStage("gen", "zoomdiff train gen --data DIR[,DIR...]|FILE.tar.gz --out FILE [--ae AE | --init GEN] [--resume] [--set KEY=VALUE ...]",
		diffusion.DefaultGenTrainOptions(), true, false, []string{"classes"}, &gs)
	aePath := s.fs.String("ae", "", "auto-encoder file (default: the built-in one); embedded into the generator")
	init := s.fs.String("init", "", "generator to continue training (builtin:gen or a file: its U-Net, latent statistics and auto-encoder) with a fresh optimiser and schedule")
	if err := s.parse(args); err != nil {
		return err
	}
	set, held, classes, err := loadGenData(s.data, gs.Holdout, s.opt.Crop)
	if err != nil {
		return err
	}
	if gs.Conditional && len(classes) < 2 {
		return fmt.Errorf("conditional generation needs a labelled .tar with at least 2 class folders; %s has %d", s.data, len(classes))
	}
	s.held = held
	if held != nil {
		s.logf("%d training images, %d held back", len(set.Photos), len(held.Photos))
	}
	return s.train("gen", set, func() (*diffusion.Trainer, error) {
		var g *diffusion.Generator
		if *init != "" {
			if g, err = models.Generator(*init); err != nil {
				return nil, err
			}
		} else {
			ae, err := models.AutoEncoder(*aePath)
			if err != nil {
				return nil, err
			}
			m, err := s.newModel(ae, set, true, diffusion.DegradeBicubic)
			if err != nil {
				return nil, err
			}
			g = &diffusion.Generator{Model: m}
		}
		if g, err = withClasses(g, gs.Conditional, classes); err != nil {
			return nil, err
		}
		return diffusion.NewTrainer(g.Model, set, s.opt)
	})
}

// withClasses returns g ready to train on data labelled with classes:
// given those classes when conditional and it has none, as it is when its
// classes are those, and an error when they differ.
func withClasses(g *diffusion.Generator, conditional bool, classes []string) (*diffusion.Generator, error) {
	have := g.Model.Config.Classes
	switch {
	case len(have) == 0 && conditional:
		return g.AddClasses(classes)
	case len(have) > 0 && !slices.Equal(have, classes):
		return nil, fmt.Errorf("the generator's classes %v are not the data's %v", have, classes)
	}
	return g, nil
}
