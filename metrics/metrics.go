// Package metrics scores images the way the super-resolution literature
// does, so that zoomdiff's numbers can be set beside published ones: PSNR
// and SSIM on the BT.601 luma channel with a shaved border, plus the
// quantities the seed paper reports for a stochastic upscaler (LR
// consistency, diversity across samples, scale consistency) and the
// Fréchet distance behind FID.
//
// Luma is on the 0–255 scale of MATLAB's rgb2ycbcr (Y in [16, 235] for
// colour inputs), because that is what the published tables were computed
// on; RGB metrics use the images' own [0, 1] scale. All accumulation is in
// float64.
package metrics

import (
	"errors"
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// BT.601 luma weights of MATLAB's rgb2ycbcr for RGB in [0, 1] and Y on the
// 0–255 scale. They sum to 219, the span of studio-range luma.
const (
	yR, yG, yB = 65.481, 128.553, 24.966
	yOffset    = 16.0
)

// Y returns the luma plane of img on the 0–255 scale: for colour images
// MATLAB's rgb2ycbcr, Y = 16 + 65.481 R + 128.553 G + 24.966 B (not
// rounded), and for images whose source was grey the grey value itself
// (×255), since the standard evaluation scripts only convert images with
// three channels. See YAs.
func Y(img *imageio.Image) []float32 { return YAs(img, img.Gray) }

// YAs returns the luma plane computed as for a grey source (gray true) or a
// colour one. The grey form is the same weighted sum rescaled to full range,
// (65.481 R + 128.553 G + 24.966 B)·255/219, which is exactly the grey value
// when R = G = B and a sensible luma when a method returned a tinted result
// for a grey input. Scoring a pair always uses the reference's form for
// both images.
func YAs(img *imageio.Image, gray bool) []float32 {
	n := img.W * img.H
	y := make([]float32, n)
	p := img.Pix
	if gray {
		const k = 255.0 / 219
		for i := range y {
			y[i] = float32(k * (yR*float64(p[3*i]) + yG*float64(p[3*i+1]) + yB*float64(p[3*i+2])))
		}
		return y
	}
	for i := range y {
		y[i] = float32(yOffset + yR*float64(p[3*i]) + yG*float64(p[3*i+1]) + yB*float64(p[3*i+2]))
	}
	return y
}

// MSE is the mean squared difference of two equally long slices.
func MSE(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

// PSNR is 10·log10(peak²/MSE) in dB, +Inf for identical inputs. a and b
// must be equally long and non-empty; a mismatch is a programming error and
// panics.
func PSNR(a, b []float32, peak float64) float64 {
	if len(a) != len(b) || len(a) == 0 {
		panic(fmt.Sprintf("metrics.PSNR: lengths %d and %d", len(a), len(b)))
	}
	mse := MSE(a, b)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(peak*peak/mse)
}

// Shave returns the interior of a w×h image with c interleaved channels
// without its outer border pixels on every side, and the new size. The
// protocol shaves because interpolation near edges depends on the padding
// convention more than on the method.
func Shave(pix []float32, w, h, c, border int) ([]float32, int, int, error) {
	if border < 0 || 2*border >= w || 2*border >= h {
		return nil, 0, 0, fmt.Errorf("cannot shave %d pixels from a %dx%d image", border, w, h)
	}
	sw, sh := w-2*border, h-2*border
	out := make([]float32, 0, sw*sh*c)
	for y := border; y < h-border; y++ {
		out = append(out, pix[(y*w+border)*c:(y*w+border+sw)*c]...)
	}
	return out, sw, sh, nil
}

func samePair(ref, out *imageio.Image) error {
	if err := ref.Check(); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	if err := out.Check(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if ref.W != out.W || ref.H != out.H {
		return fmt.Errorf("sizes differ: reference %dx%d, output %dx%d", ref.W, ref.H, out.W, out.H)
	}
	return nil
}

// shavedY returns both images' luma (in the reference's form) with the
// border removed.
func shavedY(ref, out *imageio.Image, shave int) (a, b []float32, w, h int, err error) {
	if err = samePair(ref, out); err != nil {
		return
	}
	if a, w, h, err = Shave(YAs(ref, ref.Gray), ref.W, ref.H, 1, shave); err != nil {
		return
	}
	b, _, _, err = Shave(YAs(out, ref.Gray), out.W, out.H, 1, shave)
	return
}

// PSNRY is the protocol's PSNR on luma (peak 255) after shaving shave
// pixels from each border.
func PSNRY(ref, out *imageio.Image, shave int) (float64, error) {
	a, b, _, _, err := shavedY(ref, out, shave)
	if err != nil {
		return 0, err
	}
	return PSNR(a, b, 255), nil
}

// SSIMY is the protocol's SSIM on luma (L = 255) after shaving.
func SSIMY(ref, out *imageio.Image, shave int) (float64, error) {
	a, b, w, h, err := shavedY(ref, out, shave)
	if err != nil {
		return 0, err
	}
	return SSIM(a, b, w, h, 255)
}

// PSNRRGB is PSNR over all three colour channels (peak 1) after shaving.
func PSNRRGB(ref, out *imageio.Image, shave int) (float64, error) {
	if err := samePair(ref, out); err != nil {
		return 0, err
	}
	a, _, _, err := Shave(ref.Pix, ref.W, ref.H, 3, shave)
	if err != nil {
		return 0, err
	}
	b, _, _, _ := Shave(out.Pix, out.W, out.H, 3, shave)
	return PSNR(a, b, 1), nil
}

// LRConsistency measures how well an upscaled image agrees with its input:
// sr is shrunk back to lr's size with the protocol's bicubic (scale from the
// sizes) and compared with lr by RGB PSNR (peak 1), without shaving. A
// faithful super-resolution scores high even when its detail differs from
// the ground truth.
func LRConsistency(sr, lr *imageio.Image) (float64, error) {
	if err := sr.Check(); err != nil {
		return 0, fmt.Errorf("output: %w", err)
	}
	if err := lr.Check(); err != nil {
		return 0, fmt.Errorf("input: %w", err)
	}
	down, err := resample.Resize(sr.Pix, sr.W, sr.H, 3, lr.W, lr.H, resample.Options{Method: resample.Bicubic})
	if err != nil {
		return 0, err
	}
	return PSNR(lr.Pix, down, 1), nil
}

// DiversityStats summarises how different several samples for one input
// are.
type DiversityStats struct {
	// MeanStd is the per-value standard deviation across samples (population
	// form, dividing by the number of samples), averaged over all pixels and
	// channels, in 8-bit grey levels (0–255).
	MeanStd float64 `json:"mean_std"`
	// MeanPairPSNR is the RGB PSNR (dB) averaged over all pairs of samples;
	// +Inf if two samples are identical. Lower means more diverse.
	MeanPairPSNR float64 `json:"mean_pair_psnr"`
}

// Diversity computes DiversityStats over two or more equally sized samples.
func Diversity(samples []*imageio.Image) (DiversityStats, error) {
	if len(samples) < 2 {
		return DiversityStats{}, errors.New("diversity needs at least two samples")
	}
	for i, s := range samples {
		if err := samePair(samples[0], s); err != nil {
			return DiversityStats{}, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	n := float64(len(samples))
	var sumStd float64
	for i := range samples[0].Pix {
		var s, s2 float64
		for _, m := range samples {
			v := float64(m.Pix[i])
			s += v
			s2 += v * v
		}
		mean := s / n
		sumStd += math.Sqrt(max(s2/n-mean*mean, 0))
	}
	var sumPSNR float64
	pairs := 0
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			sumPSNR += PSNR(samples[i].Pix, samples[j].Pix, 1)
			pairs++
		}
	}
	return DiversityStats{
		MeanStd:      255 * sumStd / float64(len(samples[0].Pix)),
		MeanPairPSNR: sumPSNR / float64(pairs),
	}, nil
}

// SelfSSIM measures scale consistency: each output (renderings of the same
// content at different sizes) is resized with bicubic to w×h, and the
// luma SSIM is averaged over all pairs. w or h of 0 picks the smallest
// output's size, so that comparisons shrink rather than invent detail.
func SelfSSIM(outputs []*imageio.Image, w, h int) (float64, error) {
	if len(outputs) < 2 {
		return 0, errors.New("SelfSSIM needs at least two outputs")
	}
	if w <= 0 || h <= 0 {
		w, h = outputs[0].W, outputs[0].H
		for _, o := range outputs {
			if o.W*o.H < w*h {
				w, h = o.W, o.H
			}
		}
	}
	ys := make([][]float32, len(outputs))
	for i, o := range outputs {
		if err := o.Check(); err != nil {
			return 0, fmt.Errorf("output %d: %w", i, err)
		}
		r, err := resample.Image(o, w, h, resample.Options{Method: resample.Bicubic})
		if err != nil {
			return 0, fmt.Errorf("output %d: %w", i, err)
		}
		ys[i] = YAs(r, false)
	}
	var sum float64
	pairs := 0
	for i := range ys {
		for j := i + 1; j < len(ys); j++ {
			s, err := SSIM(ys[i], ys[j], w, h, 255)
			if err != nil {
				return 0, err
			}
			sum += s
			pairs++
		}
	}
	return sum / float64(pairs), nil
}
