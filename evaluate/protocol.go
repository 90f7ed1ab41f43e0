// Package evaluate runs the super-resolution benchmark protocol: the
// degradation (MATLAB bicubic with antialiasing), scoring on Y with the
// border shaved, optional crops and degraded inputs, several samples with
// their mean and spread, and the tables, CSV and JSON of the results. The
// method under test is any render.Method (package methods lists them).
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Degrade prepares one benchmark pair from a high-resolution image and a
// scale s > 1, as the MATLAB protocol of the SR literature does:
//
//  1. The LR size is floor(W/s)×floor(H/s) and HR is cropped at its top-left
//     corner to round(lw·s)×round(lh·s). For integer s this is the standard
//     modcrop (HR cropped to a multiple of s). For non-integer s it crops
//     HR to the largest size whose ratio to an integer LR size is as close
//     to s as possible; the effective scale per axis is then cw/lw, which
//     differs from s by less than 0.5/lw relative.
//  2. LR is the bicubic down-sample with antialiasing, the kernel built for
//     1/s when s is an integer (imresize(hr, 1/s)) and for the size ratio
//     otherwise.
//  3. LR is rounded to 8 bits, as the LR file of the benchmark would be.
func Degrade(hr *imageio.Image, s float64) (crop, lr *imageio.Image, err error) {
	if err := hr.Check(); err != nil {
		return nil, nil, err
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, nil, fmt.Errorf("scale %v is not a positive finite number", s)
	}
	lw, cw := lrSide(hr.W, s)
	lh, ch := lrSide(hr.H, s)
	if lw < 1 || lh < 1 {
		return nil, nil, fmt.Errorf("a %dx%d image is too small for scale %v", hr.W, hr.H, s)
	}
	if crop, err = hr.Crop(0, 0, cw, ch); err != nil {
		return nil, nil, err
	}
	opt := resample.Options{Method: resample.Bicubic}
	if s == math.Trunc(s) {
		opt.ScaleX, opt.ScaleY = 1/s, 1/s
	}
	if lr, err = resample.Image(crop, lw, lh, opt); err != nil {
		return nil, nil, err
	}
	lr.Quantize8()
	return crop, lr, nil
}

// lrSide is Degrade's LR side for an HR side n at scale s, and the side
// HR is cropped to.
func lrSide(n int, s float64) (lr, hr int) {
	lr = int(math.Floor(float64(n)/s + 1e-9))
	return lr, min(int(math.Round(float64(lr)*s)), n)
}

// scoredSide is how many pixels of an HR side n the protocol scores at
// scale s: Degrade's crop less the border shave on both ends.
func scoredSide(n int, s float64) int {
	_, hr := lrSide(n, s)
	return hr - 2*ShaveFor(s)
}

// CenterCrop cuts img to its centre side×side (a side longer than the
// image's keeps that dimension whole); side 0 returns img itself.
func CenterCrop(img *imageio.Image, side int) (*imageio.Image, error) {
	if side <= 0 {
		return img, nil
	}
	w, h := min(side, img.W), min(side, img.H)
	return img.Crop((img.W-w)/2, (img.H-h)/2, w, h)
}

// ShaveFor is the border the protocol ignores at scale s: s pixels for
// integer scales, as the literature does, rounded up otherwise.
func ShaveFor(s float64) int { return int(math.Ceil(s - 1e-9)) }

// Score compares a method's output sr with the cropped HR image and the LR
// input.
func Score(name string, hr, lr, sr *imageio.Image, shave int) (ImageScore, error) {
	sc := ImageScore{Name: name}
	var err error
	if sc.PSNRY, err = metrics.PSNRY(hr, sr, shave); err != nil {
		return sc, err
	}
	if sc.SSIMY, err = metrics.SSIMY(hr, sr, shave); err != nil {
		return sc, err
	}
	if sc.PSNRRGB, err = metrics.PSNRRGB(hr, sr, shave); err != nil {
		return sc, err
	}
	if sc.LRPSNR, err = metrics.LRConsistency(sr, lr); err != nil {
		return sc, err
	}
	if sc.GMSD, err = metrics.GMSD(hr, sr, shave); err != nil {
		return sc, err
	}
	sc.NIQE, err = niqe(sr, shave)
	return sc, err
}

