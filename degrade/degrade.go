// Package degrade turns clean photos into the kind of low-resolution input
// real users have: blurred, resized by unknown software, noisy and JPEG
// compressed. It is the training-data side of the "real" SR model; the
// benchmark model keeps the bicubic protocol (package resample alone).
//
// The structure is Real-ESRGAN's second-order chain (Wang et al. 2021):
// a first round of blur, resize, noise and JPEG at about the photo's own
// size, an optional second round of blur and resize, then the resize to
// the output size followed by noise and JPEG at that size, where a phone's
// or a web page's compression happens. Every step runs with its own
// probability, so the chain spans everything from the clean benchmark pair
// to a heavily degraded one. All ranges live in one place, Default, with
// the reasons for their values.
//
// A chain is deterministic given its random source: the same generator
// state gives the same degraded image, bit for bit.
package degrade

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/resample"
)

// Range is a closed interval a value is drawn from uniformly.
type Range struct{ Lo, Hi float64 }

func (r Range) draw(rng *rand.Rand) float64 { return r.Lo + (r.Hi-r.Lo)*rng.Float64() }

func (r Range) check(name string, lo, hi float64) error {
	if !(lo <= r.Lo && r.Lo <= r.Hi && r.Hi <= hi) {
		return fmt.Errorf("%s range [%g, %g]: want %g <= lo <= hi <= %g", name, r.Lo, r.Hi, lo, hi)
	}
	return nil
}

// Blur convolves with a random kernel (see Kernel).
type Blur struct {
	// Prob is the chance the step runs.
	Prob float64
	// Sigma is the Gaussian's standard deviation along each principal
	// axis, in pixels of the image being blurred.
	Sigma Range
	// Aniso is the share of anisotropic kernels: two independent σ and a
	// random rotation, as motion and lens blur are rarely round.
	Aniso float64
	// Generalized is the share of generalised Gaussians,
	// exp(−½·(xᵀΣ⁻¹x)^β), whose shape Beta ranges from peaked (β < 1) to
	// flat-topped (β > 1) like an out-of-focus disc.
	Generalized float64
	Beta        Range
	// MinSize and MaxSize bound the kernel's odd side, drawn uniformly.
	MinSize, MaxSize int
}

// Resize rescales by a random factor with a random interpolation.
type Resize struct {
	// Prob is the chance the step runs (the final resize always runs).
	Prob float64
	// Scale is the factor, relative to the current size.
	Scale Range
	// Methods are the interpolations to pick from, equally likely:
	// software resizes with all of them.
	Methods []resample.Method
}

// Noise adds Gaussian or Poisson noise.
type Noise struct {
	// Prob is the chance the step runs.
	Prob float64
	// Sigma is the Gaussian noise's standard deviation in 8-bit levels.
	Sigma Range
	// Poisson is the share of Poisson (shot) noise, whose variance grows
	// with the brightness as a sensor's does: Poisson(256·x)/256 − x,
	// scaled by a factor drawn from PoissonScale.
	Poisson      float64
	PoissonScale Range
	// Grey is the share of noise that is the same in the three channels
	// (luminance noise); the rest is drawn per channel.
	Grey float64
}

// JPEG compresses and decompresses at a random quality.
type JPEG struct {
	// Prob is the chance the step runs.
	Prob float64
	// Quality is the range of the IJG quality factor (1–100).
	Quality Range
}

// Round is one order of the chain.
type Round struct {
	Blur   Blur
	Resize Resize
	Noise  Noise
	JPEG   JPEG
}

// Chain is the whole degradation from an HR image to its LR.
type Chain struct {
	// Clean is the share of pairs degraded by the benchmark's bicubic
	// resize alone, so that a model trained on the chain still serves
	// clean inputs.
	Clean float64
	// Direct is the share of pairs that skip the first and second rounds:
	// the final round alone, a photo resized by software and then saved
	// with noise or as JPEG at that size, as most web images are. The
	// full chain cannot tell such an input from a blurred one and learns
	// to hedge between them, so it recovers little of a plain JPEG.
	Direct float64
	// First runs at about the input's size: blur, resize by
	// First.Resize.Scale, noise, JPEG.
	First Round
	// SecondProb is the chance of a second blur and resize (Second.Blur,
	// Second.Resize); Second's noise and JPEG are not used there.
	SecondProb float64
	Second     Round
	// Final resizes to the output size with one of Final.Resize.Methods
	// (Final.Resize.Prob and Scale are not used), then adds noise and JPEG
	// at that size.
	Final Round
}

