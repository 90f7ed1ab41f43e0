// Package idm is the image-space implicit diffusion baseline of issue #8,
// after IDM (Gao et al., "Implicit Diffusion Models for Continuous
// Super-Resolution", CVPR 2023): the diffusion runs on the image itself,
// at the output resolution, so its time and memory grow with the output
// size — the cost our latent model avoids.
//
// # Structure
//
// A small EDSR-like encoder (liif.EDSR) encodes the LR image at its own
// resolution; a LIIF head (liif.Head: local ensemble and cell decoding,
// the output pixel's size being the scale condition) up-samples those
// features implicitly to the output's pixel grid. As in IDM's code (after
// SR3) the condition also holds the LR image bicubic-up-sampled to the
// output size. A U-Net (diffusion.UNet, the same architecture as our
// denoiser) takes the noisy HR image concatenated with that condition,
// with a timestep embedding, and predicts ε or v. Schedule, samplers
// (DDIM, DDPM) and prediction targets are our diffusion package's, through
// diffusion.Denoiser; as in IDM's and SR3's samplers, each step clips the
// clean image it aims at to the image range. Images are in [−1, 1].
//
// Simplifications, against IDM's release: the implicit up-sampling
// happens once, on the encoder's features, instead of at every level of
// the U-Net's decoder on its own features, and there is no scale-
// modulated (StyleGAN-like) conditioning; the cell size carries the scale.
// Both make this baseline cheaper than IDM, not dearer.
//
// # Memory at large outputs
//
// The U-Net runs over overlapping windows of the output (the tiling our
// sampler uses for latents, SampleOptions.Tile), so its activations are
// bounded. IDM has no such tiling; it is added only so that the baseline
// runs at all beyond a few megapixels on a CPU. Everything else is held
// at the output resolution, as an image-space model must: the noisy image
// of every sample (3 floats a pixel), the prediction and its blend weights
// (4) and the condition (3 + CondCh). Nothing else is done to save time or
// memory.
package idm

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/nn"
)

// Kind identifies IDM model files and names the upscaling method.
const Kind = "idm"

// unetPrefix names the U-Net's parameters in model files; the encoder's
// and the up-sampler's are under "enc." and "up.".
const unetPrefix = "unet."

// Config is the architecture, stored with the weights.
type Config struct {
	EncFeats  int   `json:"enc_feats" opt:"enc-feats" help:"LR encoder width"`
	EncBlocks int   `json:"enc_blocks" opt:"enc-blocks" help:"LR encoder residual blocks"`
	CondCh    int   `json:"cond_channels" opt:"cond-ch" help:"channels of the implicitly up-sampled features"`
	MLP       []int `json:"mlp" opt:"mlp" help:"hidden widths of the implicit up-sampler (IDM's)"`
	// UNet is the denoiser: InCh = 3 (x_t) + 3 (bicubic LR) + CondCh,
	// OutCh = 3.
	UNet       diffusion.UNetConfig     `json:"unet"`
	Schedule   diffusion.ScheduleConfig `json:"schedule"`
	Prediction string                   `json:"prediction" opt:"prediction" help:"what the U-Net predicts: eps (IDM's) or v"`
	// QueryBatch is roughly how many output pixels the up-sampler's MLP
	// takes at once (memory bound).
	QueryBatch int `json:"query_batch"`
}

// DefaultConfig pairs a small encoder with our own denoiser's U-Net
// (diffusion.DefaultUNet), our schedule and IDM's ε-prediction, so that
// against our model the U-Net differs only in where it runs.
func DefaultConfig() Config {
	c := Config{EncFeats: 32, EncBlocks: 4, CondCh: 16, MLP: []int{256}, UNet: diffusion.DefaultUNet(3),
		Schedule: diffusion.DefaultSchedule(), Prediction: diffusion.PredictEps, QueryBatch: 16384}
	c.UNet.InCh, c.UNet.OutCh = c.UNetIn(), 3
	return c
}

// UNetIn is the U-Net's input width: x_t, the bicubic LR and the features.
func (c Config) UNetIn() int { return 6 + c.CondCh }

// Check checks that the parts fit together, and bounds them so a
// corrupt model file cannot make the loader allocate gigabytes.
func (c Config) Check() error {
	if err := c.UNet.Check(); err != nil {
		return err
	}
	if err := c.Schedule.Check(); err != nil {
		return err
	}
	switch {
	case c.EncFeats < 1 || c.EncFeats > 1024 || c.EncBlocks < 0 || c.EncBlocks > 64:
		return fmt.Errorf("idm config: encoder of %d features and %d blocks is out of range", c.EncFeats, c.EncBlocks)
	case c.CondCh < 1 || c.CondCh > 256:
		return fmt.Errorf("idm config: cond_channels %d outside [1, 256]", c.CondCh)
	case c.UNet.InCh != c.UNetIn() || c.UNet.OutCh != 3:
		return fmt.Errorf("idm config: unet in/out channels %d/%d, want %d/3", c.UNet.InCh, c.UNet.OutCh, c.UNetIn())
	case c.Prediction != diffusion.PredictEps && c.Prediction != diffusion.PredictV:
		return fmt.Errorf("idm config: prediction %q: want %s or %s", c.Prediction, diffusion.PredictEps, diffusion.PredictV)
	}
	if err := liif.CheckHead(c.MLP, c.QueryBatch); err != nil {
		return fmt.Errorf("idm config: %w", err)
	}
	return nil
}

// Model is the encoder, the implicit up-sampler and the denoiser.
type Model struct {
	Config Config
	Params *nn.Params // the encoder's and the up-sampler's
	UNet   *diffusion.UNet
	Sched  *diffusion.Schedule

	enc  *liif.EDSR
	head *liif.Head
	den  *diffusion.Denoiser
}

// New builds a model with freshly initialised weights.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	u, err := diffusion.NewUNet(cfg.UNet, seed^0x1d)
	if err != nil {
		return nil, err
	}
	sc, err := diffusion.NewSchedule(cfg.Schedule)
	if err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	return &Model{Config: cfg, Params: p, UNet: u, Sched: sc,
		enc:  liif.NewEDSR(p.Sub("enc"), 3, cfg.EncFeats, cfg.EncBlocks),
		head: liif.NewHead(p.Sub("up"), cfg.EncFeats, cfg.MLP, cfg.CondCh, false),
		den:  &diffusion.Denoiser{UNet: u, Sched: sc, Prediction: cfg.Prediction}}, nil
}

// Named returns every parameter under its name in the model file.
func (m *Model) Named() []checkpoint.Named {
	out := append([]checkpoint.Named(nil), m.Params.List()...)
	for _, p := range m.UNet.Params.List() {
		out = append(out, checkpoint.Named{Name: unetPrefix + p.Name, T: p.T})
	}
	return out
}

// Save writes the model to path atomically, in float16 when half is set;
// card is free-form metadata.
func (m *Model) Save(path string, half bool, card map[string]string) error {
	return baseline.Save(path, Kind, m.Config, m.Named(), half, card)
}

func build(cfg Config) (*Model, []checkpoint.Named, error) {
	m, err := New(cfg, 0)
	if err != nil {
		return nil, nil, err
	}
	return m, m.Named(), nil
}

// Open loads the model file at path, or builds freshly initialised weights
// of DefaultConfig for "random:idm" (for timings: its outputs are noise).
func Open(path string) (*Model, error) { return baseline.Open(path, Kind, DefaultConfig(), build) }