// niqe is NIQE of img with the shaved border cut off (BasicSR's
// crop_border), or 0 when what is left is smaller than NIQE's two 96-pixel
// blocks.
func niqe(img *imageio.Image, shave int) (float64, error) {
	if (img.W-2*shave)/96*((img.H-2*shave)/96) < 2 {
		return 0, nil
	}
	inner, err := img.Crop(shave, shave, img.W-2*shave, img.H-2*shave)
	if err != nil {
		return 0, err
	}
	v, err := metrics.NIQE(inner)
	if err != nil && math.IsNaN(v) {
		return 0, nil // a flat image: NIQE is undefined, not an evaluation failure
	}
	return v, err
}

// Scores are what the protocol measures of a method's output: of one
// image in an ImageScore, averaged over a dataset in a Result (dB averaged
// in dB, as the literature does).
type Scores struct {
	PSNRY   float64 `json:"psnr_y"`   // dB on luma, shaved
	SSIMY   float64 `json:"ssim_y"`   // SSIM on luma, shaved
	PSNRRGB float64 `json:"psnr_rgb"` // dB on RGB, shaved
	LRPSNR  float64 `json:"lr_psnr"`  // dB of the re-shrunk output against the LR input
	GMSD    float64 `json:"gmsd"`     // gradient magnitude similarity deviation on luma, shaved (lower is better)
	// NIQE is the no-reference naturalness of the output, shaved (lower
	// is more natural); 0 when the output is too small for it (two 96×96
	// blocks) or flat. A Result averages it over the images that have it.
	NIQE float64 `json:"niqe,omitempty"`
	// With several samples (Config.Samples), the fields above are each
	// sample's scores averaged; these score the samples' per-pixel mean,
	// and DiversityStd is their per-pixel standard deviation (RGB, 0–1
	// scale, averaged over the image): 0 for a deterministic method.
	MeanPSNRY    float64 `json:"mean_psnr_y,omitempty"`
	MeanSSIMY    float64 `json:"mean_ssim_y,omitempty"`
	MeanGMSD     float64 `json:"mean_gmsd,omitempty"`
	MeanNIQE     float64 `json:"mean_niqe,omitempty"`
	DiversityStd float64 `json:"diversity_std,omitempty"`
}

// add adds w times every score of o to s.
func (s *Scores) add(o Scores, w float64) {
	s.PSNRY += w * o.PSNRY
	s.SSIMY += w * o.SSIMY
	s.PSNRRGB += w * o.PSNRRGB
	s.LRPSNR += w * o.LRPSNR
	s.GMSD += w * o.GMSD
	s.NIQE += w * o.NIQE
	s.MeanPSNRY += w * o.MeanPSNRY
	s.MeanSSIMY += w * o.MeanSSIMY
	s.MeanGMSD += w * o.MeanGMSD
	s.MeanNIQE += w * o.MeanNIQE
	s.DiversityStd += w * o.DiversityStd
}

// ImageScore is one image's scores at one scale.
type ImageScore struct {
	Name string `json:"name"` // the file's path within the dataset's folder (Dataset.Dir)
	Scores
}

