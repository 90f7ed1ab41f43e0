package liif

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/nn"
)

// EDSR is EDSR-baseline (Lim et al. 2017) without its up-sampler, the
// encoder LIIF uses: a 3×3 head convolution, residual blocks (3×3 conv,
// ReLU, 3×3 conv, added to the block's input; residual scale 1, no
// normalisation), a 3×3 convolution closing the body, and the global
// residual that adds the body's output to the head's. It keeps the
// input's resolution.
type EDSR struct {
	head   *nn.Conv
	blocks [][2]*nn.Conv
	tail   *nn.Conv
}

// NewEDSR adds an encoder from in to feats channels with the given number
// of residual blocks to p, initialised as PyTorch initialises convolutions.
func NewEDSR(p *nn.Params, in, feats, blocks int) *EDSR {
	e := &EDSR{head: nn.NewConv(p, "head", 3, in, feats, 1, false)}
	for i := range blocks {
		q := p.Sub(fmt.Sprintf("body%d", i))
		e.blocks = append(e.blocks, [2]*nn.Conv{
			nn.NewConv(q, "conv1", 3, feats, feats, 1, false),
			nn.NewConv(q, "conv2", 3, feats, feats, 1, false),
		})
	}
	e.tail = nn.NewConv(p, "body_out", 3, feats, feats, 1, false)
	return e
}

// Forward encodes x [N,H,W,in] to [N,H,W,feats].
func (e *EDSR) Forward(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	h := e.head.Forward(tp, x)
	r := h
	for _, b := range e.blocks {
		r = tp.Add(r, b[1].Forward(tp, tp.ReLU(b[0].Forward(tp, r))))
	}
	return tp.Add(h, e.tail.Forward(tp, r))
}
