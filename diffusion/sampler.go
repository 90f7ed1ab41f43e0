package diffusion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Sampler names accepted by SampleOptions.Sampler.
const (
	SamplerDDIM = "ddim"
	SamplerDDPM = "ddpm"
	SamplerDPM  = "dpm++2m"
)

// Default samplers and step counts: DefaultSRSampler with DefaultSRSteps
// for super-resolution, DefaultGenSampler with DefaultGenSteps for a
// generator. For SR, DPM-Solver++(2M) at 10 steps reproduces the 20-step
// DDIM teacher, at half its cost: ×4 PSNR-Y / NIQE on whole images, Set5
// 30.24 / 6.78 against 30.25 / 6.92 and Set14 27.11 / 5.48 against 27.14 /
// 5.52; on Set5 192-pixel crops within 0.03 dB at ×2, ×4, ×8 and ×12.
// Fewer steps land short of the ODE's end, which is smoother: 5 steps gain
// 0.1–0.15 dB of PSNR and lose naturalness (NIQE 6.98 and 5.69), and τ =
// 0.95 with 5 steps buys the naturalness back for 0.1 dB (30.17 / 6.69,
// 27.04 / 5.40), a setting that meets the teacher's figures only just, on
// the sets it was read from; 10 steps is the default that needs no such
// tuning. A generator's samples are 8×8 latents, a few milliseconds a step,
// so it takes the steps that lower the feature FD (2,000 CIFAR-10 samples
// at 32×32, seed 0, eval-gen): for the class-conditional built-in with
// guidance 2, 1.94 with 20 DPM-Solver steps against 2.05 with 10 (the
// unconditional weights before it: 3.11 against 3.39; 4.42 with 50 DDIM
// steps for the first weights, 6.03 with 5 DPM-Solver steps).
const (
	DefaultSRSampler  = SamplerDPM
	DefaultSRSteps    = 10
	DefaultGenSampler = SamplerDPM
	DefaultGenSteps   = 20
)

