package diffusion

import (
	"fmt"
	"slices"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/nn"
)

// UNetConfig is the denoiser's architecture, stored with the weights.
type UNetConfig struct {
	InCh         int   `json:"in_channels"`  // z_t plus the conditioning latent
	OutCh        int   `json:"out_channels"` // predicted ε
	ModelCh      int   `json:"model_channels" opt:"model-ch" help:"U-Net base width"`
	ChMult       []int `json:"ch_mult" opt:"ch-mult" help:"U-Net width multiplier per level (len-1 down-samplings)"`
	NumResBlocks int   `json:"num_res_blocks" opt:"num-res" help:"U-Net residual blocks per level on the way down (one more on the way up)"`
	AttnDown     []int `json:"attn_downsample" opt:"attn" help:"down-sampling factors with self-attention (empty: none)"`
	Heads        int   `json:"heads" opt:"heads" help:"attention heads"`
	MidAttn      bool  `json:"mid_attention" opt:"mid-attn" help:"self-attention between the two middle blocks"`
	// Classes, above 0, makes the network class-conditional (a generator
	// of labelled data): a learned embedding of the class, 0 to Classes−1,
	// or Classes for "no class" (the unconditional prediction classifier-
	// free guidance needs), is added to the timestep embedding. It starts
	// at zero, so a generator given classes starts as the unconditional
	// model it was (see Generator.AddClasses).
	Classes int `json:"classes,omitempty"`
}

// DefaultUNet is the CPU-sized denoiser for latents with latentCh channels:
// widths 64/128/128 over a 16×16 training latent, attention at 8×8 and 4×4
// and in the middle.
func DefaultUNet(latentCh int) UNetConfig {
	return UNetConfig{InCh: 2 * latentCh, OutCh: latentCh, ModelCh: 64, ChMult: []int{1, 2, 2}, NumResBlocks: 1,
		AttnDown: []int{2, 4}, Heads: 4, MidAttn: true}
}

// Multiple is the factor the input's height and width must be multiples
// of: each down-sampling halves them.
func (c UNetConfig) Multiple() int { return 1 << (len(c.ChMult) - 1) }

// EmbDim is the width of the timestep embedding fed to every ResBlock.
func (c UNetConfig) EmbDim() int { return 4 * c.ModelCh }

// Check rejects configurations the network cannot be built from.
func (c UNetConfig) Check() error {
	switch {
	case c.InCh < 1 || c.OutCh < 1:
		return fmt.Errorf("unet config: in/out channels %d/%d", c.InCh, c.OutCh)
	case c.InCh > 1024 || c.OutCh > 1024:
		return fmt.Errorf("unet config: in/out channels %d/%d above 1024", c.InCh, c.OutCh)
	case c.ModelCh < 2 || c.ModelCh%2 != 0 || c.ModelCh > 1024:
		return fmt.Errorf("unet config: model_channels %d must be even, 2 to 1024 (sinusoidal embedding)", c.ModelCh)
	case len(c.ChMult) < 1 || len(c.ChMult) > 8:
		return fmt.Errorf("unet config: ch_mult %v must have 1 to 8 levels", c.ChMult)
	case c.NumResBlocks < 1 || c.NumResBlocks > 8:
		return fmt.Errorf("unet config: num_res_blocks %d outside [1, 8]", c.NumResBlocks)
	case c.Heads < 1:
		return fmt.Errorf("unet config: heads %d", c.Heads)
	case c.Classes < 0 || c.Classes > 10000:
		return fmt.Errorf("unet config: %d classes outside [0, 10000]", c.Classes)
	}
	// The bounds keep a corrupt or hostile model file from asking for
	// gigabytes of weights before the shape check could reject it.
	for _, m := range c.ChMult {
		if m < 1 || m > 16 || (c.ModelCh*m)%c.Heads != 0 {
			return fmt.Errorf("unet config: ch_mult %v with %d channels: multipliers must be 1 to 16 and split into %d heads", c.ChMult, c.ModelCh, c.Heads)
		}
	}
	for _, d := range c.AttnDown {
		if d < 1 || d&(d-1) != 0 || d > c.Multiple() {
			return fmt.Errorf("unet config: attention at down-sampling %d: want a power of two up to %d", d, c.Multiple())
		}
	}
	return nil
}

