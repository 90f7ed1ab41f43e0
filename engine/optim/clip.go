package optim

import (
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// normBlock is the number of elements summed serially into one partial.
// Fixing the blocks, rather than letting par.For's worker split decide them,
// makes the norm bit-identical whatever the core count, so a run resumed on
// another machine clips exactly as the original would have.
const normBlock = 1 << 13

// Clipper measures and clips the global L2 norm of a fixed set of
// parameters' gradients. It keeps its scratch space between calls so
// clipping every step does not allocate.
type Clipper struct {
	flat
	partials []float64
	scale    float32
	sum      func(lo, hi int)
	mul      func(lo, hi int)
}

// NewClipper returns a Clipper for params, which must not be resized
// afterwards.
func NewClipper(params []*tensor.Tensor) *Clipper {
	c := &Clipper{flat: newFlat("NewClipper", params)}
	c.partials = make([]float64, (c.total()+normBlock-1)/normBlock)
	c.sum = c.sumBlocks
	c.mul = c.scaleRange
	return c
}

// Norm returns the L2 norm of all gradients together, accumulated in
// float64. Parameters with a nil Grad count as zero. The result is NaN or
// +Inf when any gradient is.
func (c *Clipper) Norm() float64 {
	c.checkGrads("Clipper.Norm")
	par.For(len(c.partials), max(1, grain/normBlock), c.sum)
	var s float64
	for _, p := range c.partials {
		s += p
	}
	return math.Sqrt(s)
}

// Clip scales all gradients by maxNorm/norm when their global norm exceeds
// maxNorm, and returns the norm measured before scaling. finite is false
// when the norm is NaN or Inf; the gradients are then left untouched so the
// caller can skip the step (a common symptom of a loss spike or of float16
// overflow) instead of writing NaN into every weight. A maxNorm that is not
// positive and finite disables the scaling, leaving only the measurement.
func (c *Clipper) Clip(maxNorm float64) (norm float64, finite bool) {
	norm = c.Norm()
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, false
	}
	if maxNorm > 0 && !math.IsInf(maxNorm, 1) && norm > maxNorm {
		c.scale = float32(maxNorm / norm)
		par.For(c.total(), grain, c.mul)
	}
	return norm, true
}

// ClipGradNorm is Clipper.Clip for a one-off call; a training loop should
// keep a Clipper instead, which does not allocate per call.
func ClipGradNorm(params []*tensor.Tensor, maxNorm float64) (norm float64, finite bool) {
	return NewClipper(params).Clip(maxNorm)
}

func (c *Clipper) sumBlocks(lo, hi int) {
	n := c.total()
	for b := lo; b < hi; b++ {
		start, end := b*normBlock, min((b+1)*normBlock, n)
		var s float64
		for k := c.first(start); start < end; k++ {
			e := min(end, c.offsets[k+1])
			if g := c.params[k].Grad; g != nil {
				for _, x := range g[start-c.offsets[k] : e-c.offsets[k]] {
					s += float64(x) * float64(x)
				}
			}
			start = e
		}
		c.partials[b] = s
	}
}

func (c *Clipper) scaleRange(lo, hi int) {
	s := c.scale
	for k := c.first(lo); lo < hi; k++ {
		end := min(hi, c.offsets[k+1])
		if g := c.params[k].Grad; g != nil {
			g = g[lo-c.offsets[k] : end-c.offsets[k]]
			for i := range g {
				g[i] *= s
			}
		}
		lo = end
	}
}