// SampleOptions control the reverse process. Start from
// DefaultSampleOptions (SR) or DefaultGenSampleOptions (a generator):
// every field means what it holds, zero included.
type SampleOptions struct {
	// Sampler is SamplerDDIM, SamplerDDPM or SamplerDPM, the deterministic
	// second-order multistep solver (which ignores Eta).
	Sampler string
	// Steps is the number of denoising steps, at most the schedule's T. Fewer
	// than T visits an evenly spaced subset of the timesteps that always
	// includes T−1, so sampling starts from the most-noised step the model
	// was trained on. DDPM with fewer steps is
	// the respaced ancestral sampler (Nichol & Dhariwal).
	Steps int
	// Eta is DDIM's η: 0 is deterministic, 1 matches DDPM's posterior
	// variance (the seed paper's release samples with 200 steps, η = 1).
	// DDPM ignores it.
	Eta float64
	// Seed makes sampling reproducible: sample k draws all its noise from
	// a generator seeded by (Seed, k), so its noise does not depend on
	// Samples or on the tiling.
	Seed uint64
	// Samples is how many independent outputs to draw.
	Samples int
	// Strength, in (0, 1), starts the reverse process part-way, at
	// t0 = round(Strength·T) − 1, from the condition's latent noised to t0
	// (SDEdit; CCDF, Chung et al. 2022) instead of from pure noise: the
	// encoded nearest-up-sampled LR is already close to the answer, so
	// the noisiest steps, where an ε-predictor's x̂0 is least accurate,
	// are skipped. 0 (or 1) is the paper's sampling from pure noise at T.
	Strength float64
	// Temperature τ, in [0, 2], scales every noise draw: the starting
	// noise and, with η > 0 or DDPM, the noise each step adds; 0 draws
	// none. TemperatureByScale asks for TemperatureFor the output scale in
	// SR.Stream and SR.Upscale, DefaultTemperature in SR.Latents (no
	// output size yet) and 1 for a generator (its samples are the point).
	// τ = 1 samples the model's distribution: the most natural-looking
	// detail (lowest NIQE), but a sample's detail is one plausible guess,
	// which PSNR punishes. Lower τ moves each sample towards the average
	// of the guesses: higher PSNR, smoother texture. See
	// DefaultTemperature for the measured trade-off.
	Temperature float64
	// Tile is the side, in latent pixels, of the windows the U-Net runs
	// on when the latent is larger (rounded down to a multiple of the
	// U-Net's Multiple); Overlap is how much neighbouring windows share.
	// Memory is bounded by the tile, not the input.
	Tile, Overlap int
	// EncodeTile is the side, in latent pixels, of the windows the
	// condition is encoded in, in [16, 1024]; each is encoded
	// with 10 latent pixels of context on every side (the encoder's
	// reach), then trimmed.
	EncodeTile int
	// ExactCondition encodes the condition with the encoder even where
	// the model has a condition network (SR.Cond), which computes it
	// about 15 times faster with outputs within 0.01 dB PSNR-Y on the
	// benchmarks (CondNet; models/README.md). Training always encodes
	// exactly.
	ExactCondition bool
	// Consistency is the number of back-projection rounds applied to each
	// sampled latent so that the output, down-sampled, matches the input
	// (see SR.project); 0: none.
	Consistency int
	// Margin is how many input pixels of mirrored context are added on
	// every side before encoding, at most (0: none): a side gets the
	// largest margin that adds no U-Net window
	// along it (see SR.fitMargin). The output covers the input only.
	Margin int
	// Detail is the largest scale, in output pixels per input pixel, at
	// which the implicit decoder draws every output pixel: a larger output
	// is drawn at this scale and enlarged by bicubic interpolation (see
	// autoencoder.Decoder.SetDetailScale), at least 1; math.Inf(1) draws
	// every pixel at any scale. DefaultDetail keeps huge outputs fast with
	// no visible change; a lower value trades the detail the decoder
	// draws beyond it for fidelity (DefaultDetail's comment has the
	// measurements).
	Detail float64
	// Class, for a class-conditional generator, is the class every
	// sample is drawn from, by name or number; "" gives sample k of a
	// seed's sequence the class k mod the number of classes, so that
	// samples come class-balanced. A model without classes refuses one.
	Class string
	// Guidance w ≥ 0 is the weight of classifier-free guidance for a
	// class-conditional generator: each prediction is
	// (1+w)·U(z, class) − w·U(z, none), which trades variety for samples
	// more typical of their class, at twice the U-Net's work; 0 samples
	// the conditional model as it was trained. GuidanceByModel asks for
	// DefaultGuidance with a class-conditional generator, none otherwise.
	Guidance float64
	// Timings, when set, receives how long Latents spent in each phase.
	Timings *Timings
	// Progress, when set, is told how much of the sampling is done: done
	// of total U-Net windows over all steps for a model that samples in
	// windows (first with done = 0 as the first step starts, so that a
	// large input's first report does not wait for a whole step), done of
	// total steps for the other callers of Denoiser.Reverse.
	Progress func(done, total int)
	// ConditionProgress, when set, is told how many of the windows the
	// condition is computed in are done (first with 0), before sampling
	// starts: the condition of a large input takes seconds (about 2 s a
	// megapixel with builtin:cond on 2 cores).
	ConditionProgress func(done, total int)

	label int // Class resolved: its label, or −1 for every class in turn
}

// DefaultSampleOptions is how the built-in SR models sample: the
// defaults below, one sample, seed 0, τ by scale, 32-pixel windows
// overlapping by 8.
func DefaultSampleOptions() SampleOptions {
	return SampleOptions{Sampler: DefaultSRSampler, Steps: DefaultSRSteps, Samples: 1, Temperature: TemperatureByScale,
		Tile: DefaultTile, Overlap: DefaultTile / 4, EncodeTile: DefaultEncodeTile, Consistency: DefaultConsistency, Margin: DefaultMargin, Detail: DefaultDetail}
}