// Result is the mean score of one method on one dataset at one scale.
type Result struct {
	Dataset string  `json:"dataset"` // the folder's base name
	Method  string  `json:"method"`  // the Upscaler's Name
	Scale   float64 `json:"scale"`   // the requested scale factor
	Images  int     `json:"images"`  // how many images were scored
	// Scores are the images' averaged; NIQE and MeanNIQE over the
	// NIQEImages images large enough for it (both absent when none was).
	// The Mean… scores and DiversityStd are set when Samples, the outputs
	// drawn per image, is above 1.
	Scores
	NIQEImages int `json:"niqe_images,omitempty"`
	// PSNRSSIMOnly marks a result that measured PSNR and SSIM alone, as the
	// auto-encoder's round trip does (it has no LR input to be consistent
	// with, and does not compute GMSD): its LRPSNR and GMSD are not scores,
	// and tables, CSV and JSON show them as not measured rather than as 0.
	PSNRSSIMOnly bool `json:"-"`
	Samples      int  `json:"samples"`
	Shave        int  `json:"shave"` // border pixels ignored on each side
	// Crop is the side of the HR centre crop each image was cut to first
	// (Config.Crop); 0 for whole images.
	Crop int `json:"crop,omitempty"`
	// Degradation is what was done to the LR after the bicubic resize
	// (Config.Input in ParseInput's form); empty for the clean protocol.
	Degradation string `json:"degradation,omitempty"`
	// Seconds is the time spent in the method's Upscale calls, summed over
	// images (so it does not shrink with parallel evaluation).
	Seconds float64 `json:"seconds"`
	// PerImage holds each image's scores when Config.PerImage is set.
	PerImage []ImageScore `json:"per_image,omitempty"`
}

// Config tunes Run.
type Config struct {
	// Scales are the upscaling factors, each > 1.
	Scales []float64
	// Workers is how many images are evaluated at once; 0 means GOMAXPROCS.
	// Methods that parallelise internally may want 1.
	Workers int
	// FloatOutput scores the method's output as returned; by default it is
	// rounded to 8 bits first, as a saved result would be.
	FloatOutput bool
	// PerImage keeps each image's scores in the results.
	PerImage bool
	// Samples draws this many outputs per image from a method that
	// is generative (render.Generative; 0 or 1: one output).
	Samples int
	// Crop, when above 0, first cuts each HR image to its centre
	// Crop×Crop (smaller sides kept whole) and runs the protocol on that.
	// Methods whose cost grows with the output (image-space diffusion)
	// can then be compared with the others on the same pixels at a
	// fraction of the whole images' cost.
	Crop int
	// Input degrades every LR after the bicubic resize (noise, JPEG), the
	// way real-photo SR is tested; the zero value is the clean protocol.
	// The scores are still against the clean HR.
	Input degrade.Input
}

// Dataset is a named list of HR image files.
type Dataset struct {
	Name string // reported in results, usually the folder's name
	// Dir is the folder the files lie under: results name an image by its
	// path below it ("sub/x.png"), so that files of one name in two
	// sub-folders stay two images. Empty: by the file's base name.
	Dir   string
	Files []string // image paths, evaluated in this order
}

// imageName is what results call the image at path (see Dir), with
// forward slashes whatever the system, so that results compare across
// systems.
func (d Dataset) imageName(path string) string {
	if rel, err := filepath.Rel(d.Dir, path); d.Dir != "" && err == nil && rel != "." && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(path)
}

// LoadDataset lists the images under dir, sorted by name, as
// dataset.ImageFiles does: "DIR@heldout" is the held-out validation split
// of DIR, and plain DIR leaves that split out. Images are read lazily by
// Run, so large sets need not fit in memory.
func LoadDataset(dir string) (Dataset, error) {
	files, err := dataset.ImageFiles(dir)
	if err != nil {
		return Dataset{}, fmt.Errorf("dataset %s: %w", dir, err)
	}
	root := strings.TrimSuffix(dir, dataset.HeldOutSuffix)
	name := filepath.Base(filepath.Clean(root))
	if strings.HasSuffix(dir, dataset.HeldOutSuffix) {
		name += dataset.HeldOutSuffix
	}
	if len(files) == 0 {
		if others, err := dataset.ImageFiles(root); root != dir && err == nil && len(others) > 0 {
			return Dataset{}, fmt.Errorf("dataset %s: none of the images in %s is on the held-out list, which %s keeps alone", dir, root, dataset.HeldOutSuffix)
		}
		return Dataset{}, fmt.Errorf("dataset %s: no images", dir)
	}
	return Dataset{Name: name, Dir: root, Files: files}, nil
}

