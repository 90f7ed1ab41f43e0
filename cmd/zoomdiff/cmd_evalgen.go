package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/featdist"
)

func init() {
	register(&command{name: "eval-gen", summary: "score generated images: feature FD (and FID) against held-out real images, self-SSIM across sizes", run: runEvalGen})
}

// genScore is one group's row of the eval-gen report.
type genScore struct {
	Group string `json:"group"`
	N     int    `json:"n"`
	// FeatureFD is the classifier-feature Fréchet distance to the held-out
	// real images; RealFD is the same measure for n real training images,
	// the floor a perfect generator would reach at this sample size.
	FeatureFD float64  `json:"feature_fd"`
	RealFD    float64  `json:"real_fd"`
	FID       *float64 `json:"fid,omitempty"`
}

// genReport is the whole eval-gen result.
type genReport struct {
	Classifier      string     `json:"classifier"`
	Reference       string     `json:"reference"`
	ReferenceImages int        `json:"reference_images"`
	Groups          []genScore `json:"groups"`
	SelfSSIM        *float64   `json:"self_ssim,omitempty"`
	SelfSSIMSamples int        `json:"self_ssim_samples,omitempty"`
}

func runEvalGen(args []string) error {
	fs := flag.NewFlagSet("eval-gen", flag.ContinueOnError)
	model := fs.String("classifier", "", "feature classifier from `zoomdiff classifier train`")
	realData := fs.String("real", "", "labelled archive of real images (e.g. cifar10-train.tar.gz)")
	holdout := fs.Int("holdout", 500, "images per class held back as the reference (as in classifier training)")
	inception := fs.String("inception", "", "optional Inception-v3 safetensors (pytorch-fid layout) for standard FID; slow on a CPU")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *model == "" || *realData == "" || fs.NArg() != 1 {
		return errors.New("usage: zoomdiff eval-gen --classifier FILE --real FILE.tar.gz GENERATED_DIR\n" +
			"  GENERATED_DIR holds images, or one subfolder per output size with the same file names in each")
	}
	m, err := featdist.LoadClassifier(*model)
	if err != nil {
		return err
	}
	groups, err := featdist.LoadGenerated(fs.Arg(0))
	if err != nil {
		return err
	}
	train, held, err := loadSplit(*realData, *holdout)
	if err != nil {
		return err
	}
	ref := held.Images()
	refStats, err := featdist.FitStats(m, ref)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	var inc *featdist.Inception
	var incRef *featdist.Stats
	if *inception != "" {
		if inc, err = featdist.LoadInception(*inception, featdist.InceptionConfig{}); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Inception features of %d reference images (about 6 GFLOP each)…\n", len(ref))
		if incRef, err = featdist.FitStats(inc, ref); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	rep := genReport{Classifier: *model, Reference: *realData, ReferenceImages: len(ref)}
	for _, g := range groups {
		s := genScore{Group: g.Name, N: len(g.Images)}
		st, err := featdist.FitStats(m, g.Images)
		if err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
		if s.FeatureFD, err = featdist.Distance(st, refStats); err != nil {
			return err
		}
		// The same number of real images, balanced over the classes.
		per := int(math.Ceil(float64(len(g.Images)) / float64(len(train.Classes))))
		reals := train.PerClass(per).Images()[:min(len(g.Images), len(train.Photos))]
		rs, err := featdist.FitStats(m, reals)
		if err != nil {
			return fmt.Errorf("real baseline: %w", err)
		}
		if s.RealFD, err = featdist.Distance(rs, refStats); err != nil {
			return err
		}
		if inc != nil {
			is, err := featdist.FitStats(inc, g.Images)
			if err != nil {
				return fmt.Errorf("group %q: %w", g.Name, err)
			}
			fid, err := featdist.Distance(is, incRef)
			if err != nil {
				return err
			}
			s.FID = &fid
		}
		rep.Groups = append(rep.Groups, s)
	}
	if len(groups) > 1 {
		v, n, err := featdist.SelfSSIM(groups)
		if err != nil {
			return err
		}
		rep.SelfSSIM, rep.SelfSSIMSamples = &v, n
	}
	printGenReport(os.Stdout, rep)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.Write(*jsonOut, func(w io.Writer) error {
			_, err := w.Write(append(b, '\n'))
			return err
		})
	}
	return nil
}

func printGenReport(w io.Writer, rep genReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "group\timages\tfeature FD\treal floor\tFID\t\n")
	for _, s := range rep.Groups {
		name := s.Group
		if name == "" {
			name = "."
		}
		fid := "-"
		if s.FID != nil {
			fid = fmt.Sprintf("%.3f", *s.FID)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%s\t\n", name, s.N, s.FeatureFD, s.RealFD, fid)
	}
	tw.Flush()
	fmt.Fprintf(w, "reference: %d held-out real images of %s\n", rep.ReferenceImages, rep.Reference)
	if rep.SelfSSIM != nil {
		fmt.Fprintf(w, "self-SSIM across sizes: %.4f over %d samples\n", *rep.SelfSSIM, rep.SelfSSIMSamples)
	}
}