// DefaultGenSampleOptions is how a generator samples: DefaultGenSampler
// with DefaultGenSteps at τ = 1, its own distribution.
func DefaultGenSampleOptions() SampleOptions {
	o := DefaultSampleOptions()
	o.Sampler, o.Steps, o.Temperature, o.Guidance = DefaultGenSampler, DefaultGenSteps, 1, GuidanceByModel
	return o
}

// GuidanceByModel, as SampleOptions.Guidance, asks for DefaultGuidance
// with a class-conditional generator and no guidance otherwise.
const GuidanceByModel = -1.0

// GuidanceFor is the guidance weight w asks for with a model of the given
// number of classes: w itself, or for GuidanceByModel DefaultGuidance
// with classes and 0 without.
func GuidanceFor(w float64, classes int) float64 {
	switch {
	case w != GuidanceByModel:
		return w
	case classes > 0:
		return DefaultGuidance
	}
	return 0
}

// DefaultGuidance is a class-conditional generator's classifier-free
// guidance weight by default: the lowest feature FD of the built-in
// generator's samples (2,000 at 32×32, 20 steps: 2.86, 2.01, 1.94 and 2.16
// at weights 0, 1, 2 and 3), where 60 % of them are of the class asked
// for in the classifier's eyes (26 % without guidance; 80 % for real
// images). Higher weights trade more variety (recall 0.66 → 0.58 → 0.48
// from 0 to 3) for class fidelity.
const DefaultGuidance = 2.0

// DefaultTile is the side, in latent pixels, of the U-Net's windows by
// default (overlapping by a quarter): twice the training latent's side.
// The U-Net learned on 16×16 latents, and larger windows, whose attention
// spans far more than it ever saw, give less faithful samples. Measured
// with the 2-step student, held-out photos (PSNR-Y / NIQE; 64 before):
// bsds500test@heldout ×2 31.113 / 4.43 with 64, 31.226 / 4.44 with 32;
// ×4 26.600 / 5.43 and 26.629 / 5.31; photos@heldout ×4 34.739 / 6.60 and
// 34.946 / 6.49 (96: 31.0 / 26.5 / 34.5, lower everywhere; 24 and 48
// between; 16 lowers PSNR for lower NIQE). With the same overlap ratio the
// U-Net covers about as many pixels, so the time stays about the same
// (the ×4 example's diffusion 2.1–2.2 → 1.5–1.6 s, a 1600×900 photo ×2
// 94.7 → 99.3 s). A model trained on the real-photo chain samples in
// realTile windows instead (Config.Window).
const DefaultTile = 32

// realTile is the window of the models trained on the real-photo chain:
// in 32-pixel windows builtin:real's student gained at most 0.06 dB PSNR-Y
// (JPEG q40 and q60, noise 10, ×4 on Set5, Set14 and the held-out bsds
// photos) and lost naturalness in all nine (NIQE +0.02 to +0.49), so it
// keeps the 64 it was measured in.
const realTile = 64

// Window is the U-Net window side and overlap (a quarter of it) that a
// model of this config samples in by default: DefaultTile, or realTile for
// a model trained on the real-photo chain.
func (c Config) Window() (tile, overlap int) {
	if c.Degradation == DegradeReal {
		return realTile, realTile / 4
	}
	return DefaultTile, DefaultTile / 4
}

// SampleOptions is how a model of this config samples unless told
// otherwise: a generator as DefaultGenSampleOptions says; an SR model by
// DefaultSampleOptions in the config's Window, and a student (Student >
// 0) as it was distilled, DDIM, in DefaultStudentSteps. Every front end
// starts from it once the model is known, so the model's own defaults are
// written here only.
func (c Config) SampleOptions() SampleOptions {
	if c.Generator {
		return DefaultGenSampleOptions()
	}
	o := DefaultSampleOptions()
	o.Tile, o.Overlap = c.Window()
	if c.Student > 0 {
		o.Sampler, o.Steps = SamplerDDIM, DefaultStudentSteps
	}
	return o
}

