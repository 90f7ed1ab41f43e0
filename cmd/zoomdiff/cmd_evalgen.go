package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/featdist"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/progress"
)

// genScore is one size's row of the eval-gen report.
type genScore struct {
	Group string `json:"group"`
	N     int    `json:"n"`
	// FeatureFD is the classifier-feature Fréchet distance to the held-out
	// real images (images of other sizes are resized to the classifier's).
	FeatureFD float64 `json:"feature_fd"`
	// Precision and Recall are Kynkäänniemi et al.'s, in the same feature
	// space against as many held-out images (see featureSpace).
	Precision float64  `json:"precision"`
	Recall    float64  `json:"recall"`
	FID       *float64 `json:"fid,omitempty"`
	// ClassAccuracy, for a class-conditional generator, is the share of
	// samples the classifier puts in the class they were drawn from.
	ClassAccuracy *float64 `json:"class_accuracy,omitempty"`
}

// genReport is the whole eval-gen result. The reference points use n real
// training images, as many as each group holds, balanced over the classes:
// Real is where a perfect generator lands at this sample size, Recon
// where a perfect latent generator lands (the auto-encoder's
// reconstructions of those images), Blurred what heavy blur scores (a
// ceiling a useful generator must stay well below).
type genReport struct {
	Classifier      string `json:"classifier"`
	ClassifierAcc   string `json:"classifier_test_accuracy,omitempty"`
	Reference       string `json:"reference"`
	ReferenceImages int    `json:"reference_images"`
	Model           string `json:"model,omitempty"`
	Steps           int    `json:"steps,omitempty"`
	Sampler         string `json:"sampler,omitempty"`
	// Guidance is the classifier-free guidance weight a class-conditional
	// generator sampled with, written even when 0 (none); absent for an
	// unconditional generator or a folder of images.
	Guidance *float64 `json:"guidance,omitempty"`
	// Classes are a class-conditional generator's, sample k drawn from
	// class k mod len(Classes).
	Classes []string `json:"classes,omitempty"`
	// Seed is the sampling seed with --model; absent for a folder of
	// images, which were not sampled here.
	Seed            *uint64    `json:"seed,omitempty"`
	N               int        `json:"n"`
	Real            setScore   `json:"real"`
	Recon           setScore   `json:"recon"`
	Blurred         setScore   `json:"blurred"`
	Blur            float64    `json:"blur_factor"`
	Groups          []genScore `json:"groups"`
	SelfSSIM        *float64   `json:"self_ssim,omitempty"`
	SelfSSIMSamples int        `json:"self_ssim_samples,omitempty"`
	PairSSIM        []pairSSIM `json:"self_ssim_pairs,omitempty"`
	Seconds         float64    `json:"generate_seconds,omitempty"`
}

// pairSSIM is the self-SSIM of one pair of sizes, compared at the smaller.
type pairSSIM struct {
	A    string  `json:"a"`
	B    string  `json:"b"`
	SSIM float64 `json:"ssim"`
}

