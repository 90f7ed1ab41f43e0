// Package autoencoder is the method's first stage: an LDM-style encoder E
// that maps an image to a compact latent (f = 4 by default), and the
// implicit decoder D — the mirror of the LDM decoder with no up-sampling
// layers, followed by a LIIF head — that renders a latent at any output
// size.
//
// The default design adds a global skip (Config.GlobalSkip): the first
// three latent channels are the area down-sample of the image plus a
// learned residual, and the decoder adds its LIIF output to a bicubic
// interpolation of those channels. Training starts from a decent
// down-sample/up-sample pair and learns only what bicubic misses. With
// GlobalSkip off the network is the paper's, unchanged.
//
// The shipped model puts the LIIF head directly on the latent
// (Config.MLPOnly): with the skip, the convolutional decoder stalls
// training under every recipe we measured (models/README.md), while the
// head on the latent learns quickly. The full decoder stays one switch
// away.
package autoencoder

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/nn"
)

// Config is the architecture, stored with the weights.
type Config struct {
	Channels     int   `json:"channels" opt:"channels" help:"base width of the first level"`
	ChMult       []int `json:"ch_mult" opt:"ch-mult" help:"width multiplier per level (len-1 down-samplings)"`
	NumResBlocks int   `json:"num_res_blocks" opt:"num-res" help:"residual blocks per level"`
	LatentCh     int   `json:"latent_channels" opt:"latent" help:"latent channels"`
	Attention    bool  `json:"attention" opt:"attention" help:"self-attention in the middle blocks"`
	MLP          []int `json:"mlp" opt:"mlp" help:"LIIF MLP hidden widths"`
	Unfold       bool  `json:"unfold" opt:"unfold" help:"LIIF 3x3 feature unfolding"`
	GlobalSkip   bool  `json:"global_skip" opt:"global-skip" help:"area-down / bicubic-up skip (false: the paper's network exactly; see the package doc)"`
	MLPOnly      bool  `json:"mlp_only" opt:"mlp-only" help:"LIIF head directly on the latent (false: add the convolutional decoder, the paper's full implicit decoder)"`
	QueryBatch   int   `json:"query_batch"` // queries per MLP batch when decoding (memory bound)
	// RandomResidual starts the skip design's learned parts (the encoder's
	// last layer and the LIIF output layer) from random weights instead of
	// zero, so training does not start exactly at resampling.
	RandomResidual bool `json:"random_residual,omitempty" opt:"random-residual" help:"start the skip design's residual layers from random weights, not zero"`
}

// DefaultConfig is the shipped architecture: see the model card for why.
func DefaultConfig() Config {
	return Config{Channels: 64, ChMult: []int{1, 2, 2}, NumResBlocks: 1, LatentCh: 16, Attention: false,
		MLP: []int{128, 128, 128}, GlobalSkip: true, MLPOnly: true, QueryBatch: 65536}
}

// Factor is the spatial down-sampling factor of the encoder.
func (c Config) Factor() int { return 1 << (len(c.ChMult) - 1) }