// TemperatureByScale, as SampleOptions.Temperature, asks for the default
// τ of the output scale (see SampleOptions.Temperature).
const TemperatureByScale = -1.0

// DefaultTemperature is super-resolution's τ by default up to ×4, chosen
// by measurement as the most natural setting tried (τ = 1, 0.95, 0.9, 0.8,
// …) that beats bicubic by at least 0.3 dB PSNR-Y and in SSIM-Y there. On
// 216-pixel centre crops of Set14 (20 steps, seed 0), τ = 1 falls short
// at ×12 (+0.17 dB, SSIM 0.471 against bicubic's 0.481), τ = 0.95 passes
// there by 0.001 of SSIM, and τ = 0.9 gains 0.3–0.5 dB over τ = 1 at every
// scale (×2 31.36 → 31.88, ×4 26.78 → 27.18, ×8 23.08 → 23.41, ×12 21.41
// → 21.77; bicubic 30.10, 25.84, 22.77, 21.24) for NIQE 8–11 % higher (×4
// 6.32 → 7.00; bicubic 8.98). τ = 0 adds 0.4 dB more at ×4 but NIQE 8.63,
// near bicubic's. Beyond ×4 see TemperatureFor.
const DefaultTemperature = 0.9

// temperatureKnots is the default τ by output scale: DefaultTemperature up
// to ×4, 0.817 at ×8 (where the earlier schedule, falling from ×6, had
// it), 0.7 from ×12, linear in log scale between.
var temperatureKnots = [...]struct{ scale, tau float64 }{{4, DefaultTemperature}, {8, 0.817}, {12, 0.7}}

// TemperatureFor is the default τ for an output scale s (the larger of
// the two axes' ratios), from temperatureKnots. Above ×4 the decoder
// magnifies the latent's invented detail over more output pixels, where a
// wrong guess costs more PSNR. On the held-out photos (bsds500test@heldout,
// 10 DPM-Solver steps) τ = 0.9 kept +0.47 dB over bicubic at ×4 but only
// +0.26 / +0.22 at ×8 / ×12; τ = 0.8 gives +0.39 / +0.34 there and 0.7
// +0.45 / +0.40, with NIQE 7.26 → 7.78 → 8.13 at ×8 and 8.25 → 8.55 →
// 8.72 at ×12 (bicubic 11.14 and 12.89). At ×6, with the 2-step student in
// 32-pixel windows, τ = 0.9 kept only +0.31 dB there (24.949 against
// 24.642, NIQE 6.25), 0.85 +0.43 (NIQE 6.56) and 0.8 +0.51 (6.84), so the
// fall starts at ×4 (τ 0.85 at ×6); starting it at ×4 and going straight
// to 0.7 at ×12 would put ×8 at 0.77, buying 0.04–0.06 dB there for
// 0.1–0.25 of NIQE (2026-12-07).
func TemperatureFor(s float64) float64 {
	k := temperatureKnots
	if s <= k[0].scale {
		return k[0].tau
	}
	for i := 1; i < len(k); i++ {
		if s < k[i].scale {
			f := math.Log(s/k[i-1].scale) / math.Log(k[i].scale/k[i-1].scale)
			return k[i-1].tau + (k[i].tau-k[i-1].tau)*f
		}
	}
	return k[len(k)-1].tau
}

// TemperatureSchedule describes TemperatureFor's defaults in words, for
// help texts, so that they are written once, in temperatureKnots.
func TemperatureSchedule() string {
	k := temperatureKnots
	s := fmt.Sprintf("%g up to ×%g", k[0].tau, k[0].scale)
	for _, p := range k[1:] {
		s += fmt.Sprintf(", %.2g at ×%g", p.tau, p.scale)
	}
	return s + ", linear in log scale between"
}

