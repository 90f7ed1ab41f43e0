package tensor

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// lnBlockRows is how many rows each partial sum of LayerNorm's γ/β
// gradients covers. The partials are added in block order, so the result
// does not depend on how the blocks were spread over goroutines.
const lnBlockRows = 64

// LayerNorm normalises x over its last axis (C) to zero mean and unit
// variance (biased, as PyTorch's), then applies y = x̂·γ + β with γ, β of
// shape [C]. gamma and beta may each be nil for no scale / no shift. It is
// the normalisation of the transformer blocks in the U-Net's attention.
func (tp *Tape) LayerNorm(x, gamma, beta *Tensor, eps float32) *Tensor {
	if len(x.Shape) == 0 {
		panic("tensor.LayerNorm: scalar input")
	}
	c := x.Shape[len(x.Shape)-1]
	for _, p := range []*Tensor{gamma, beta} {
		if p != nil && (len(p.Shape) != 1 || p.Shape[0] != c) {
			panic(fmt.Sprintf("tensor.LayerNorm: affine parameter %v for %d channels", p.Shape, c))
		}
	}
	if c == 0 {
		panic("tensor.LayerNorm: zero channels")
	}
	rows := x.Len() / c
	out := tp.newOut(x.Shape, x, gamma, beta)
	// Per-row mean and 1/σ, kept for the backward step.
	stats := tp.scratch(2 * rows)
	grain := shapeRowGrain(c)
	par.For(rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x.Data[r*c : (r+1)*c]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			mean := s / float64(c)
			var ss float64
			for _, v := range xr {
				d := float64(v) - mean
				ss += d * d
			}
			rstd := 1 / math.Sqrt(ss/float64(c)+float64(eps))
			stats[2*r], stats[2*r+1] = float32(mean), float32(rstd)
			m, rs := float32(mean), float32(rstd)
			yr := out.Data[r*c : (r+1)*c]
			for i, v := range xr {
				h := (v - m) * rs
				if gamma != nil {
					h *= gamma.Data[i]
				}
				if beta != nil {
					h += beta.Data[i]
				}
				yr[i] = h
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		if x.requiresGrad {
			gx := tp.grad(x)
			par.For(rows, grain, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					xr, gr := x.Data[r*c:(r+1)*c], g[r*c:(r+1)*c]
					m, rs := stats[2*r], stats[2*r+1]
					// With d = g·γ: dx = (d − mean(d) − x̂·mean(d·x̂))/σ.
					var sd, sdx float64
					for i, v := range xr {
						d := gr[i]
						if gamma != nil {
							d *= gamma.Data[i]
						}
						sd += float64(d)
						sdx += float64(d * (v - m) * rs)
					}
					md, mdx := float32(sd/float64(c)), float32(sdx/float64(c))
					dst := gx[r*c : (r+1)*c]
					for i, v := range xr {
						d := gr[i]
						if gamma != nil {
							d *= gamma.Data[i]
						}
						dst[i] += rs * (d - md - (v-m)*rs*mdx)
					}
				}
			})
		}
		needG := gamma != nil && gamma.requiresGrad
		needB := beta != nil && beta.requiresGrad
		if !needG && !needB {
			return
		}
		blocks := (rows + lnBlockRows - 1) / lnBlockRows
		// partial[b] holds block b's Σ g·x̂ in [0, c) and Σ g in [c, 2c).
		partial := tp.alloc(blocks * 2 * c)
		par.For(blocks, max(1, grain/lnBlockRows), func(lo, hi int) {
			for b := lo; b < hi; b++ {
				pg, pb := partial[b*2*c:b*2*c+c], partial[b*2*c+c:(b+1)*2*c]
				for r := b * lnBlockRows; r < min((b+1)*lnBlockRows, rows); r++ {
					xr, gr := x.Data[r*c:(r+1)*c], g[r*c:(r+1)*c]
					m, rs := stats[2*r], stats[2*r+1]
					for i, v := range gr {
						pg[i] += v * (xr[i] - m) * rs
						pb[i] += v
					}
				}
			}
		})
		var gg, gb []float32
		if needG {
			gg = tp.grad(gamma)
		}
		if needB {
			gb = tp.grad(beta)
		}
		for b := range blocks {
			pg, pb := partial[b*2*c:b*2*c+c], partial[b*2*c+c:(b+1)*2*c]
			for i := range c {
				if needG {
					gg[i] += pg[i]
				}
				if needB {
					gb[i] += pb[i]
				}
			}
		}
	})
	return out
}