// Run evaluates up on every image of d at every scale of cfg and returns
// one Result per scale, in cfg.Scales order. Images are evaluated in
// parallel; the first error stops the run. An image's alpha channel is
// ignored, as the protocol's MATLAB imread ignores it.
func Run(ctx context.Context, d Dataset, up render.Method, cfg Config) ([]Result, error) {
	if err := cfg.check(up); err != nil {
		return nil, err
	}
	scores, secs, err := scoreAll(ctx, d, up, cfg)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(cfg.Scales))
	for si, s := range cfg.Scales {
		out[si] = summarize(d, up, cfg, s, scores[si], secs[si])
	}
	return out, nil
}

// check refuses a configuration Run cannot honour with method up.
func (cfg Config) check(up render.Method) error {
	if len(cfg.Scales) == 0 {
		return errors.New("no scales to evaluate")
	}
	for _, s := range cfg.Scales {
		if !(s > 1) || math.IsInf(s, 0) {
			return fmt.Errorf("scale %v: the benchmark needs finite scales above 1", s)
		}
	}
	if cfg.Crop < 0 {
		return fmt.Errorf("crop %d: want 0 (whole images) or a side in pixels", cfg.Crop)
	}
	if cfg.Crop > 0 {
		for _, s := range cfg.Scales {
			if side := scoredSide(cfg.Crop, s); side < metrics.SSIMMinSide {
				return fmt.Errorf("crop %d at ×%v leaves %dx%d pixels to score, less than SSIM's %dx%d window (the border shave is %d pixels): want a crop of %d or more",
					cfg.Crop, s, max(side, 0), max(side, 0), metrics.SSIMMinSide, metrics.SSIMMinSide, ShaveFor(s), minCrop(cfg.Scales))
			}
		}
	}
	if cfg.Samples > 1 && !render.Generative(up) {
		return fmt.Errorf("method %s draws one output per image, not %d samples", up.Name(), cfg.Samples)
	}
	return nil
}

// minCrop is the smallest crop side that leaves an SSIM window to score
// at every scale.
func minCrop(scales []float64) int {
	side := metrics.SSIMMinSide
	for _, s := range scales {
		for scoredSide(side, s) < metrics.SSIMMinSide {
			side++
		}
	}
	return side
}

// scoreAll scores every image of d at every scale on cfg.Workers
// goroutines and returns the scores and the seconds spent in up, both
// indexed [scale][image]. The first error cancels the images not yet
// scored.
func scoreAll(ctx context.Context, d Dataset, up render.Method, cfg Config) (scores [][]ImageScore, secs [][]float64, err error) {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scores = make([][]ImageScore, len(cfg.Scales))
	secs = make([][]float64, len(cfg.Scales))
	for i := range cfg.Scales {
		scores[i] = make([]ImageScore, len(d.Files))
		secs[i] = make([]float64, len(d.Files))
	}
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range min(workers, len(d.Files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := runImage(ctx, d.Files[i], d.imageName(d.Files[i]), up, cfg, i, scores, secs); err != nil {
					fail(err)
				}
			}
		}()
	}
feed:
	for i := range d.Files {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return scores, secs, nil
}

// summarize averages one scale's image scores into its Result: dB in dB,
// NIQE over the images large enough for it.
func summarize(d Dataset, up render.Method, cfg Config, s float64, scores []ImageScore, secs []float64) Result {
	r := Result{Dataset: d.Name, Method: up.Name(), Scale: s, Images: len(d.Files), Samples: max(1, cfg.Samples), Shave: ShaveFor(s), Crop: cfg.Crop,
		Degradation: cfg.Input.String()}
	n := float64(len(scores))
	for i, sc := range scores {
		r.add(sc.Scores, 1/n)
		r.Seconds += secs[i]
		if sc.NIQE > 0 {
			r.NIQEImages++
		}
	}
	if r.NIQEImages > 0 { // the images without NIQE added 0
		f := n / float64(r.NIQEImages)
		r.NIQE, r.MeanNIQE = r.NIQE*f, r.MeanNIQE*f
	}
	if cfg.PerImage {
		r.PerImage = scores
	}
	return r
}