// DefaultConsistency is the number of back-projection rounds by default.
// On Set5 ×4 (20 DDIM steps) back-projection takes the LR consistency from
// 34.8 to 48.6 dB and PSNR-Y from 29.30 to 29.63 dB. One round does it: the
// residual enters the latent's image channels, which the global skip
// carries to the rendering at the input's size almost exactly, so a second
// round found nearly nothing left to correct (2026-12-07, the 2-step
// student: Set5 ×4 PSNR-Y 30.23626 against 30.23628 dB, ×12 23.51217
// against 23.51226; builtin:real from JPEG q60 27.34992 against 27.34990)
// and only cost a decode at the input's size.
const DefaultConsistency = 1

// DefaultMargin is the mirrored context added around an input by default.
// The model was trained on crops cut from inside photos, so every pixel it
// saw had real neighbours; at an image's border the zero padding of its
// convolutions stands in for them, and on small inputs, which are mostly
// border, that costs dB. On the 96-pixel centre crops of Set5 (20 steps),
// 8 pixels of margin take PSNR-Y from 32.82 to 33.07 dB at ×4, 24.91 to
// 27.50 at ×8 (12-pixel input) and 21.65 to 23.74 at ×12 (8-pixel input);
// 4 gave less, 12 and 16 no more. Whole images barely change (Set5 ×4
// 29.71 → 29.72, ×12 22.79 → 22.97): they are mostly interior.
const DefaultMargin = 8

// DefaultEncodeTile is the condition's encoding window by default. The
// encoder is convolutional, but its GroupNorm statistics are per window, so
// the window size moves the output a little; each window also encodes a
// margin of context twice. Measured with the default sampler, ×4, PSNR-Y
// on Set5 / Set14 / the held-out bsds500test photos (encoding area on the
// 181×120 example, relative to the input's): 64 with a 16-pixel margin
// (before) 30.113 / 27.064 / 26.600 (2.0×); 96 in equal windows with a
// 10-pixel margin 30.107 / 27.068 / 26.600 (1.4×); 128 likewise 30.088 /
// 27.055 (1.2×), the only one measurably lower.
const DefaultEncodeTile = 96

// DefaultDetail is SampleOptions.Detail by default: the decoder draws
// every pixel up to ×32 and larger outputs are resized from ×32, within
// 45 dB of drawing them all (autoencoder.DefaultDetailScale). Lower is a
// perception trade: at ×12 a detail scale of 6 scores PSNR-Y / SSIM-Y /
// GMSD / NIQE 30.230 / .8513 / .1200 / 9.07 on the held-out wallpapers
// against 32's 30.044 / .8392 / .1194 / 8.21 (held-out bsds 23.090 /
// .5164 / .2182 / 9.73 against 23.053 / .5106 / .2167 / 8.77): more
// fidelity, but both perceptual metrics prefer drawing every pixel from
// ×12 up (2026-12-07, the model card has ×8 and ×16).
const DefaultDetail = autoencoder.DefaultDetailScale

// maxMargin bounds Margin: beyond the U-Net's receptive field more context
// only costs time.
const maxMargin = 64

// Timings is the wall time of the phases of SR.Latents. Decoding is the
// caller's, through SR.Decoder, at whatever size it renders.
type Timings struct {
	Encode    time.Duration // the condition: nearest up-sampling and the encoder
	Diffusion time.Duration // the reverse process and the consistency rounds
}

// maxSamples bounds Samples: each sample holds a whole latent in memory.
const maxSamples = 64