func runEvalGen(args []string) error {
	fs := flag.NewFlagSet("eval-gen", flag.ContinueOnError)
	clsPath := fs.String("classifier", "", "feature classifier from `zoomdiff classifier train`")
	realData := fs.String("real", "", "labelled archive of real images (e.g. cifar10-train.tar.gz)")
	holdout := fs.Int("holdout", 500, "images per class held back as the reference (as in classifier and generator training)")
	model := fs.String("model", "", "generator to sample from (instead of a folder of generated images)")
	n := fs.Int("n", 1000, "images to generate with --model")
	sizes := fs.String("sizes", "32,48,64,128", "sizes to decode the same samples at, with --model")
	seed := fs.Uint64("seed", 0, "sampling seed, with --model")
	steps := fs.Int("steps", diffusion.DefaultGenSteps, "denoising steps, with --model")
	sampler := fs.String("sampler", diffusion.DefaultGenSampler, "sampler, with --model: "+diffusion.SamplerDDIM+", "+diffusion.SamplerDDPM+" or "+diffusion.SamplerDPM)
	guidance := &guidanceFlag{diffusion.GuidanceByModel}
	fs.Var(guidance, "guidance", "classifier-free guidance weight, with a class-conditional --model (its samples cycle through the classes): a number in [0, 20] or auto, the model's default")
	aePath := fs.String("ae", "", "auto-encoder for the reconstruction floor (default: the generator's, else the built-in one)")
	blur := fs.Float64("blur", 4, "the ceiling's blur: real images reduced by this factor (bicubic) and enlarged back")
	inception := fs.String("inception", "", "optional Inception-v3 safetensors (pytorch-fid layout) for standard FID; slow on a CPU")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	quiet := fs.Bool("quiet", false, "print nothing but the report and errors")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *clsPath == "" || *realData == "" || (*model == "") == (fs.NArg() != 1) {
		return errors.New("usage: zoomdiff eval-gen --classifier FILE --real FILE.tar.gz (--model GEN [--n N --sizes 32,64] | GENERATED_DIR)\n" +
			"  GENERATED_DIR holds images, or one subfolder per output size with the same file names in each")
	}
	if !(*blur > 1) {
		return fmt.Errorf("--blur %g: want a factor above 1", *blur)
	}
	// Checked before any work: the sampling flags shape what --model
	// draws, and a folder's images are scored as they are.
	var szs []genSize
	if *model != "" {
		var err error
		if szs, err = parseGenSizes(*sizes); err != nil {
			return fmt.Errorf("--sizes: %w", err)
		}
	} else if given := givenFlags(fs, "n", "sizes", "seed", "steps", "sampler", "guidance"); len(given) > 0 {
		return fmt.Errorf("%s: for --model only; the images of %s are scored as they are", strings.Join(given, ", "), fs.Arg(0))
	}
	m, err := featdist.LoadClassifier(*clsPath)
	if err != nil {
		return err
	}
	rep := genReport{Classifier: *clsPath, ClassifierAcc: m.Card["test_accuracy"], Reference: *realData, Model: *model, Blur: *blur}
	opt := diffusion.DefaultGenSampleOptions()
	opt.Steps, opt.Sampler, opt.Seed, opt.Guidance = *steps, *sampler, *seed, guidance.w
	groups, ae, err := evalGenInputs(&rep, *model, fs.Arg(0), *aePath, *n, szs, opt, *quiet)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if len(g.Images) <= metrics.DefaultManifoldK {
			return fmt.Errorf("%d generated images: precision and recall need more than %d (--n)", len(g.Images), metrics.DefaultManifoldK)
		}
	}
	train, held, err := loadSplit(*realData, *holdout)
	if err != nil {
		return err
	}
	ref := held.Images()
	rep.ReferenceImages = len(ref)
	rep.N = len(groups[0].Images)
	space, err := newFeatureSpace(m, held, rep.N)
	if err != nil {
		return err
	}

	// The reference points, on as many real training images as a group holds.
	if err := referencePoints(&rep, space, train, ae); err != nil {
		return err
	}

	if rep.Groups, err = scoreGroups(groups, space, *inception, ref); err != nil {
		return err
	}
	if err := classAccuracy(rep.Groups, groups, m, rep.Classes); err != nil {
		return err
	}
	if len(groups) > 1 {
		if err := selfSSIM(&rep, groups); err != nil {
			return err
		}
	}
	printGenReport(os.Stdout, rep)
	if *jsonOut == "" {
		return nil
	}
	return writeJSON(*jsonOut, rep)
}