// level is one resolution of the U-Net: its blocks, with the attention
// that follows each block (nil where the level has none).
type level struct {
	res  []*nn.ResBlock
	attn []*nn.AttnBlock
}

// UNet is the ADM/LDM-style denoiser: a timestep-embedding MLP, an input
// convolution, a down path of ResBlocks (self-attention at the chosen
// resolutions) and strided convolutions, a middle of ResBlock, attention,
// ResBlock, and an up path whose blocks take the down path's activations
// as skip connections, then GroupNorm, SiLU and a zero-initialised output
// convolution so a fresh network predicts ε̂ = 0.
type UNet struct {
	Config UNetConfig
	Params *nn.Params

	temb1, temb2 *nn.Linear
	convIn       *nn.Conv
	down         []level
	downsample   []*nn.Conv
	mid          [2]*nn.ResBlock
	midAttn      *nn.AttnBlock
	up           []level // deepest first
	upsample     []*nn.Conv
	normOut      *nn.GroupNorm
	convOut      *nn.Conv
	classEmb     *nn.Linear // one-hot class (Classes+1 wide) to the embedding; nil without classes
}

// NewUNet builds a denoiser with weights initialised from seed.
func NewUNet(cfg UNetConfig, seed uint64) (*UNet, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	u := &UNet{Config: cfg, Params: p}
	c, emb := cfg.ModelCh, cfg.EmbDim()
	u.temb1 = nn.NewLinear(p, "time.fc0", c, emb, false)
	u.temb2 = nn.NewLinear(p, "time.fc1", emb, emb, false)
	u.convIn = nn.NewConv(p, "conv_in", 3, cfg.InCh, c, 1, false)

	// skips records the width of every activation the down path hands to
	// the up path, in order.
	skips := []int{c}
	width := c
	for lvl, mult := range cfg.ChMult {
		var l level
		attn := slices.Contains(cfg.AttnDown, 1<<lvl)
		for i := 0; i < cfg.NumResBlocks; i++ {
			name := fmt.Sprintf("down%d.res%d", lvl, i)
			l.res = append(l.res, nn.NewResBlock(p, name, width, c*mult, emb))
			width = c * mult
			l.attn = append(l.attn, u.attnIf(p, attn, fmt.Sprintf("down%d.attn%d", lvl, i), width))
			skips = append(skips, width)
		}
		u.down = append(u.down, l)
		if lvl < len(cfg.ChMult)-1 {
			u.downsample = append(u.downsample, nn.NewConv(p, fmt.Sprintf("down%d.downsample", lvl), 3, width, width, 2, false))
			skips = append(skips, width)
		}
	}
	u.mid[0] = nn.NewResBlock(p, "mid.res0", width, width, emb)
	if cfg.MidAttn {
		u.midAttn = nn.NewAttnBlock(p, "mid.attn", width, cfg.Heads)
	}
	u.mid[1] = nn.NewResBlock(p, "mid.res1", width, width, emb)
	for lvl := len(cfg.ChMult) - 1; lvl >= 0; lvl-- {
		var l level
		attn := slices.Contains(cfg.AttnDown, 1<<lvl)
		out := c * cfg.ChMult[lvl]
		for i := 0; i < cfg.NumResBlocks+1; i++ {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			name := fmt.Sprintf("up%d.res%d", lvl, i)
			l.res = append(l.res, nn.NewResBlock(p, name, width+skip, out, emb))
			width = out
			l.attn = append(l.attn, u.attnIf(p, attn, fmt.Sprintf("up%d.attn%d", lvl, i), width))
		}
		u.up = append(u.up, l)
		if lvl > 0 {
			u.upsample = append(u.upsample, nn.NewConv(p, fmt.Sprintf("up%d.upsample", lvl), 3, width, width, 1, false))
		}
	}
	u.normOut = nn.NewGroupNorm(p, "norm_out", width)
	u.convOut = nn.NewConv(p, "conv_out", 3, width, cfg.OutCh, 1, true)
	if cfg.Classes > 0 {
		u.classEmb = nn.NewLinear(p, "class_emb", cfg.Classes+1, emb, true)
	}
	return u, nil
}