// resolve checks o for s and settles what it leaves to the model: τ by
// scale without an output size, and the tile rounded to the U-Net's
// multiple.
func (o *SampleOptions) resolve(s *SR) error {
	if o.Sampler != SamplerDDIM && o.Sampler != SamplerDDPM && o.Sampler != SamplerDPM {
		return fmt.Errorf("sampler %q: want %s, %s or %s", o.Sampler, SamplerDDIM, SamplerDDPM, SamplerDPM)
	}
	if o.Steps < 1 || o.Steps > s.Sched.T() {
		return fmt.Errorf("sampling steps %d outside [1, %d]", o.Steps, s.Sched.T())
	}
	if math.IsNaN(o.Eta) || o.Eta < 0 || o.Eta > 10 {
		return fmt.Errorf("eta %g outside [0, 10]", o.Eta)
	}
	if err := o.checkStudent(s); err != nil {
		return err
	}
	if err := o.resolveClass(s); err != nil {
		return err
	}
	switch {
	case o.Temperature == TemperatureByScale && s.Config.Generator:
		o.Temperature = 1
	case o.Temperature == TemperatureByScale:
		o.Temperature = DefaultTemperature
	case !(o.Temperature >= 0 && o.Temperature <= 2):
		return fmt.Errorf("temperature %g outside [0, 2]", o.Temperature)
	}
	if math.IsNaN(o.Strength) || o.Strength < 0 || o.Strength > 1 {
		return fmt.Errorf("strength %g outside [0, 1]", o.Strength)
	}
	if o.Samples < 1 || o.Samples > maxSamples {
		return fmt.Errorf("samples %d outside [1, %d]", o.Samples, maxSamples)
	}
	if o.Consistency < 0 || o.Consistency > 20 {
		return fmt.Errorf("consistency rounds %d outside [0, 20]", o.Consistency)
	}
	if o.Margin < 0 || o.Margin > maxMargin {
		return fmt.Errorf("margin %d outside [0, %d]", o.Margin, maxMargin)
	}
	if !(o.Detail >= 1) {
		return fmt.Errorf("detail scale %g: want at least 1", o.Detail)
	}
	if o.EncodeTile < 16 || o.EncodeTile > 1024 {
		return fmt.Errorf("encode tile %d outside [16, 1024]", o.EncodeTile)
	}
	if o.Tile < 1 || o.Overlap < 0 {
		return fmt.Errorf("tile %d, overlap %d: want a positive tile and a non-negative overlap", o.Tile, o.Overlap)
	}
	m := s.UNet.Config.Multiple()
	o.Tile = max(m, o.Tile/m*m)
	// Above half the window every latent pixel is under three windows or
	// more a side, and the work grows as tile/(tile−overlap) squared: an
	// overlap of 31 in windows of 32 took 30.8 s on the README's example
	// against the default's 2.3 s, for nothing measured.
	if 2*o.Overlap > o.Tile {
		return fmt.Errorf("tile %d with overlap %d: want an overlap of at most half the tile", o.Tile, o.Overlap)
	}
	return nil
}

// resolveClass checks Class and Guidance for s and sets label.
func (o *SampleOptions) resolveClass(s *SR) error {
	o.label = -1
	o.Guidance = GuidanceFor(o.Guidance, s.UNet.Config.Classes)
	switch {
	case !(o.Guidance >= 0 && o.Guidance <= 20):
		return fmt.Errorf("guidance %g outside [0, 20]", o.Guidance)
	case s.UNet.Config.Classes == 0 && (o.Class != "" || o.Guidance != 0):
		return fmt.Errorf("class %q, guidance %g: this model has no classes", o.Class, o.Guidance)
	case o.Class == "":
		return nil
	}
	var err error
	o.label, err = (&Generator{Model: s}).ClassIndex(o.Class)
	return err
}

// labels returns the class of each of n samples numbered from first, as
// opt.label says, for a class-conditional U-Net; nil for any other.
func (s *SR) labels(opt SampleOptions, first, n int) []int {
	k := s.UNet.Config.Classes
	if k == 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = opt.label
		if opt.label < 0 {
			out[i] = (first + i) % k
		}
	}
	return out
}

