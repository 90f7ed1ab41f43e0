package tensor

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
)

// Softmax normalises x over its last axis.
func (tp *Tape) Softmax(x *Tensor) *Tensor {
	c := x.Dim(-1)
	out := tp.newOut(x.Shape, x)
	par.For(x.Len()/c, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			vmath.Softmax(out.Data[r*c:(r+1)*c], x.Data[r*c:(r+1)*c])
		}
	})
	tp.record(out, func() {
		gx := tp.grad(x)
		par.For(x.Len()/c, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				softmaxBackRow(gx[r*c:(r+1)*c], out.Grad[r*c:(r+1)*c], out.Data[r*c:(r+1)*c], 1)
			}
		})
	})
	return out
}

// softmaxBackRow adds scale·(p ⊙ (dp − Σ dp·p)) to dx: the gradient of a
// softmax row p with incoming gradient dp.
func softmaxBackRow(dx, dp, p []float32, scale float32) {
	var dot float32
	for i, v := range p {
		dot += v * dp[i]
	}
	for i, v := range p {
		dx[i] += scale * v * (dp[i] - dot)
	}
}

// Attention is multi-head scaled-dot-product attention,
// softmax(Q·Kᵀ/√d)·V, for q, k, v [N, L…, C] (any number of middle axes,
// flattened to L tokens) split into heads of d = C/heads channels. Heads
// are read in place with a row stride of C, so no transposes are made.
func (tp *Tape) Attention(q, k, v *Tensor, heads int) *Tensor {
	if !SameShape(q.Shape, k.Shape) || !SameShape(q.Shape, v.Shape) || len(q.Shape) < 3 {
		panic(fmt.Sprintf("tensor.Attention: q %v, k %v, v %v must share one [N,L,C] shape", q.Shape, k.Shape, v.Shape))
	}
	n, c := q.Shape[0], q.Dim(-1)
	if heads < 1 || c%heads != 0 {
		panic(fmt.Sprintf("tensor.Attention: %d channels do not split into %d heads", c, heads))
	}
	l := q.Len() / (n * c)
	d := c / heads
	scale := float32(1 / math.Sqrt(float64(d)))
	out := tp.newOut(q.Shape, q, k, v)
	probs := tp.scratch(n * heads * l * l)
	gemm := gemmFor(n * heads)
	off := func(i int) int { return (i/heads)*l*c + (i%heads)*d }
	gemmBatch(n*heads, func(i int) {
		p := probs[i*l*l : (i+1)*l*l]
		o := off(i)
		gemm(false, true, l, l, d, scale, q.Data[o:], c, k.Data[o:], c, 0, p, l)
		for r := 0; r < l; r++ {
			vmath.Softmax(p[r*l:(r+1)*l], p[r*l:(r+1)*l])
		}
		gemm(false, false, l, d, l, 1, p, l, v.Data[o:], c, 0, out.Data[o:], c)
	})
	tp.record(out, func() {
		dout := out.Grad
		var gq, gk, gv []float32
		if q.requiresGrad {
			gq = tp.grad(q)
		}
		if k.requiresGrad {
			gk = tp.grad(k)
		}
		if v.requiresGrad {
			gv = tp.grad(v)
		}
		dScores := tp.scratch(n * heads * l * l)
		gemmBatch(n*heads, func(i int) {
			p := probs[i*l*l : (i+1)*l*l]
			ds := dScores[i*l*l : (i+1)*l*l]
			o := off(i)
			dp := make([]float32, l)
			if gv != nil {
				gemm(true, false, l, d, l, 1, p, l, dout[o:], c, 1, gv[o:], c)
			}
			// dP = dO·Vᵀ, then through the softmax (and the 1/√d scale).
			gemm(false, true, l, l, d, 1, dout[o:], c, v.Data[o:], c, 0, ds, l)
			for r := 0; r < l; r++ {
				row := ds[r*l : (r+1)*l]
				copy(dp, row)
				clear(row)
				softmaxBackRow(row, dp, p[r*l:(r+1)*l], scale)
			}
			if gq != nil {
				gemm(false, false, l, d, l, 1, ds, l, k.Data[o:], c, 1, gq[o:], c)
			}
			if gk != nil {
				gemm(true, false, l, d, l, 1, ds, l, q.Data[o:], c, 1, gk[o:], c)
			}
		})
	})
	return out
}