// Check rejects configurations the networks cannot be built from, naming
// every bad field (by its JSON name, with the --set name in brackets where
// it differs) and what is wrong with it.
func (c Config) Check() error {
	var bad []string
	if c.Channels < 1 {
		bad = append(bad, fmt.Sprintf("channels %d: want at least 1", c.Channels))
	}
	if len(c.ChMult) == 0 {
		bad = append(bad, "ch_mult (ch-mult) is empty: want a width multiplier per level, e.g. 1,2,2")
	} else if slices.ContainsFunc(c.ChMult, func(m int) bool { return m < 1 }) {
		bad = append(bad, fmt.Sprintf("ch_mult (ch-mult) %v: want every multiplier at least 1", c.ChMult))
	}
	if c.NumResBlocks < 0 {
		bad = append(bad, fmt.Sprintf("num_res_blocks (num-res) %d: want 0 or more", c.NumResBlocks))
	}
	switch {
	case c.GlobalSkip && c.LatentCh < 3:
		bad = append(bad, fmt.Sprintf("latent_channels (latent) %d: the global skip needs at least 3", c.LatentCh))
	case c.LatentCh < 1:
		bad = append(bad, fmt.Sprintf("latent_channels (latent) %d: want at least 1", c.LatentCh))
	}
	if len(c.MLP) == 0 {
		bad = append(bad, "mlp is empty: want the LIIF MLP's hidden widths, e.g. 128,128,128")
	} else if slices.ContainsFunc(c.MLP, func(w int) bool { return w < 1 }) {
		// A width of 0 is not caught by the layers themselves: it panics in
		// the first matrix multiply.
		bad = append(bad, fmt.Sprintf("mlp %v: want every width at least 1", c.MLP))
	}
	if len(bad) > 0 {
		return fmt.Errorf("autoencoder config: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Model is the encoder and the implicit decoder.
type Model struct {
	Config Config
	Params *nn.Params

	// Encoder.
	encIn   *nn.Conv
	encRes  [][]*nn.ResBlock
	encDown []*nn.Conv
	encMid  [2]*nn.ResBlock
	encAttn *nn.AttnBlock
	encNorm *nn.GroupNorm
	encOut  *nn.Conv
	quant   *nn.Conv // 1×1 to the latent

	// Implicit decoder.
	postQuant *nn.Conv
	decIn     *nn.Conv
	decMid    [2]*nn.ResBlock
	decAttn   *nn.AttnBlock
	decRes    [][]*nn.ResBlock
	mlp       []*nn.Linear
}

// New builds a model with freshly initialised weights.
func New(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	m := &Model{Config: cfg, Params: p}
	c := cfg.Channels
	top := c * cfg.ChMult[len(cfg.ChMult)-1]

	e := p.Sub("enc")
	m.encIn = nn.NewConv(e, "conv_in", 3, 3, c, 1, false)
	width := c
	for lvl, mult := range cfg.ChMult {
		var blocks []*nn.ResBlock
		for i := 0; i < cfg.NumResBlocks; i++ {
			blocks = append(blocks, nn.NewResBlock(e, fmt.Sprintf("down%d.res%d", lvl, i), width, c*mult, 0))
			width = c * mult
		}
		m.encRes = append(m.encRes, blocks)
		if lvl < len(cfg.ChMult)-1 {
			m.encDown = append(m.encDown, nn.NewConv(e, fmt.Sprintf("down%d.downsample", lvl), 3, width, width, 2, false))
		}
	}
	m.encMid[0] = nn.NewResBlock(e, "mid.res0", width, width, 0)
	if cfg.Attention {
		m.encAttn = nn.NewAttnBlock(e, "mid.attn", width, 1)
	}
	m.encMid[1] = nn.NewResBlock(e, "mid.res1", width, width, 0)
	m.encNorm = nn.NewGroupNorm(e, "norm_out", width)
	m.encOut = nn.NewConv(e, "conv_out", 3, width, cfg.LatentCh, 1, false)
	// With the skip, the learned residual starts at zero through the last
	// (1×1) layer only: zeroing conv_out as well would zero both factors of
	// each other's gradient and the encoder would never learn.
	m.quant = nn.NewConv(e, "quant", 1, cfg.LatentCh, cfg.LatentCh, 1, cfg.GlobalSkip && !cfg.RandomResidual)

	d := p.Sub("dec")
	feat := cfg.LatentCh
	if !cfg.MLPOnly {
		m.postQuant = nn.NewConv(d, "post_quant", 1, cfg.LatentCh, cfg.LatentCh, 1, false)
		m.decIn = nn.NewConv(d, "conv_in", 3, cfg.LatentCh, top, 1, false)
		m.decMid[0] = nn.NewResBlock(d, "mid.res0", top, top, 0)
		if cfg.Attention {
			m.decAttn = nn.NewAttnBlock(d, "mid.attn", top, 1)
		}
		m.decMid[1] = nn.NewResBlock(d, "mid.res1", top, top, 0)
		width = top
		for lvl := len(cfg.ChMult) - 1; lvl >= 0; lvl-- {
			var blocks []*nn.ResBlock
			for i := 0; i < cfg.NumResBlocks+1; i++ {
				blocks = append(blocks, nn.NewResBlock(d, fmt.Sprintf("up%d.res%d", lvl, i), width, c*cfg.ChMult[lvl], 0))
				width = c * cfg.ChMult[lvl]
			}
			m.decRes = append(m.decRes, blocks)
		}
		feat = width
	}
	if cfg.Unfold {
		feat *= 9
	}
	in := feat + 4 // + relative coordinate (2) + cell size (2)
	for i, hid := range cfg.MLP {
		m.mlp = append(m.mlp, nn.NewLinear(d, fmt.Sprintf("liif.fc%d", i), in, hid, false))
		in = hid
	}
	// With the skip, the head starts at zero so step 0 is exactly the
	// bicubic reconstruction.
	m.mlp = append(m.mlp, nn.NewLinear(d, fmt.Sprintf("liif.fc%d", len(cfg.MLP)), in, 3, cfg.GlobalSkip && !cfg.RandomResidual))
	return m, nil
}

// DecoderParams returns the implicit decoder's parameter tensors, the ones
// decoder-only training updates.
func (m *Model) DecoderParams() []*tensor.Tensor {
	var ts []*tensor.Tensor
	for _, q := range m.Params.List() {
		if strings.HasPrefix(q.Name, "dec.") {
			ts = append(ts, q.T)
		}
	}
	return ts
}

// Encode maps images x [N,H,W,3] (values in [0,1], H and W multiples of the
// factor) to latents [N,H/f,W/f,LatentCh].
func (m *Model) Encode(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	h := m.encIn.Forward(tp, x)
	for lvl, blocks := range m.encRes {
		for _, b := range blocks {
			h = b.Forward(tp, h, nil)
		}
		if lvl < len(m.encDown) {
			h = m.encDown[lvl].Forward(tp, h)
		}
	}
	h = m.encMid[0].Forward(tp, h, nil)
	if m.encAttn != nil {
		h = m.encAttn.Forward(tp, h)
	}
	h = m.encMid[1].Forward(tp, h, nil)
	h = m.encOut.Forward(tp, m.encNorm.ForwardSiLU(tp, h))
	z := m.quant.Forward(tp, h)
	if m.Config.GlobalSkip {
		z = tp.Add(z, m.skipLatent(tp, x))
	}
	return z
}

// skipLatent is the area down-sample of x in the first three channels and
// zeros in the rest.
func (m *Model) skipLatent(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	a := x
	for i := 1; i < m.Config.Factor(); i *= 2 {
		a = tp.AvgPool2(a)
	}
	if extra := m.Config.LatentCh - 3; extra > 0 {
		a = tp.Concat(a, tensor.New(a.Shape[0], a.Shape[1], a.Shape[2], extra))
	}
	return a
}

// Features runs the decoder's convolutional part on z: the feature map F
// that the LIIF head queries, at the latent's resolution.
func (m *Model) Features(tp *tensor.Tape, z *tensor.Tensor) *tensor.Tensor {
	var f *tensor.Tensor
	if m.Config.MLPOnly {
		f = z
	} else {
		h := m.decIn.Forward(tp, m.postQuant.Forward(tp, z))
		h = m.decMid[0].Forward(tp, h, nil)
		if m.decAttn != nil {
			h = m.decAttn.Forward(tp, h)
		}
		h = m.decMid[1].Forward(tp, h, nil)
		for _, blocks := range m.decRes {
			for _, b := range blocks {
				h = b.Forward(tp, h, nil)
			}
		}
		f = h
	}
	if m.Config.Unfold {
		f = unfold3(tp, f)
	}
	return f
}

// unfold3 concatenates each pixel's 3×3 neighbourhood (zero padded), LIIF's
// feature unfolding, built from padding and shifted slices.
func unfold3(tp *tensor.Tape, f *tensor.Tensor) *tensor.Tensor {
	h, w := f.Shape[1], f.Shape[2]
	p := tp.Pad(f, 1, 1, 1, 1)
	var parts []*tensor.Tensor
	for dy := 0; dy < 3; dy++ {
		for dx := 0; dx < 3; dx++ {
			parts = append(parts, tp.Crop(p, dy, dx, h, w))
		}
	}
	return tp.Concat(parts...)
}

// Query renders RGB at query points: z is the latent, f its features (from
// Features), ys/xs the LIIF coordinates of the queries (len/N per image),
// cellH/cellW the output pixel size in the same units (2/outH, 2/outW).
// The result is [Q, 3].
func (m *Model) Query(tp *tensor.Tape, z, f *tensor.Tensor, ys, xs []float32, cellH, cellW float32) *tensor.Tensor {
	n, h, w := f.Shape[0], f.Shape[1], f.Shape[2]
	ens := implicit.LocalEnsemble(n, h, w, ys, xs, cellH, cellW)
	pred := implicit.Query(tp, m.mlp, ens, func(idx []int32) *tensor.Tensor { return tp.Gather(f, idx) })
	if m.Config.GlobalSkip {
		pred = tp.Add(pred, tp.SampleBicubic(tp.Slice(z, 0, 3), ys, xs))
	}
	return pred
}