// Timesteps returns the timesteps a sampler with n steps visits, in the
// order it visits them (descending): t_i = ⌊(i+1)·T/n⌋ − 1, the
// "trailing" spacing, which always starts at T−1. LDM's "uniform"
// spacing starts at T−T/n+1 instead and so never sees the noisiest steps
// it was trained on, leaving low-frequency content to the initial noise.
func (s *Schedule) Timesteps(n int) []int { return s.TimestepsFrom(n, s.T()-1) }

// TimestepsFrom is Timesteps over [0, t0] instead of [0, T−1]: n steps
// (at most t0+1) trailing-spaced, starting at t0.
func (s *Schedule) TimestepsFrom(n, t0 int) []int {
	span := min(max(t0, 0), s.T()-1) + 1
	n = min(max(n, 1), span)
	out := make([]int, n)
	for i := range n {
		out[n-1-i] = (i+1)*span/n - 1
	}
	return out
}

// startStep is where sampling begins for a strength (see SampleOptions).
func (s *Schedule) startStep(strength float64) int {
	if strength <= 0 || strength >= 1 {
		return s.T() - 1
	}
	return max(0, int(math.Round(strength*float64(s.T())))-1)
}

// DDIMStep moves x from timestep t to prev (prev < t; −1 is the clean
// end) given the predicted noise eps, in place: x̂0 from the prediction,
// then x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·n with
// σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_prev) (Song et al.). noise is
// called once per element only when σ > 0.
func (s *Schedule) DDIMStep(x, eps []float32, t, prev int, eta float64, noise func() float64) {
	at, ap := s.alphaBarAt(t), s.alphaBarAt(prev)
	sigma := eta * math.Sqrt((1-ap)/(1-at)) * math.Sqrt(1-at/ap)
	dirCoef := math.Sqrt(math.Max(0, 1-ap-sigma*sigma))
	sa, sb := math.Sqrt(at), math.Sqrt(1-at)
	sp := math.Sqrt(ap)
	for i, xv := range x {
		e := float64(eps[i])
		x0 := (float64(xv) - sb*e) / sa
		v := sp*x0 + dirCoef*e
		if sigma > 0 {
			v += sigma * noise()
		}
		x[i] = float32(v)
	}
}

// DDPMStep is one ancestral step from t to prev (possibly respaced): the
// Gaussian posterior q(x_prev | x_t, x̂0) with β' = 1 − ᾱ_t/ᾱ_prev, mean
// √ᾱ_prev·β'/(1−ᾱ_t)·x̂0 + √(1−β')·(1−ᾱ_prev)/(1−ᾱ_t)·x_t and variance
// β'·(1−ᾱ_prev)/(1−ᾱ_t). It equals DDIMStep with η = 1, written the way
// DDPM derives it; the tests hold the two to each other.
func (s *Schedule) DDPMStep(x, eps []float32, t, prev int, noise func() float64) {
	at, ap := s.alphaBarAt(t), s.alphaBarAt(prev)
	beta := 1 - at/ap
	c0 := math.Sqrt(ap) * beta / (1 - at)
	ct := math.Sqrt(1-beta) * (1 - ap) / (1 - at)
	std := math.Sqrt(beta * (1 - ap) / (1 - at))
	sa, sb := math.Sqrt(at), math.Sqrt(1-at)
	for i, xv := range x {
		x0 := (float64(xv) - sb*float64(eps[i])) / sa
		v := c0*x0 + ct*float64(xv)
		if std > 0 {
			v += std * noise()
		}
		x[i] = float32(v)
	}
}