// Default is the chain the real model is trained with.
//
// Real-ESRGAN's ranges aim at badly degraded web images and cost its model
// the clean case. Ours keep its structure but centre on what users bring:
// photos a little soft, resized, and saved as JPEG or with sensor noise
// at the size they are given. So the final round, at the LR's own size,
// is the strongest (noise up to σ = 25 levels, JPEG quality 30–95); the
// first round's blur stays within σ = 2 HR pixels (half an LR pixel at
// ×4), about the softness of a good lens or a camera's own sharpening
// undone; 15 % of the pairs are clean so that the model does not turn into
// a blur filter on clean inputs (a tenth cost it 0.84 dB on clean Set5);
// and 35 % take the final round alone (see Chain.Direct).
func Default() Chain {
	methods := []resample.Method{resample.Bicubic, resample.Bilinear, resample.Area}
	return Chain{
		Clean:  0.15,
		Direct: 0.35,
		First: Round{
			Blur: Blur{Prob: 0.5, Sigma: Range{0.2, 2}, Aniso: 0.3, Generalized: 0.2, Beta: Range{0.5, 4},
				MinSize: 7, MaxSize: 21},
			Resize: Resize{Prob: 0.5, Scale: Range{0.5, 1.5}, Methods: methods},
			Noise: Noise{Prob: 0.3, Sigma: Range{1, 20}, Poisson: 0.4, PoissonScale: Range{0.05, 2},
				Grey: 0.4},
			JPEG: JPEG{Prob: 0.3, Quality: Range{30, 95}},
		},
		SecondProb: 0.5,
		Second: Round{
			Blur: Blur{Prob: 0.5, Sigma: Range{0.2, 1}, Aniso: 0.3, Generalized: 0.2, Beta: Range{0.5, 4},
				MinSize: 7, MaxSize: 21},
			Resize: Resize{Prob: 0.5, Scale: Range{0.7, 1.2}, Methods: methods},
		},
		Final: Round{
			// Bicubic twice as likely: it is what most software uses.
			Resize: Resize{Methods: []resample.Method{resample.Bicubic, resample.Bicubic, resample.Bilinear, resample.Area}},
			Noise: Noise{Prob: 0.5, Sigma: Range{1, 25}, Poisson: 0.4, PoissonScale: Range{0.05, 2.5},
				Grey: 0.4},
			JPEG: JPEG{Prob: 0.6, Quality: Range{30, 95}},
		},
	}
}

// Check reports a range or probability out of bounds.
func (c Chain) Check() error {
	prob := func(name string, p float64) error {
		if !(0 <= p && p <= 1) {
			return fmt.Errorf("%s probability %g: want [0, 1]", name, p)
		}
		return nil
	}
	errs := []error{prob("clean", c.Clean), prob("direct", c.Direct), prob("second round", c.SecondProb)}
	if c.Clean+c.Direct > 1 {
		errs = append(errs, fmt.Errorf("clean %g + direct %g shares: want at most 1", c.Clean, c.Direct))
	}
	round := func(name string, r Round, resize bool) {
		b, z, n, j := r.Blur, r.Resize, r.Noise, r.JPEG
		errs = append(errs, prob(name+" blur", b.Prob), prob(name+" noise", n.Prob), prob(name+" JPEG", j.Prob),
			prob(name+" anisotropic", b.Aniso), prob(name+" generalised", b.Generalized),
			prob(name+" Poisson", n.Poisson), prob(name+" grey", n.Grey))
		if b.Prob > 0 {
			errs = append(errs, b.Sigma.check(name+" blur σ", 0.01, 20), b.Beta.check(name+" blur β", 0.1, 10))
			if b.MinSize < 3 || b.MinSize%2 == 0 || b.MaxSize < b.MinSize || b.MaxSize%2 == 0 || b.MaxSize > 61 {
				errs = append(errs, fmt.Errorf("%s blur kernel sizes %d–%d: want odd, 3 <= min <= max <= 61", name, b.MinSize, b.MaxSize))
			}
		}
		if resize && z.Prob > 0 {
			errs = append(errs, z.Scale.check(name+" resize scale", 0.1, 4))
		}
		if (resize && z.Prob > 0 || name == "final") && len(z.Methods) == 0 {
			errs = append(errs, fmt.Errorf("%s resize: no interpolation methods", name))
		}
		if n.Prob > 0 {
			errs = append(errs, n.Sigma.check(name+" noise σ", 0, 255), n.PoissonScale.check(name+" Poisson scale", 0, 20))
		}
		if j.Prob > 0 {
			errs = append(errs, j.Quality.check(name+" JPEG quality", 1, 100))
		}
	}
	round("first", c.First, true)
	round("second", c.Second, true)
	round("final", c.Final, false)
	return errors.Join(errs...)
}

