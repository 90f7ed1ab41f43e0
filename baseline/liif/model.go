// Package liif is the LIIF regression baseline (Chen et al., "Learning
// Continuous Image Representation with Local Implicit Image Function",
// CVPR 2021) built on our engine: an EDSR-baseline encoder at the input's
// resolution and an implicit MLP head (Head) that renders the encoding at
// any output size, trained with L1 on random pixels of random-scale
// crops. It registers as the upscaling method "liif".
//
// As in LIIF's code, images are normalised to [−1, 1] on the way in and
// back on the way out, and the loss is measured in that range. Output is
// rendered band by band (Decoder.Rows), so memory grows with the input and
// the output's width, not with its size.
package liif

import (
	"context"
	"fmt"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/nn"
	"github.com/zoomdiff/zoomdiff/render"
)

// Kind identifies LIIF model files and names the upscaling method.
const Kind = "liif"

// Limits of one Upscale call: the encoder holds several maps of Feats
// floats a pixel at the input's size, and Upscale returns the whole output.
const (
	MaxInputPixels  = 1 << 22
	MaxOutputPixels = 1 << 28
)

// Config is the architecture, stored with the weights.
type Config struct {
	Feats  int   `json:"feats" opt:"feats" help:"encoder width (EDSR-baseline's)"`
	Blocks int   `json:"blocks" opt:"blocks" help:"encoder residual blocks"`
	MLP    []int `json:"mlp" opt:"mlp" help:"hidden widths of the MLP"`
	Unfold bool  `json:"unfold" opt:"unfold" help:"3x3 feature unfolding (as LIIF)"`
	// QueryBatch is roughly how many queries go through the MLP at once
	// when rendering (memory bound).
	QueryBatch int `json:"query_batch"`
}

// DefaultConfig is EDSR-baseline-LIIF as the paper trains it.
func DefaultConfig() Config {
	return Config{Feats: 64, Blocks: 16, MLP: []int{256, 256, 256, 256}, Unfold: true, QueryBatch: 16384}
}

// Check rejects configurations the network cannot be built from, and
// ones far beyond anything trainable here, so that a corrupt model file
// cannot make the loader allocate gigabytes before the weights are checked.
func (c Config) Check() error {
	switch {
	case c.Feats < 1 || c.Feats > 1024:
		return fmt.Errorf("liif config: feats %d outside [1, 1024]", c.Feats)
	case c.Blocks < 0 || c.Blocks > 64:
		return fmt.Errorf("liif config: blocks %d outside [0, 64]", c.Blocks)
	}
	if err := CheckHead(c.MLP, c.QueryBatch); err != nil {
		return fmt.Errorf("liif config: %w", err)
	}
	return nil
}

// CheckHead bounds a head's hidden widths and its rendering batch (see
// Config.Validate).
func CheckHead(mlp []int, queryBatch int) error {
	if len(mlp) < 1 || len(mlp) > 16 {
		return fmt.Errorf("%d hidden layers, want 1 to 16", len(mlp))
	}
	for _, w := range mlp {
		if w < 1 || w > 8192 {
			return fmt.Errorf("hidden width %d outside [1, 8192]", w)
		}
	}
	if queryBatch < 1 || queryBatch > 1<<22 {
		return fmt.Errorf("query_batch %d outside [1, %d]", queryBatch, 1<<22)
	}
	return nil
}

// Model is the encoder and the implicit head.
type Model struct {
	Config Config
	Params *nn.Params
	enc    *EDSR
	head   *Head
}

// New builds a model with freshly initialised weights.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	return &Model{Config: cfg, Params: p,
		enc:  NewEDSR(p.Sub("enc"), 3, cfg.Feats, cfg.Blocks),
		head: NewHead(p.Sub("imnet"), cfg.Feats, cfg.MLP, 3, cfg.Unfold)}, nil
}

