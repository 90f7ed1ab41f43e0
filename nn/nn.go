// Package nn holds the layers the networks are assembled from (convolution,
// linear, group norm, residual and attention blocks) and the named
// parameter list that checkpoints save and optimisers update.
//
// A layer is a plain struct of parameter tensors with a Forward method that
// takes the tape; there is no module framework, so each network's structure
// reads top to bottom in its own file.
package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Param is a trainable tensor with its checkpoint name.
type Param = checkpoint.Named

// Params collects a network's parameters in creation order, under a
// hierarchical name prefix ("enc.down0.res0.conv1.w"), and initialises them
// from one seeded generator so a network is reproducible from its seed.
// Views made by Sub share the same list.
type Params struct {
	set    *paramSet
	prefix string
}

type paramSet struct {
	list  []Param
	rng   *rand.Rand
	names map[string]bool
}

// NewParams returns an empty collection whose initial values come from seed.
func NewParams(seed uint64) *Params {
	return &Params{set: &paramSet{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), names: map[string]bool{}}}
}

// Sub returns a view that adds name + "." to every parameter created through it.
func (p *Params) Sub(name string) *Params {
	return &Params{set: p.set, prefix: p.prefix + name + "."}
}

// List returns the parameters in creation order.
func (p *Params) List() []Param { return p.set.list }

// Tensors returns the parameter tensors in creation order.
func (p *Params) Tensors() []*tensor.Tensor {
	ts := make([]*tensor.Tensor, len(p.set.list))
	for i, q := range p.set.list {
		ts[i] = q.T
	}
	return ts
}

// Count is the number of scalar parameters.
func (p *Params) Count() int {
	n := 0
	for _, q := range p.set.list {
		n += q.T.Len()
	}
	return n
}

// New creates a parameter of the given shape, filled by init (nil: zeros).
func (p *Params) New(name string, init func(r *rand.Rand, data []float32), shape ...int) *tensor.Tensor {
	full := p.prefix + name
	if p.set.names[full] {
		panic("nn: parameter defined twice: " + full)
	}
	p.set.names[full] = true
	t := tensor.Param(shape...)
	if init != nil {
		init(p.set.rng, t.Data)
	}
	p.set.list = append(p.set.list, Param{Name: full, T: t})
	return t
}

// Uniform fills with U(−bound, bound): PyTorch's default for convolution
// and linear layers uses bound = 1/√fan_in.
func Uniform(bound float64) func(*rand.Rand, []float32) {
	return func(r *rand.Rand, d []float32) {
		for i := range d {
			d[i] = float32((2*r.Float64() - 1) * bound)
		}
	}
}

// Const fills with one value.
func Const(v float32) func(*rand.Rand, []float32) {
	return func(_ *rand.Rand, d []float32) {
		for i := range d {
			d[i] = v
		}
	}
}

// Conv is a 2-D convolution with weights [K,K,Cin,Cout] and bias [Cout].
type Conv struct {
	W, B        *tensor.Tensor
	Stride, Pad int
}

// NewConv makes a k×k convolution with "same" padding for odd k at stride 1.
// zeroInit starts it at zero, for residual branches that must begin as the
// identity.
func NewConv(p *Params, name string, k, cin, cout, stride int, zeroInit bool) *Conv {
	bound := 1 / math.Sqrt(float64(k*k*cin))
	init := Uniform(bound)
	if zeroInit {
		init = nil
	}
	q := p.Sub(name)
	return &Conv{
		W:      q.New("w", init, k, k, cin, cout),
		B:      q.New("b", init, cout),
		Stride: stride,
		Pad:    (k - 1) / 2,
	}
}

// Forward applies the convolution.
func (c *Conv) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	return tp.Conv2D(x, c.W, c.B, c.Stride, c.Pad)
}

// Linear is x·W + b over the last axis.
type Linear struct{ W, B *tensor.Tensor }

// NewLinear makes a linear layer; zeroInit starts it at zero.
func NewLinear(p *Params, name string, in, out int, zeroInit bool) *Linear {
	init := Uniform(1 / math.Sqrt(float64(in)))
	if zeroInit {
		init = nil
	}
	q := p.Sub(name)
	return &Linear{W: q.New("w", init, in, out), B: q.New("b", init, out)}
}

// Forward applies the layer.
func (l *Linear) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	return tp.Linear(x, l.W, l.B)
}

// GroupNorm normalises over channel groups with a learned affine.
type GroupNorm struct {
	Groups      int
	Gamma, Beta *tensor.Tensor
}