// runImage reads one HR file and scores it at every scale, naming the
// scores name.
func runImage(ctx context.Context, path, name string, up render.Method, cfg Config, i int, scores [][]ImageScore, secs [][]float64) error {
	hr, err := imageio.Read(path)
	if err != nil {
		return err
	}
	// The protocol is on colour as MATLAB's imread reads it; an alpha
	// channel would weight the bicubic resize and give another LR.
	hr.Alpha = nil
	if hr, err = CenterCrop(hr, cfg.Crop); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for si, s := range cfg.Scales {
		if err := ctx.Err(); err != nil {
			return err
		}
		crop, lr, err := Degrade(hr, s)
		if err != nil {
			return fmt.Errorf("%s ×%v: %w", path, s, err)
		}
		// Refused before the method runs, which may take minutes.
		shave := ShaveFor(s)
		if w, h := crop.W-2*shave, crop.H-2*shave; w < metrics.SSIMMinSide || h < metrics.SSIMMinSide {
			return fmt.Errorf("%s ×%v: %dx%d leaves %dx%d pixels to score (cropped to %dx%d for the scale, less a %d-pixel border), less than SSIM's %dx%d window",
				path, s, hr.W, hr.H, max(w, 0), max(h, 0), crop.W, crop.H, shave, metrics.SSIMMinSide, metrics.SSIMMinSide)
		}
		if cfg.Input != (degrade.Input{}) {
			if err := cfg.Input.Apply(lr.Pix, lr.W, lr.H, name+"@"+FormatScale(s)); err != nil {
				return fmt.Errorf("%s ×%v: %w", path, s, err)
			}
		}
		t0 := time.Now()
		outs, err := upscaleN(ctx, up, lr, crop.W, crop.H, cfg.Samples)
		secs[si][i] = time.Since(t0).Seconds()
		if err != nil {
			return fmt.Errorf("%s ×%v: %s: %w", path, s, up.Name(), err)
		}
		for k, sr := range outs {
			if sr.W != crop.W || sr.H != crop.H {
				return fmt.Errorf("%s ×%v: %s returned %dx%d, want %dx%d", path, s, up.Name(), sr.W, sr.H, crop.W, crop.H)
			}
			if !cfg.FloatOutput {
				sr = sr.Clone()
				sr.Quantize8()
				outs[k] = sr
			}
		}
		sc, err := scoreSamples(name, crop, lr, outs, shave)
		if err != nil {
			return fmt.Errorf("%s ×%v: %w", path, s, err)
		}
		scores[si][i] = sc
	}
	return nil
}

// upscaleN draws n outputs through the one render path.
func upscaleN(ctx context.Context, up render.Method, lr *imageio.Image, w, h, n int) ([]*imageio.Image, error) {
	return render.Upscale(ctx, up, lr, w, h, 0, max(n, 1))
}

// scoreSamples averages the samples' scores and, for several, adds the
// mean image's and the per-pixel spread.
func scoreSamples(name string, hr, lr *imageio.Image, outs []*imageio.Image, shave int) (ImageScore, error) {
	sc := ImageScore{Name: name}
	n := float64(len(outs))
	for _, sr := range outs {
		one, err := Score(name, hr, lr, sr, shave)
		if err != nil {
			return sc, err
		}
		sc.add(one.Scores, 1/n)
	}
	if len(outs) < 2 {
		return sc, nil
	}
	div, err := metrics.Diversity(outs)
	if err != nil {
		return sc, err
	}
	sc.DiversityStd = div.MeanStd
	mean := outs[0].Clone()
	for p := range mean.Pix {
		var s float64
		for _, o := range outs {
			s += float64(o.Pix[p])
		}
		mean.Pix[p] = float32(s / n)
	}
	// The mean is scored as a sample is. Its RGB PSNR and LR consistency
	// are computed and dropped: two cheap passes next to NIQE, and no new
	// way to fail, since each sample of the same size passed them.
	m, err := Score(name, hr, lr, mean, shave)
	sc.MeanPSNRY, sc.MeanSSIMY, sc.MeanGMSD, sc.MeanNIQE = m.PSNRY, m.SSIMY, m.GMSD, m.NIQE
	return sc, err
}