func (u *UNet) attnIf(p *nn.Params, on bool, name string, c int) *nn.AttnBlock {
	if !on {
		return nil
	}
	return nn.NewAttnBlock(p, name, c, u.Config.Heads)
}

// classGain multiplies the class embedding's output. With Adam, whose
// steps are the same size whatever a gradient's scale, a fixed gain g on
// a layer's output is a g-fold learning rate for that layer: the class
// embedding starts at zero in a generator fine-tuned from an
// unconditional one, and at that fine-tune's learning rate (1.5e-4) it
// had barely moved after 1,000 steps (11 % class accuracy on CIFAR-10).
const classGain = 10

// Forward predicts ε for x [N,H,W,InCh] (z_t and the condition,
// concatenated) at timesteps t (len N). H and W must be multiples of
// Config.Multiple(); CheckInput says so with an error. A class-conditional
// network predicts without a class; see ForwardClass.
func (u *UNet) Forward(tp *tensor.Tape, x *tensor.Tensor, t []float32) *tensor.Tensor {
	return u.ForwardClass(tp, x, t, nil)
}

// ForwardClass is Forward with a class per sample (len N, each in
// [0, Config.Classes], Classes meaning none) for a class-conditional
// network; nil labels are all "none". A network without classes ignores
// them.
func (u *UNet) ForwardClass(tp *tensor.Tape, x *tensor.Tensor, t []float32, labels []int) *tensor.Tensor {
	emb := u.temb2.Forward(tp, tp.SiLU(u.temb1.Forward(tp, timestepEmbedding(t, u.Config.ModelCh))))
	if u.classEmb != nil {
		k := u.Config.Classes + 1
		onehot := tensor.New(len(t), k)
		for i := range t {
			y := u.Config.Classes
			if labels != nil {
				y = labels[i]
			}
			onehot.Data[i*k+y] = 1
		}
		emb = tp.Add(emb, tp.Scale(u.classEmb.Forward(tp, onehot), classGain))
	}
	h := u.convIn.Forward(tp, x)
	hs := []*tensor.Tensor{h}
	for lvl, l := range u.down {
		for i, b := range l.res {
			h = b.Forward(tp, h, emb)
			if l.attn[i] != nil {
				h = l.attn[i].Forward(tp, h)
			}
			hs = append(hs, h)
		}
		if lvl < len(u.downsample) {
			h = u.downsample[lvl].Forward(tp, h)
			hs = append(hs, h)
		}
	}
	h = u.mid[0].Forward(tp, h, emb)
	if u.midAttn != nil {
		h = u.midAttn.Forward(tp, h)
	}
	h = u.mid[1].Forward(tp, h, emb)
	for k, l := range u.up {
		for i, b := range l.res {
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			h = b.Forward(tp, tp.Concat(h, skip), emb)
			if l.attn[i] != nil {
				h = l.attn[i].Forward(tp, h)
			}
		}
		if k < len(u.upsample) {
			h = u.upsample[k].Forward(tp, tp.ResizeNearest(h, 2*h.Shape[1], 2*h.Shape[2]))
		}
	}
	return u.convOut.Forward(tp, u.normOut.ForwardSiLU(tp, h))
}

// CheckInput reports why x [N,H,W,C] with len(t) timesteps cannot go
// through Forward, or nil when it can.
func (u *UNet) CheckInput(x *tensor.Tensor, t []float32) error {
	m := u.Config.Multiple()
	switch {
	case len(x.Shape) != 4 || x.Shape[3] != u.Config.InCh:
		return fmt.Errorf("unet input has shape %v, want [N H W %d]", x.Shape, u.Config.InCh)
	case x.Shape[0] < 1 || x.Shape[1] < m || x.Shape[2] < m || x.Shape[1]%m != 0 || x.Shape[2]%m != 0:
		return fmt.Errorf("unet input %v: height and width must be positive multiples of %d", x.Shape, m)
	case len(t) != x.Shape[0]:
		return fmt.Errorf("unet input: %d timesteps for a batch of %d", len(t), x.Shape[0])
	}
	return nil
}
