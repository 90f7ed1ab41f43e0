package diffusion

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/nn"
)

// CondKind identifies condition-network files.
const CondKind = "cond"

// CondConfig is a condition network's architecture and the latent space
// it predicts in, stored with its weights.
type CondConfig struct {
	// Channels is the width of the hidden layers.
	Channels int `json:"channels" opt:"channels" help:"hidden width of the condition network"`
	// Blocks is the number of residual blocks (two 3×3 convolutions each).
	Blocks int `json:"blocks" opt:"blocks" help:"residual blocks of the condition network (two 3x3 convolutions each)"`
	// LatentCh is the latent's channel count.
	LatentCh int `json:"latent_channels"`
	// Space is SR.ConditionSpace of the models the network stands in for:
	// their encoder, nearest-up factor and latent normalisation.
	Space string `json:"space"`
}

// DefaultCondConfig is the shipped network's shape: 64 channels and four
// residual blocks (306 k weights, about 0.3 M multiply-adds an input
// pixel against the encoder's 3.3 M at ×4).
func DefaultCondConfig() CondConfig { return CondConfig{Channels: 64, Blocks: 4} }

// Check refuses configs no network can have, or far beyond any trained
// here, so that a corrupt file cannot make the loader allocate gigabytes
// before the weights' shapes are checked (at most 16 blocks of 256
// channels: 19 M weights).
func (c CondConfig) Check() error {
	if c.Channels < 1 || c.Channels > 256 || c.Blocks < 0 || c.Blocks > 16 || c.LatentCh < 3 || c.LatentCh > 256 {
		return fmt.Errorf("condition network config %+v out of range", c)
	}
	return nil
}

// Reach is how far, in input pixels, an output pixel of the network sees:
// one pixel per 3×3 convolution. Windows encoded with this much context
// on every side give exactly the whole image's answer.
func (c CondConfig) Reach() int { return 2*c.Blocks + 2 }

// CondNet computes an SR model's condition at the input's size. The
// condition is the encoder's latent of the input nearest-up-sampled by
// Config.Scale; at ×4 with f = 4 that spends 3.3 M multiply-adds per input
// pixel, most of a large upscale's time, on an image that holds no more
// than the input. CondNet is a small local network on the input itself,
// trained (TrainCondNet) to predict what the encoder adds to its global
// skip, in the normalised latent: the condition is then
//
//	(skip − shift)·scale + CondNet(input − ½)
//
// with the skip (the input in the first three channels, 0 elsewhere) exact.
// It has no normalisation layer, so its answer does not depend on how an
// image is cut into windows. Sampling uses it where a model has one
// (SR.Cond) unless SampleOptions.ExactCondition asks for the encoder;
// training always encodes exactly.
type CondNet struct {
	Config CondConfig
	Params *nn.Params
	in     *nn.Conv
	blocks [][2]*nn.Conv
	out    *nn.Conv
}

// NewCondNet builds a freshly initialised network; its output layer
// starts at zero, so a new network's condition is the skip alone.
func NewCondNet(cfg CondConfig, seed uint64) (*CondNet, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	n := &CondNet{Config: cfg, Params: p}
	c := cfg.Channels
	n.in = nn.NewConv(p, "conv_in", 3, 3, c, 1, false)
	for i := range cfg.Blocks {
		n.blocks = append(n.blocks, [2]*nn.Conv{
			nn.NewConv(p, fmt.Sprintf("res%d.conv1", i), 3, c, c, 1, false),
			nn.NewConv(p, fmt.Sprintf("res%d.conv2", i), 3, c, c, 1, false),
		})
	}
	n.out = nn.NewConv(p, "conv_out", 3, c, cfg.LatentCh, 1, true)
	return n, nil
}

// Forward maps input images x [N,h,w,3] (values in [0,1]) to the learned
// part of the normalised condition [N,h,w,LatentCh].
func (n *CondNet) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	h := n.in.Forward(tp, tp.AffineScalar(x, 1, -0.5))
	for _, b := range n.blocks {
		h = tp.Add(h, b[1].Forward(tp, tp.SiLU(b[0].Forward(tp, tp.SiLU(h)))))
	}
	return n.out.Forward(tp, tp.SiLU(h))
}

// Save writes the network to path atomically, in float16 when half is set.
func (n *CondNet) Save(path string, half bool, card map[string]string) error {
	dt := safetensors.F32
	if half {
		dt = safetensors.F16
	}
	return checkpoint.Save(path, CondKind, n.Config, n.Params.List(), card, dt)
}