// evalGenInputs returns the images eval-gen scores, sampled from the
// generator at model (when given) or read from the folder dir, and the
// auto-encoder of the reconstruction floor: aePath, else the generator's,
// else the built-in one.
func evalGenInputs(rep *genReport, model, dir, aePath string, n int, sizes []genSize, opt diffusion.SampleOptions, quiet bool) ([]featdist.Group, *autoencoder.Model, error) {
	var groups []featdist.Group
	var ae *autoencoder.Model
	var err error
	if model != "" {
		groups, ae, err = sampleGroups(rep, model, n, sizes, opt, quiet)
	} else {
		groups, err = featdist.LoadGenerated(dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if ae == nil || aePath != "" {
		if ae, err = models.AutoEncoder(aePath); err != nil {
			return nil, nil, err
		}
	}
	return groups, ae, nil
}

// setScore is how close one image set comes to the held-out images in the
// classifier's feature space.
type setScore struct {
	FD        float64 `json:"feature_fd"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// featureSpace scores image sets against the held-out images in a
// classifier's feature space: the Fréchet distance to all of them, and
// precision and recall (metrics.PrecisionRecall, k = 3) against a
// class-balanced subset of n of them, since the manifold radii depend on
// a set's size and both sets should have the same.
type featureSpace struct {
	m        *featdist.Classifier
	ref      *featdist.Stats
	subFeats []float64
	subN     int
}

func newFeatureSpace(m *featdist.Classifier, held *dataset.Labeled, n int) (*featureSpace, error) {
	ref, err := featdist.FitStats(m, held.Images())
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	per := (n + len(held.Classes) - 1) / len(held.Classes)
	sub := held.PerClass(per).Images()
	sub = sub[:min(n, len(sub))]
	feats, err := m.Features(sub)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	return &featureSpace{m: m, ref: ref, subFeats: feats, subN: len(sub)}, nil
}

// score measures imgs against the reference.
func (s *featureSpace) score(imgs []*imageio.Image) (setScore, error) {
	var out setScore
	feats, err := s.m.Features(imgs)
	if err != nil {
		return out, err
	}
	d := s.m.FeatureDim()
	st, err := featdist.StatsOf(feats, len(imgs), d)
	if err != nil {
		return out, err
	}
	if out.FD, err = featdist.Distance(st, s.ref); err != nil {
		return out, err
	}
	out.Precision, out.Recall, err = metrics.PrecisionRecall(s.subFeats, s.subN, feats, len(imgs), d, metrics.DefaultManifoldK)
	return out, err
}

// writeJSON writes v, indented, to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// sampleGroups opens the generator at model, samples n images with opt
// and decodes each at every size: one group per size, the same keys
// (sample numbers) in each. It records the sampling in rep and returns
// the generator's auto-encoder too, for the reconstruction floor.
func sampleGroups(rep *genReport, model string, n int, sizes []genSize, opt diffusion.SampleOptions, quiet bool) ([]featdist.Group, *autoencoder.Model, error) {
	g, err := models.Generator(model)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	groups, err := generateGroups(g, n, sizes, opt, quiet)
	rep.Seconds, rep.Steps, rep.Sampler, rep.Seed = time.Since(start).Seconds(), opt.Steps, opt.Sampler, &opt.Seed
	rep.Classes = g.Model.Config.Classes
	if len(rep.Classes) > 0 {
		w := diffusion.GuidanceFor(opt.Guidance, len(rep.Classes))
		rep.Guidance = &w
	}
	return groups, g.Model.AE, err
}

// classAccuracy sets each score's ClassAccuracy: sample k of a group was
// drawn from classes[k mod len(classes)], and the classifier, which must
// know those class names, says which class it sees. Nothing to do
// without classes.
func classAccuracy(scores []genScore, groups []featdist.Group, m *featdist.Classifier, classes []string) error {
	if len(classes) == 0 {
		return nil
	}
	want := make([]int, len(classes))
	for i, c := range classes {
		if want[i] = slices.Index(m.Config.Classes, c); want[i] < 0 {
			return fmt.Errorf("class accuracy: the classifier has no class %q (it has %v)", c, m.Config.Classes)
		}
	}
	for i, g := range groups {
		pred, err := m.Predict(g.Images)
		if err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
		right := 0
		for k, p := range pred {
			if p == want[k%len(want)] {
				right++
			}
		}
		acc := float64(right) / float64(len(pred))
		scores[i].ClassAccuracy = &acc
	}
	return nil
}

// generateGroups samples n images with g and decodes each at every size:
// one group per size, the same keys (sample numbers) in each.
func generateGroups(g *diffusion.Generator, n int, szs []genSize, opt diffusion.SampleOptions, quiet bool) ([]featdist.Group, error) {
	bar := progress.New(os.Stderr, "sample (%)", 100, quiet)
	opt.Progress = func(done, total int) { bar.Update(done*100/total, "") }
	lats, err := g.Generate(context.Background(), n, opt)
	bar.Finish()
	if err != nil {
		return nil, err
	}
	groups := make([]featdist.Group, len(szs))
	for i, sz := range szs {
		groups[i].Name = sz.name
		for k, l := range lats {
			img, err := g.Render(l, sz.w, sz.h)
			if err != nil {
				return nil, err
			}
			groups[i].Keys = append(groups[i].Keys, strconv.Itoa(k))
			groups[i].Images = append(groups[i].Images, img)
		}
	}
	return groups, nil
}

// reconstructAll passes images through the auto-encoder at their own size.
func reconstructAll(ae *autoencoder.Model, imgs []*imageio.Image) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, len(imgs))
	for i, m := range imgs {
		d, err := ae.EncodeImage(m)
		if err != nil {
			return nil, fmt.Errorf("reconstructing real image %d: %w", i, err)
		}
		r := d.RenderImage(m.W, m.H)
		autoencoder.FinishRGB(r.Pix, false)
		out[i] = r
	}
	return out, nil
}

func printGenReport(w io.Writer, rep genReport) {
	testAcc := rep.ClassifierAcc
	if testAcc == "" {
		testAcc = "not in its card" // rather than an empty field
	}
	fmt.Fprintf(w, "feature FD to %d held-out real images (classifier %s, test accuracy %s), n = %d:\n",
		rep.ReferenceImages, rep.Classifier, testAcc, rep.N)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "images\tfeature FD\tprecision\trecall\tFID\tclass accuracy\t\n")
	row := func(name string, s setScore, fid, acc string) {
		fmt.Fprintf(tw, "%s\t%.4f\t%.3f\t%.3f\t%s\t%s\t\n", name, s.FD, s.Precision, s.Recall, fid, acc)
	}
	row("real training images (floor)", rep.Real, "-", "-")
	row("their auto-encoder reconstructions", rep.Recon, "-", "-")
	row(fmt.Sprintf("them blurred ÷%g ×%g (ceiling)", rep.Blur, rep.Blur), rep.Blurred, "-", "-")
	for _, s := range rep.Groups {
		name := "generated"
		if s.Group != "" {
			name += " at " + s.Group
		}
		fid := "-"
		if s.FID != nil {
			fid = fmt.Sprintf("%.3f", *s.FID)
		}
		acc := "-"
		if s.ClassAccuracy != nil {
			acc = fmt.Sprintf("%.3f", *s.ClassAccuracy)
		}
		row(name, setScore{s.FeatureFD, s.Precision, s.Recall}, fid, acc)
	}
	tw.Flush()
	if rep.SelfSSIM != nil {
		fmt.Fprintf(w, "self-SSIM across sizes: %.4f over %d samples; by pair:", *rep.SelfSSIM, rep.SelfSSIMSamples)
		for _, p := range rep.PairSSIM {
			fmt.Fprintf(w, " %s-%s %.4f", p.A, p.B, p.SSIM)
		}
		fmt.Fprintln(w)
	}
	if rep.Seed != nil { // sampled here, not read from a folder
		fmt.Fprintf(w, "sampling and decoding: %.0f s (%d %s steps, seed %d", rep.Seconds, rep.Steps, rep.Sampler, *rep.Seed)
		if rep.Guidance != nil {
			fmt.Fprintf(w, "; %d classes in turn, guidance %g", len(rep.Classes), *rep.Guidance)
		}
		fmt.Fprintln(w, ")")
	}
}

// referencePoints fills the report's floor and ceiling: the feature FD of
// rep.N real training images, of their auto-encoder reconstructions, and
// of the same images blurred by rep.Blur.
func referencePoints(rep *genReport, space *featureSpace, train *dataset.Labeled, ae *autoencoder.Model) error {
	per := int(math.Ceil(float64(rep.N) / float64(len(train.Classes))))
	reals := train.PerClass(per).Images()[:min(rep.N, len(train.Photos))]
	var err error
	if rep.Real, err = space.score(reals); err != nil {
		return fmt.Errorf("real images: %w", err)
	}
	recons, err := reconstructAll(ae, reals)
	if err != nil {
		return err
	}
	if rep.Recon, err = space.score(recons); err != nil {
		return fmt.Errorf("reconstructions: %w", err)
	}
	blurred, err := blurRoundTrip(reals, rep.Blur)
	if err != nil {
		return err
	}
	if rep.Blurred, err = space.score(blurred); err != nil {
		return fmt.Errorf("blurred images: %w", err)
	}
	return nil
}

// selfSSIM fills the report's scale consistency: the self-SSIM over all
// groups (sizes) and of every pair of them.
func selfSSIM(rep *genReport, groups []featdist.Group) error {
	v, n, err := featdist.SelfSSIM(groups)
	if err != nil {
		return err
	}
	rep.SelfSSIM, rep.SelfSSIMSamples = &v, n
	for i := range groups {
		for j := i + 1; j < len(groups); j++ {
			v, _, err := featdist.SelfSSIM([]featdist.Group{groups[i], groups[j]})
			if err != nil {
				return err
			}
			rep.PairSSIM = append(rep.PairSSIM, pairSSIM{groups[i].Name, groups[j].Name, v})
		}
	}
	return nil
}

// scoreGroups is the feature FD of every group and, with an Inception
// file, the standard FID against the reference images ref.
func scoreGroups(groups []featdist.Group, space *featureSpace, inception string, ref []*imageio.Image) ([]genScore, error) {
	var inc *featdist.Inception
	var incRef *featdist.Stats
	if inception != "" {
		var err error
		if inc, err = featdist.LoadInception(inception, featdist.InceptionConfig{}); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "Inception features of %d reference images (about 6 GFLOP each)…\n", len(ref))
		if incRef, err = featdist.FitStats(inc, ref); err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
	}
	var out []genScore
	for _, g := range groups {
		sc, err := space.score(g.Images)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", g.Name, err)
		}
		s := genScore{Group: g.Name, N: len(g.Images), FeatureFD: sc.FD, Precision: sc.Precision, Recall: sc.Recall}
		if inc != nil {
			is, err := featdist.FitStats(inc, g.Images)
			if err != nil {
				return nil, fmt.Errorf("group %q: %w", g.Name, err)
			}
			fid, err := featdist.Distance(is, incRef)
			if err != nil {
				return nil, err
			}
			s.FID = &fid
		}
		out = append(out, s)
	}
	return out, nil
}