// Apply degrades src (h×w×3 interleaved, values in [0, 1]) to a dw×dh LR
// with the draws of rng. The result is clamped to [0, 1] and quantised to 8
// bits, as a file would hold it, except for the clean share, which is the
// benchmark's bicubic resize exactly.
func (c Chain) Apply(rng *rand.Rand, src []float32, w, h, dw, dh int) ([]float32, error) {
	if len(src) != w*h*3 || dw < 1 || dh < 1 {
		return nil, fmt.Errorf("degrade: %d values for a %dx%d RGB image to %dx%d", len(src), w, h, dw, dh)
	}
	u := rng.Float64()
	if u < c.Clean {
		return resample.Resize(src, w, h, 3, dw, dh, resample.Options{Method: resample.Bicubic})
	}
	img := image{pix: append([]float32(nil), src...), w: w, h: h}
	full := u >= c.Clean+c.Direct
	var err error
	if full {
		if img, err = c.First.apply(rng, img, 0, 0); err != nil {
			return nil, err
		}
	}
	if full && rng.Float64() < c.SecondProb {
		img = c.Second.Blur.apply(rng, img)
		if img, err = c.Second.Resize.apply(rng, img, 0, 0); err != nil {
			return nil, err
		}
	}
	if img, err = c.Final.apply(rng, img, dw, dh); err != nil {
		return nil, err
	}
	clampQuantize(img.pix)
	return img.pix, nil
}

// image is an RGB float image being degraded.
type image struct {
	pix  []float32
	w, h int
}

// apply runs one round; with dw > 0 its resize goes to dw×dh and always
// runs.
func (r Round) apply(rng *rand.Rand, img image, dw, dh int) (image, error) {
	img = r.Blur.apply(rng, img)
	img, err := r.Resize.apply(rng, img, dw, dh)
	if err != nil {
		return image{}, err
	}
	r.Noise.apply(rng, img.pix)
	if rng.Float64() < r.JPEG.Prob {
		q := int(math.Round(r.JPEG.Quality.draw(rng)))
		if err := CompressJPEG(img.pix, img.w, img.h, q); err != nil {
			return image{}, err
		}
	}
	return img, nil
}

func (b Blur) apply(rng *rand.Rand, img image) image {
	if !(rng.Float64() < b.Prob) {
		return img
	}
	size := b.MinSize + 2*rng.IntN((b.MaxSize-b.MinSize)/2+1)
	sx := b.Sigma.draw(rng)
	sy, theta := sx, 0.0
	if rng.Float64() < b.Aniso {
		sy, theta = b.Sigma.draw(rng), math.Pi*(2*rng.Float64()-1)
	}
	beta := 1.0
	if rng.Float64() < b.Generalized {
		beta = b.Beta.draw(rng)
	}
	return image{pix: Convolve(img.pix, img.w, img.h, Kernel(size, sx, sy, theta, beta)), w: img.w, h: img.h}
}

func (z Resize) apply(rng *rand.Rand, img image, dw, dh int) (image, error) {
	if dw == 0 {
		if !(rng.Float64() < z.Prob) {
			return img, nil
		}
		s := z.Scale.draw(rng)
		dw, dh = max(1, int(math.Round(float64(img.w)*s))), max(1, int(math.Round(float64(img.h)*s)))
	}
	m := z.Methods[rng.IntN(len(z.Methods))]
	pix, err := resample.Resize(img.pix, img.w, img.h, 3, dw, dh, resample.Options{Method: m})
	if err != nil {
		return image{}, fmt.Errorf("degrade: %w", err)
	}
	return image{pix: pix, w: dw, h: dh}, nil
}

func (n Noise) apply(rng *rand.Rand, pix []float32) {
	if !(rng.Float64() < n.Prob) {
		return
	}
	grey := rng.Float64() < n.Grey
	if rng.Float64() < n.Poisson {
		AddPoisson(rng, pix, n.PoissonScale.draw(rng), grey)
		return
	}
	AddGaussian(rng, pix, n.Sigma.draw(rng)/255, grey)
}

// clampQuantize clamps to [0, 1] and rounds to the 256 levels of 8 bits.
func clampQuantize(pix []float32) {
	for i, v := range pix {
		pix[i] = float32(math.Round(float64(min(max(v, 0), 1))*255)) / 255
	}
}
