package diffusion

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Kind identifies SR model files, GenKind generator files (a model with
// Config.Generator set).
const (
	Kind    = "sr"
	GenKind = "gen"
)

// Parameter name prefixes inside an SR model file. The auto-encoder is
// embedded whole, so one file is the complete model and can never be
// paired with an auto-encoder other than the one its latents came from.
const (
	unetPrefix = "unet."
	aePrefix   = "ae."
)

// Config describes a whole SR model: the denoiser, the embedded
// auto-encoder, the forward process and the latent normalisation. It is
// stored as the model file's JSON config.
type Config struct {
	UNet     UNetConfig         `json:"unet"`
	AE       autoencoder.Config `json:"ae"`
	Schedule ScheduleConfig     `json:"schedule"`
	// Scale is the factor the LR image is nearest-up-sampled by before
	// it is encoded as the condition (the training scale pair's ratio).
	// It is a multiple of the auto-encoder's factor f, so the latent of an
	// h×w input is (Scale/f)·h × (Scale/f)·w.
	Scale int `json:"scale"`
	// TrainLatent is the latent side the denoiser was trained at; the
	// default inference tile is a few times this.
	TrainLatent int `json:"train_latent"`
	// LatentShift and LatentScale normalise latents channel by channel,
	// n = (z − shift)·scale, so the diffusion runs on unit-variance data.
	// They are estimated from training latents before training starts.
	LatentShift []float32 `json:"latent_shift"`
	LatentScale []float32 `json:"latent_scale"`
	// Prediction is what the U-Net outputs: PredictEps (the paper's ε)
	// or PredictV (v = √ᾱ·ε − √(1−ᾱ)·z0, Salimans & Ho 2022).
	Prediction string `json:"prediction"`
	// Generator marks a model with no image condition: the U-Net sees z_t
	// alone (and a class, with Classes) and models the distribution of
	// training latents, so sampling from noise generates new images (at
	// TrainLatent, decodable at any size).
	// Scale is then the auto-encoder's factor and plays no part.
	Generator bool `json:"generator,omitempty"`
	// Degradation is how the training LRs were made from their HR crops:
	// DegradeBicubic, the benchmark's protocol, or DegradeReal, the
	// second-order chain of package degrade (blur, resize, noise, JPEG).
	Degradation string `json:"degradation,omitempty"`
	// Student, when above 0, marks a model distilled for that many DDIM
	// steps (and the counts whose timesteps are among them): see
	// DefaultDistillOptions and SR.StudentFor.
	Student int `json:"student,omitempty"`
	// Classes names the classes of a class-conditional generator
	// (UNet.Classes of them, in label order: a labelled archive's folder
	// names, see dataset.Labeled); empty for every other model.
	Classes []string `json:"classes,omitempty"`
}

// Training degradations.
const (
	DegradeBicubic = "" // MATLAB bicubic with antialiasing, as the benchmarks degrade
	DegradeReal    = "real"
)

// Prediction targets.
const (
	PredictEps = "eps"
	PredictV   = "v"
)

// Check checks that the parts fit together.
func (c Config) Check() error {
	if err := c.UNet.Check(); err != nil {
		return err
	}
	if err := c.AE.Check(); err != nil {
		return err
	}
	if err := c.Schedule.Check(); err != nil {
		return err
	}
	if err := boundAE(c.AE); err != nil {
		return err
	}
	lc, f := c.AE.LatentCh, c.AE.Factor()
	in := 2 * lc // z_t and the condition
	if c.Generator {
		in = lc
	}
	switch {
	case c.UNet.InCh != in || c.UNet.OutCh != lc:
		return fmt.Errorf("sr config: unet in/out channels %d/%d do not fit a %d-channel latent (want %d/%d)",
			c.UNet.InCh, c.UNet.OutCh, lc, in, lc)
	case c.Scale < f || c.Scale%f != 0 || c.Scale > 64:
		return fmt.Errorf("sr config: scale %d must be a multiple of the auto-encoder factor %d (at most 64)", c.Scale, f)
	case c.TrainLatent < 1:
		return fmt.Errorf("sr config: train_latent %d", c.TrainLatent)
	case c.Prediction != PredictEps && c.Prediction != PredictV:
		return fmt.Errorf("sr config: prediction %q: want %s or %s", c.Prediction, PredictEps, PredictV)
	case c.Degradation != DegradeBicubic && c.Degradation != DegradeReal:
		return fmt.Errorf("sr config: degradation %q: want none (bicubic) or %q", c.Degradation, DegradeReal)
	case len(c.LatentShift) != lc || len(c.LatentScale) != lc:
		return fmt.Errorf("sr config: %d shifts and %d scales for a %d-channel latent", len(c.LatentShift), len(c.LatentScale), lc)
	case len(c.Classes) != c.UNet.Classes || (c.UNet.Classes > 0 && !c.Generator):
		return fmt.Errorf("sr config: %d class names for a U-Net of %d classes (classes are for generators)", len(c.Classes), c.UNet.Classes)
	}
	for i := range lc {
		sh, sc := float64(c.LatentShift[i]), float64(c.LatentScale[i])
		if math.IsNaN(sh) || math.IsInf(sh, 0) || !(sc > 0) || math.IsInf(sc, 0) {
			return fmt.Errorf("sr config: latent channel %d has shift %g, scale %g", i, sh, sc)
		}
	}
	return nil
}

// boundAE rejects auto-encoder configs far beyond anything trainable here,
// so a corrupt model file cannot make the loader allocate gigabytes
// before the weight shapes are checked.
func boundAE(a autoencoder.Config) error {
	bad := a.Channels > 1024 || len(a.ChMult) > 6 || a.NumResBlocks > 8 || a.LatentCh > 256 || len(a.MLP) > 16
	for _, m := range a.ChMult {
		bad = bad || m > 16
	}
	for _, w := range a.MLP {
		bad = bad || w > 8192
	}
	if bad {
		return fmt.Errorf("sr config: auto-encoder config %+v is out of range", a)
	}
	return nil
}

// upFactor is the latent's size relative to the LR image.
func (c Config) upFactor() int { return c.Scale / c.AE.Factor() }

// SR is a trained latent diffusion model: the denoiser, its auto-encoder
// (frozen: its parameters never take gradients) and the schedule. It
// super-resolves, the U-Net conditioned on the encoded LR image. A
// Generator holds one with Config.Generator set, whose U-Net takes no
// condition: training, sampling and decoding are shared.
type SR struct {
	Config Config
	UNet   *UNet
	AE     *autoencoder.Model
	Sched  *Schedule
	// Cond, when set, computes the sampling condition at the input's size
	// in place of the encoder (see CondNet and SetCondNet). It is not
	// part of the model file: it has its own.
	Cond *CondNet
}

// New builds an SR model around ae with a freshly initialised U-Net that
// predicts ε. The latent normalisation starts as the identity (shift 0,
// scale 1); the trainer estimates it before the first step. ae's
// parameters are frozen.
func New(ae *autoencoder.Model, unet UNetConfig, sched ScheduleConfig, trainLatent int, seed uint64) (*SR, error) {
	if ae == nil {
		return nil, errors.New("sr: no auto-encoder")
	}
	lc := ae.Config.LatentCh
	cfg := Config{UNet: unet, AE: ae.Config, Schedule: sched, Scale: ae.Config.Factor(), TrainLatent: trainLatent,
		LatentShift: make([]float32, lc), LatentScale: make([]float32, lc), Prediction: PredictEps}
	for i := range cfg.LatentScale {
		cfg.LatentScale[i] = 1
	}
	return build(cfg, ae, seed)
}

// NewGenerator builds a generator around ae with a freshly initialised
// U-Net; unet.InCh must be the latent's channel count.
func NewGenerator(ae *autoencoder.Model, unet UNetConfig, sched ScheduleConfig, trainLatent int, seed uint64) (*Generator, error) {
	if ae == nil {
		return nil, errors.New("generator: no auto-encoder")
	}
	lc := ae.Config.LatentCh
	cfg := Config{UNet: unet, AE: ae.Config, Schedule: sched, Scale: ae.Config.Factor(), TrainLatent: trainLatent,
		LatentShift: make([]float32, lc), LatentScale: make([]float32, lc), Prediction: PredictEps, Generator: true}
	for i := range cfg.LatentScale {
		cfg.LatentScale[i] = 1
	}
	m, err := build(cfg, ae, seed)
	if err != nil {
		return nil, err
	}
	return &Generator{Model: m}, nil
}

// kind is the model-file kind of s.
func (s *SR) kind() string {
	if s.Config.Generator {
		return GenKind
	}
	return Kind
}

// build assembles a model from a validated config and an auto-encoder
// whose config must be cfg.AE.
func build(cfg Config, ae *autoencoder.Model, seed uint64) (*SR, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(cfg.AE, ae.Config) {
		return nil, fmt.Errorf("sr: auto-encoder config %+v differs from the model's %+v", ae.Config, cfg.AE)
	}
	u, err := NewUNet(cfg.UNet, seed)
	if err != nil {
		return nil, err
	}
	sc, err := NewSchedule(cfg.Schedule)
	if err != nil {
		return nil, err
	}
	for _, p := range ae.Params.List() {
		p.T.SetRequiresGrad(false)
	}
	return &SR{Config: cfg, UNet: u, AE: ae, Sched: sc}, nil
}

// Named returns every parameter under its name in the model file: the
// U-Net's under "unet.", the auto-encoder's under "ae.".
func (s *SR) Named() []checkpoint.Named {
	var out []checkpoint.Named
	for _, p := range s.UNet.Params.List() {
		out = append(out, checkpoint.Named{Name: unetPrefix + p.Name, T: p.T})
	}
	for _, p := range s.AE.Params.List() {
		out = append(out, checkpoint.Named{Name: aePrefix + p.Name, T: p.T})
	}
	return out
}

// SetDecoder gives s the implicit decoder of ae, an auto-encoder with the
// same encoder as s's, weight for weight (as decoder-only training leaves
// it: autoencoder.TrainOptions.DecoderOnly). The latents, and so the U-Net
// trained on them, keep their meaning; only how they are rendered changes.
func (s *SR) SetDecoder(ae *autoencoder.Model) error {
	if !reflect.DeepEqual(ae.Config, s.AE.Config) {
		return fmt.Errorf("set decoder: auto-encoder config %+v differs from the model's %+v", ae.Config, s.AE.Config)
	}
	if err := s.sameEncoder(ae); err != nil {
		return fmt.Errorf("set decoder: %w", err)
	}
	mine := map[string][]float32{}
	for _, p := range s.AE.Params.List() {
		mine[p.Name] = p.T.Data
	}
	for _, p := range ae.Params.List() {
		if !strings.HasPrefix(p.Name, "enc.") {
			copy(mine[p.Name], p.T.Data)
		}
	}
	return nil
}

// sameEncoder reports whether ae's encoder has s's auto-encoder's weights,
// so that both make the same latents.
func (s *SR) sameEncoder(ae *autoencoder.Model) error {
	mine := map[string][]float32{}
	for _, p := range s.AE.Params.List() {
		mine[p.Name] = p.T.Data
	}
	for _, p := range ae.Params.List() {
		if strings.HasPrefix(p.Name, "enc.") && !slices.Equal(p.T.Data, mine[p.Name]) {
			return fmt.Errorf("encoder weight %s differs, so the latents would too", p.Name)
		}
	}
	return nil
}

// Save writes the whole model (current U-Net weights — swap the EMA in
// first — and the embedded auto-encoder) to path atomically, in float16
// when half is set. card is free-form metadata.
func (s *SR) Save(path string, half bool, card map[string]string) error {
	dt := safetensors.F32
	if half {
		dt = safetensors.F16
	}
	return checkpoint.Save(path, s.kind(), s.Config, s.Named(), card, dt)
}

// LoadSR reads a super-resolution model file written by Save.
func LoadSR(path string) (*SR, error) { return load(path, Kind) }

// LoadGenerator reads a generator file written by Save.
func LoadGenerator(path string) (*Generator, error) { return asGenerator(load(path, GenKind)) }

// LoadSRBytes reads a super-resolution model held in memory; source names
// it in errors.
func LoadSRBytes(source string, b []byte) (*SR, error) { return loadBytes(source, b, Kind) }

// LoadGeneratorBytes reads a generator held in memory.
func LoadGeneratorBytes(source string, b []byte) (*Generator, error) {
	return asGenerator(loadBytes(source, b, GenKind))
}

func asGenerator(m *SR, err error) (*Generator, error) {
	if err != nil {
		return nil, err
	}
	return &Generator{Model: m}, nil
}

func load(path, kind string) (*SR, error) {
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	return fromCheckpoint(c, kind)
}

func loadBytes(source string, b []byte, kind string) (*SR, error) {
	c, err := checkpoint.OpenBytes(source, b)
	if err != nil {
		return nil, err
	}
	return fromCheckpoint(c, kind)
}

func fromCheckpoint(c *checkpoint.Checkpoint, kind string) (*SR, error) {
	return checkpoint.Rebuild(c, kind, func(cfg Config) (*SR, []checkpoint.Named, error) {
		if err := cfg.Check(); err != nil {
			return nil, nil, err
		}
		if cfg.Generator != (kind == GenKind) {
			return nil, nil, fmt.Errorf("a %s file whose config says generator=%v", kind, cfg.Generator)
		}
		ae, err := autoencoder.New(cfg.AE, 0)
		if err != nil {
			return nil, nil, err
		}
		s, err := build(cfg, ae, 0)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Named(), nil
	})
}

// normalize maps raw latents [.., C] to the diffusion's space in place.
func (s *SR) normalize(z []float32) {
	sh, sc := s.Config.LatentShift, s.Config.LatentScale
	c := len(sh)
	for i := range z {
		z[i] = (z[i] - sh[i%c]) * sc[i%c]
	}
}

// denormalize is the inverse of normalize, in place.
func (s *SR) denormalize(z []float32) {
	sh, sc := s.Config.LatentShift, s.Config.LatentScale
	c := len(sh)
	for i := range z {
		z[i] = z[i]/sc[i%c] + sh[i%c]
	}
}

// SetPrediction chooses what a fresh U-Net learns to predict (PredictEps
// or PredictV); set it before training starts.
func (s *SR) SetPrediction(p string) error {
	cfg := s.Config
	cfg.Prediction = p
	if err := cfg.Check(); err != nil {
		return err
	}
	s.Config = cfg
	return nil
}

// den is the model's denoiser: its U-Net, schedule and prediction target.
func (s *SR) den() *Denoiser {
	return &Denoiser{UNet: s.UNet, Sched: s.Sched, Prediction: s.Config.Prediction}
}

// denormalizeTape is denormalize recorded on a tape, so that the
// alignment loss's gradient flows from the decoder back into ẑ0.
func (s *SR) denormalizeTape(tp *tensor.Tape, z *tensor.Tensor) *tensor.Tensor {
	c := len(s.Config.LatentShift)
	inv, sh := tensor.New(c), tensor.New(c)
	for i := range c {
		inv.Data[i] = 1 / s.Config.LatentScale[i]
		sh.Data[i] = s.Config.LatentShift[i]
	}
	return tp.Add(tp.Mul(z, inv), sh)
}

// encodeCond encodes LR images x [N,h,w,3] as the condition: nearest-up-
// sampled by Scale, encoded, normalised. It records nothing: the encoder
// is frozen and the condition is an input.
func (s *SR) encodeCond(x *tensor.Tensor) *tensor.Tensor {
	k := s.Config.Scale
	up := tensor.New(x.Shape[0], x.Shape[1]*k, x.Shape[2]*k, 3)
	nearestUp(up.Data, x.Data, x.Shape[0], x.Shape[1], x.Shape[2], k)
	c := s.AE.Encode(nil, up)
	s.normalize(c.Data)
	return c
}

// nearestUp writes src [n,h,w,3] up-sampled k× by pixel repetition into dst.
func nearestUp(dst, src []float32, n, h, w, k int) {
	ow := w * k
	for b := 0; b < n; b++ {
		for y := 0; y < h*k; y++ {
			srow := src[(b*h+y/k)*w*3:]
			drow := dst[(b*h*k+y)*ow*3 : (b*h*k+y+1)*ow*3]
			for x := 0; x < ow; x++ {
				copy(drow[x*3:x*3+3], srow[(x/k)*3:(x/k)*3+3])
			}
		}
	}
}