// Normalize maps [0, 1] values to [−1, 1] in a new tensor of the given
// shape: LIIF's data range, and the diffusion baseline's.
func Normalize(v []float32, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i, x := range v {
		t.Data[i] = 2*x - 1
	}
	return t
}

// Features encodes LR images x [N,h,w,3] (values in [0, 1]) into the map
// the head queries.
func (m *Model) Features(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	return m.head.Prepare(tp, m.enc.Forward(tp, Normalize(x.Data, x.Shape...)))
}

// Decoder renders one encoded image at any size.
type Decoder struct {
	m *Model
	f *tensor.Tensor
}

// NewDecoder encodes lr for rendering.
func (m *Model) NewDecoder(lr *imageio.Image) (*Decoder, error) {
	if err := lr.Check(); err != nil {
		return nil, fmt.Errorf("liif input: %w", err)
	}
	if int64(lr.W)*int64(lr.H) > MaxInputPixels {
		return nil, fmt.Errorf("liif input %dx%d has more than %d pixels", lr.W, lr.H, MaxInputPixels)
	}
	return &Decoder{m: m, f: m.Features(nil, tensor.FromData(lr.Pix, 1, lr.H, lr.W, 3))}, nil
}

// Rows renders rows [y0, y1) of an outH×outW output as interleaved RGB in
// [0, 1] (not clamped).
func (d *Decoder) Rows(outH, outW, y0, y1 int) []float32 {
	v := d.m.head.Rows(d.f, outH, outW, y0, y1, d.m.Config.QueryBatch)
	for i, x := range v {
		v[i] = x*0.5 + 0.5
	}
	return v
}

// band is how many output rows Upscale renders between checks of its
// context.
const band = 64

// Upscale renders lr at w×h (any size, any aspect change), clamped to
// [0, 1], grey again for a grey input.
func (m *Model) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	if w < 1 || h < 1 || int64(w)*int64(h) > MaxOutputPixels {
		return nil, fmt.Errorf("liif output size %dx%d: want 1 to %d pixels", w, h, MaxOutputPixels)
	}
	d, err := m.NewDecoder(lr)
	if err != nil {
		return nil, err
	}
	out := &imageio.Image{W: w, H: h, Pix: make([]float32, 0, w*h*3), Gray: lr.Gray}
	for y := 0; y < h; y += band {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out.Pix = append(out.Pix, d.Rows(h, w, y, min(y+band, h))...)
	}
	autoencoder.FinishRGB(out.Pix, lr.Gray)
	return out, nil
}

// Save writes the model to path atomically, in float16 when half is set;
// card is free-form metadata.
func (m *Model) Save(path string, half bool, card map[string]string) error {
	return baseline.Save(path, Kind, m.Config, m.Params.List(), half, card)
}

func build(cfg Config) (*Model, []checkpoint.Named, error) {
	m, err := New(cfg, 0)
	if err != nil {
		return nil, nil, err
	}
	return m, m.Params.List(), nil
}

// Open loads the model file at path, or builds freshly initialised weights
// of DefaultConfig for "random:liif" (for timings: its outputs are noise).
func Open(path string) (*Model, error) { return baseline.Open(path, Kind, DefaultConfig(), build) }

// Upscaler adapts a model to render.Method.
type Upscaler struct{ Model *Model }

// Name identifies the method in tables.
func (u *Upscaler) Name() string { return Kind }

// Upscale returns lr rendered at w×h.
func (u *Upscaler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	return u.Model.Upscale(ctx, lr, w, h)
}

// Summary describes the method for help texts.
const Summary = "LIIF baseline: EDSR-baseline encoder + implicit MLP, regression (--model FILE, or random:liif for untrained weights)"

// NewMethod opens the LIIF baseline at model as a render.Method; it takes
// no parameters.
func NewMethod(model string, params map[string]string) (render.Method, error) {
	if len(params) > 0 {
		return nil, fmt.Errorf("liif takes no parameters, got %v", params)
	}
	m, err := Open(model)
	if err != nil {
		return nil, err
	}
	return &Upscaler{Model: m}, nil
}
