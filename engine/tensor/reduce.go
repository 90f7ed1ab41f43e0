package tensor

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// reduceBlock is the fixed block length of the reductions. Partial sums are
// formed per block and then added in block order, so a loss is the same
// bit for bit however many goroutines computed it.
const reduceBlock = 1 << 14

// reduceSum64 returns Σ part(lo, hi) over fixed blocks covering [0, n),
// each part accumulated in float64 by the caller.
func reduceSum64(n int, part func(lo, hi int) float64) float64 {
	blocks := (n + reduceBlock - 1) / reduceBlock
	partial := make([]float64, blocks)
	par.For(blocks, max(1, grainElems/reduceBlock), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			partial[b] = part(b*reduceBlock, min((b+1)*reduceBlock, n))
		}
	})
	var s float64
	for _, v := range partial {
		s += v
	}
	return s
}

// Sum returns the sum of all elements as a tensor of shape [1]. It
// accumulates in float64: a float32 running sum over a large image loses the
// small terms.
func (tp *Tape) Sum(x *Tensor) *Tensor { return tp.scaledSum(x, 1) }

// Mean returns the mean of all elements as a tensor of shape [1].
func (tp *Tape) Mean(x *Tensor) *Tensor {
	if x.Len() == 0 {
		panic("tensor.Mean: empty tensor")
	}
	return tp.scaledSum(x, 1/float64(x.Len()))
}

func (tp *Tape) scaledSum(x *Tensor, scale float64) *Tensor {
	s := reduceSum64(x.Len(), func(lo, hi int) float64 {
		var a float64
		for _, v := range x.Data[lo:hi] {
			a += float64(v)
		}
		return a
	})
	out := tp.newOut([]int{1}, x)
	out.Data[0] = float32(s * scale)
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		g := float32(float64(out.Grad[0]) * scale)
		gx := tp.grad(x)
		par.For(len(gx), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gx[i] += g
			}
		})
	})
	return out
}

// L1Loss returns mean |pred − target| as a tensor of shape [1], the
// reconstruction loss of the auto-encoder and the LIIF decoder. target may
// be a constant (no gradient) or tracked; the shapes must match. The
// subgradient at pred = target is 0.
func (tp *Tape) L1Loss(pred, target *Tensor) *Tensor {
	return tp.pairLoss("L1Loss", pred, target, false)
}

// MSELoss returns mean (pred − target)² as a tensor of shape [1], the
// diffusion (noise-prediction) loss. target may be a constant or tracked;
// the shapes must match.
func (tp *Tape) MSELoss(pred, target *Tensor) *Tensor {
	return tp.pairLoss("MSELoss", pred, target, true)
}

func (tp *Tape) pairLoss(op string, pred, target *Tensor, squared bool) *Tensor {
	if !SameShape(pred.Shape, target.Shape) {
		panic(fmt.Sprintf("tensor.%s: shapes %v and %v differ", op, pred.Shape, target.Shape))
	}
	n := pred.Len()
	if n == 0 {
		panic("tensor." + op + ": empty tensors")
	}
	p, t := pred.Data, target.Data
	s := reduceSum64(n, func(lo, hi int) float64 {
		var a float64
		for i := lo; i < hi; i++ {
			d := float64(p[i]) - float64(t[i])
			if squared {
				a += d * d
			} else if d < 0 {
				a -= d
			} else {
				a += d
			}
		}
		return a
	})
	out := tp.newOut([]int{1}, pred, target)
	out.Data[0] = float32(s / float64(n))
	tp.record(out, func() {
		if out.Grad == nil {
			return
		}
		// d/dp of mean: sign(d)/n for L1, 2d/n for MSE; d/dt is its negative.
		g := out.Grad[0] / float32(n)
		if squared {
			g *= 2
		}
		for k, x := range [2]*Tensor{pred, target} {
			if !x.requiresGrad {
				continue
			}
			gx, sg := tp.grad(x), g
			if k == 1 {
				sg = -g
			}
			par.For(n, grainElems, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					d := p[i] - t[i]
					switch {
					case squared:
						gx[i] += sg * d
					case d > 0:
						gx[i] += sg
					case d < 0:
						gx[i] -= sg
					}
				}
			})
		}
	})
	return out
}