// DPMSolverStep moves x from timestep t to prev (−1: the clean end) with
// DPM-Solver++(2M) (Lu et al. 2022), in place. In λ = log(√ᾱ/√(1−ᾱ)) a
// step of h = λ_prev − λ_t is x_prev = (σ_prev/σ_t)·x − α_prev·(e^−h − 1)·D:
// with D = x̂0 it is DDIM with η = 0; the second order extrapolates D from
// this step's x̂0 and the previous one's, D = (1 + 1/2r)·x̂0 − (1/2r)·x̂0′
// with r the ratio of the previous step's h to this one's. x0Last holds
// x̂0′, predicted at timestep tLast (−1: this is the first step, so
// first order), and is overwritten with this step's x̂0. The last step, to
// the clean end, is first order too (the solver's "lower order final",
// which keeps few-step sampling stable).
func (s *Schedule) DPMSolverStep(x, eps, x0Last []float32, t, tLast, prev int) {
	lambda := func(t int) float64 { ab := s.alphaBarAt(t); return 0.5 * math.Log(ab/(1-ab)) }
	at, ap := s.alphaBarAt(t), s.alphaBarAt(prev)
	sa, sb := math.Sqrt(at), math.Sqrt(1-at)
	c1, c2 := 1.0, 0.0 // D = c1·x̂0 + c2·x̂0′
	var cx, cd float64 // x_prev = cx·x + cd·D
	if prev < 0 {
		cx, cd = 0, 1
	} else {
		h := lambda(prev) - lambda(t)
		cx = math.Sqrt(1-ap) / sb
		cd = -math.Sqrt(ap) * math.Expm1(-h)
		if tLast >= 0 {
			r := (lambda(t) - lambda(tLast)) / h
			c1, c2 = 1+1/(2*r), -1/(2*r)
		}
	}
	for i, xv := range x {
		x0 := (float64(xv) - sb*float64(eps[i])) / sa
		d := c1*x0 + c2*float64(x0Last[i])
		x0Last[i] = float32(x0)
		x[i] = float32(cx*float64(xv) + cd*d)
	}
}

// sampleLatents runs the reverse process for opt.Samples latents of h×w
// (multiples of the U-Net's Multiple) conditioned on cond [1,h,w,C]
// (normalised; nil for a generator) and returns them normalised,
// [Samples,h,w,C]. Sample k draws its noise from (opt.Seed, first+k).
func (s *SR) sampleLatents(ctx context.Context, h, w int, cond *tensor.Tensor, first int, opt SampleOptions) (*tensor.Tensor, error) {
	c := s.AE.Config.LatentCh
	per := h * w * c
	x := tensor.New(opt.Samples, h, w, c)
	t0 := s.Sched.startStep(opt.Strength)
	if cond == nil {
		t0 = s.Sched.T() - 1 // nothing to start part-way from
	}
	rngs := make([]*rand.Rand, opt.Samples)
	tau := opt.Temperature
	for k := range rngs {
		rngs[k] = rand.New(rand.NewPCG(opt.Seed, uint64(first+k)))
		xk := x.Data[k*per : (k+1)*per]
		for i := range xk {
			xk[i] = float32(tau * rngs[k].NormFloat64())
		}
		if t0 < s.Sched.T()-1 {
			s.Sched.QSample(xk, cond.Data, xk, t0)
		}
	}
	ts := s.Sched.TimestepsFrom(opt.Steps, t0)
	noise := make([]func() float64, opt.Samples)
	for k, rng := range rngs {
		noise[k] = func() float64 { return tau * rng.NormFloat64() }
	}
	den := s.den()
	plan := newTilePlan(h, w, opt.Tile, opt.Overlap, s.UNet.Config.Multiple())
	g := guide{labels: s.labels(opt, first, opt.Samples), weight: opt.Guidance}
	// Progress is reported here, window by window, not by Reverse.
	var window func()
	if report := opt.Progress; report != nil {
		done, total := 0, len(ts)*plan.windows()
		report(done, total)
		window = func() { done++; report(done, total) }
		opt.Progress = nil
	}
	err := den.Reverse(ctx, x, ts, opt, noise, func(t int) ([]float32, error) {
		out, err := den.predictTiled(ctx, x, cond, t, plan, g, window)
		if err != nil {
			return nil, err
		}
		den.toEps(out, x.Data, t) // the samplers take ε̂, whatever the U-Net predicts
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}