// LoadCondNet reads a condition network written by Save.
func LoadCondNet(path string) (*CondNet, error) {
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	return condFromCheckpoint(c)
}

// LoadCondNetBytes reads a condition network held in memory; source names
// it in errors.
func LoadCondNetBytes(source string, b []byte) (*CondNet, error) {
	c, err := checkpoint.OpenBytes(source, b)
	if err != nil {
		return nil, err
	}
	return condFromCheckpoint(c)
}

func condFromCheckpoint(c *checkpoint.Checkpoint) (*CondNet, error) {
	return checkpoint.Rebuild(c, CondKind, func(cfg CondConfig) (*CondNet, []checkpoint.Named, error) {
		n, err := NewCondNet(cfg, 0)
		if err != nil {
			return nil, nil, err
		}
		return n, n.Params.List(), nil
	})
}

// ConditionSpace names what a model's condition is, as a hash: the
// encoder's weights, the nearest-up factor and the latent normalisation.
// Models that share it (a model, its students, its fine-tunes with the
// encoder frozen) can share a condition network.
func (s *SR) ConditionSpace() string {
	h := sha256.New()
	var buf []byte
	put := func(vs ...float32) {
		buf = buf[:0]
		for _, v := range vs {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	fmt.Fprintf(h, "scale %d factor %d latent %d\n", s.Config.Scale, s.AE.Config.Factor(), s.AE.Config.LatentCh)
	for i := range s.Config.LatentShift {
		put(s.Config.LatentShift[i], s.Config.LatentScale[i])
	}
	for _, p := range s.AE.Params.List() {
		if strings.HasPrefix(p.Name, "enc.") {
			fmt.Fprintf(h, "%s %v\n", p.Name, p.T.Shape)
			put(p.T.Data...)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CheckCondNet reports whether n can stand in for s's encoder: a network
// trained in s's condition space, for a model it fits (condNetFits).
func (s *SR) CheckCondNet(n *CondNet) error {
	if n == nil {
		return errors.New("condition network: none")
	}
	if err := s.condNetFits(); err != nil {
		return err
	}
	switch {
	case n.Config.LatentCh != s.AE.Config.LatentCh:
		return fmt.Errorf("condition network: %d latent channels for a model of %d", n.Config.LatentCh, s.AE.Config.LatentCh)
	case n.Config.Space != s.ConditionSpace():
		return fmt.Errorf("condition network: trained for condition space %s, the model's is %s (another encoder or latent normalisation)", n.Config.Space, s.ConditionSpace())
	}
	return nil
}

// condNetFits reports whether s's condition can be computed by a CondNet:
// s must be an SR model whose latent has the input's size (Scale equal to
// the auto-encoder's factor) and whose encoder has the global skip the
// network adds to.
func (s *SR) condNetFits() error {
	if s.Config.Generator || s.Config.upFactor() != 1 || !s.AE.Config.GlobalSkip {
		return fmt.Errorf("condition network: needs an SR model whose latent has the input's size and an encoder with the global skip (this one: scale %d, factor %d, skip %v)",
			s.Config.Scale, s.AE.Config.Factor(), s.AE.Config.GlobalSkip)
	}
	return nil
}

// SetCondNet makes s compute its sampling condition with n (see CondNet);
// nil goes back to the exact encoder.
func (s *SR) SetCondNet(n *CondNet) error {
	if n != nil {
		if err := s.CheckCondNet(n); err != nil {
			return err
		}
	}
	s.Cond = n
	return nil
}

// condFromNet is the normalised condition of input images x [N,h,w,3]
// computed by the condition network: the normalised skip plus the
// network's output.
func (s *SR) condFromNet(x *tensor.Tensor) *tensor.Tensor {
	g := s.Cond.Forward(nil, x)
	s.addSkip(g.Data, x.Data, 1)
	return g
}

// addSkip adds sign times the normalised global skip of images pix (the
// pixels themselves in the first three channels, 0 in the rest) to dst, a
// normalised latent of the same size.
func (s *SR) addSkip(dst, pix []float32, sign float32) {
	sh, sc := s.Config.LatentShift, s.Config.LatentScale
	c := len(sh)
	for i := range len(pix) / 3 {
		d := dst[i*c : (i+1)*c]
		for ch := range c {
			v := float32(0)
			if ch < 3 {
				v = pix[i*3+ch]
			}
			d[ch] += sign * (v - sh[ch]) * sc[ch]
		}
	}
}