// NewGroupNorm uses 32 groups when the channels allow (as LDM does), else
// the largest divisor of c not above 32.
func NewGroupNorm(p *Params, name string, c int) *GroupNorm {
	g := min(32, c)
	for c%g != 0 {
		g--
	}
	q := p.Sub(name)
	return &GroupNorm{Groups: g, Gamma: q.New("gamma", Const(1), c), Beta: q.New("beta", nil, c)}
}

// Forward normalises x [N,H,W,C].
func (g *GroupNorm) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	return tp.GroupNorm(x, g.Groups, g.Gamma, g.Beta, 1e-6)
}

// ForwardSiLU is SiLU(Forward(x)), fused in inference.
func (g *GroupNorm) ForwardSiLU(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	return tp.GroupNormSiLU(x, g.Groups, g.Gamma, g.Beta, 1e-6)
}

// ResBlock is the LDM residual block: GroupNorm, SiLU, 3×3 conv, (plus a
// projected timestep embedding when the block has one), GroupNorm, SiLU,
// 3×3 conv, added to the input (through a 1×1 conv when widths differ).
// The second conv starts at zero so a new block is the identity.
type ResBlock struct {
	Norm1, Norm2 *GroupNorm
	Conv1, Conv2 *Conv
	Skip         *Conv   // nil when cin == cout
	Emb          *Linear // nil without a timestep embedding
}

// NewResBlock makes a block from cin to cout channels; embDim > 0 adds the
// timestep-embedding projection.
func NewResBlock(p *Params, name string, cin, cout, embDim int) *ResBlock {
	q := p.Sub(name)
	b := &ResBlock{
		Norm1: NewGroupNorm(q, "norm1", cin),
		Conv1: NewConv(q, "conv1", 3, cin, cout, 1, false),
		Norm2: NewGroupNorm(q, "norm2", cout),
		Conv2: NewConv(q, "conv2", 3, cout, cout, 1, true),
	}
	if cin != cout {
		b.Skip = NewConv(q, "skip", 1, cin, cout, 1, false)
	}
	if embDim > 0 {
		b.Emb = NewLinear(q, "emb", embDim, cout, false)
	}
	return b
}

// Forward runs the block; emb is [N, embDim] or nil.
func (b *ResBlock) Forward(tp *tensor.Tape, x, emb *tensor.Tensor) *tensor.Tensor {
	h := b.Conv1.Forward(tp, b.Norm1.ForwardSiLU(tp, x))
	if b.Emb != nil {
		if emb == nil {
			panic("nn.ResBlock: block expects a timestep embedding")
		}
		e := b.Emb.Forward(tp, tp.SiLU(emb))
		h = tp.Add(h, tp.Reshape(e, e.Shape[0], 1, 1, e.Shape[1]))
	}
	h = b.Conv2.Forward(tp, b.Norm2.ForwardSiLU(tp, h))
	skip := x
	if b.Skip != nil {
		skip = b.Skip.Forward(tp, x)
	}
	return tp.Add(skip, h)
}

// AttnBlock is single-head (or multi-head) self-attention over all pixels
// with a residual connection, as in the LDM auto-encoder and U-Net.
type AttnBlock struct {
	Norm    *GroupNorm
	Q, K, V *Linear
	Out     *Linear
	Heads   int
}

// NewAttnBlock makes an attention block over c channels.
func NewAttnBlock(p *Params, name string, c, heads int) *AttnBlock {
	q := p.Sub(name)
	return &AttnBlock{
		Norm:  NewGroupNorm(q, "norm", c),
		Q:     NewLinear(q, "q", c, c, false),
		K:     NewLinear(q, "k", c, c, false),
		V:     NewLinear(q, "v", c, c, false),
		Out:   NewLinear(q, "out", c, c, true),
		Heads: heads,
	}
}

// Forward runs the block on x [N,H,W,C].
func (a *AttnBlock) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	h := a.Norm.Forward(tp, x)
	att := tp.Attention(a.Q.Forward(tp, h), a.K.Forward(tp, h), a.V.Forward(tp, h), a.Heads)
	return tp.Add(x, a.Out.Forward(tp, att))
}

// CheckFinite checks that every parameter is finite, naming the first that is not.
func CheckFinite(ps []Param) error {
	for _, p := range ps {
		if !p.T.AllFinite() {
			return fmt.Errorf("parameter %s holds NaN or Inf", p.Name)
		}
	}
	return nil
}
