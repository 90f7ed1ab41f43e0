package tensor

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
)

// GroupNorm normalises x [N,H,W,C] over each image's groups of C/groups
// consecutive channels (and all pixels), then applies the per-channel
// affine gamma, beta [C] (either may be nil for 1 and 0).
func (tp *Tape) GroupNorm(x *Tensor, groups int, gamma, beta *Tensor, eps float32) *Tensor {
	return tp.groupNorm(x, groups, gamma, beta, eps, false)
}

// GroupNormSiLU is SiLU(GroupNorm(x, …)), the pair that opens every
// residual block. Recording, it is those two ops; in inference (nil tape)
// it applies SiLU to each row as it is normalised, which saves a pass over
// the activation and a buffer the size of it.
func (tp *Tape) GroupNormSiLU(x *Tensor, groups int, gamma, beta *Tensor, eps float32) *Tensor {
	if tp != nil {
		return tp.SiLU(tp.groupNorm(x, groups, gamma, beta, eps, false))
	}
	return tp.groupNorm(x, groups, gamma, beta, eps, true)
}

func (tp *Tape) groupNorm(x *Tensor, groups int, gamma, beta *Tensor, eps float32, silu bool) *Tensor {
	if len(x.Shape) != 4 || groups < 1 || x.Shape[3]%groups != 0 {
		panic(fmt.Sprintf("tensor.GroupNorm: x %v with %d groups", x.Shape, groups))
	}
	n, c := x.Shape[0], x.Shape[3]
	hw := x.Shape[1] * x.Shape[2]
	cg := c / groups
	count := float64(hw * cg)
	out := tp.newOut(x.Shape, x, gamma, beta)

	// Per (image, group) statistics, summed in float64 over pixel ranges
	// that run in parallel and then merged. The sums run per channel (a
	// group is often two channels: a loop over a group would be all
	// overhead) and are folded into groups afterwards.
	mean := make([]float32, n*groups)
	rstd := make([]float32, n*groups)
	sums := groupSums(n*hw, n*c*2, func(lo, hi int, acc []float64) {
		for p := lo; p < hi; p++ {
			a := acc[p/hw*c*2:]
			s, s2 := a[:c], a[c:2*c]
			for ch, v := range x.Data[p*c : (p+1)*c] {
				s[ch] += float64(v)
				s2[ch] += float64(v) * float64(v)
			}
		}
	})
	for i := range mean {
		img, g := i/groups, i%groups
		a := sums[img*c*2:]
		var s, s2 float64
		for ch := g * cg; ch < (g+1)*cg; ch++ {
			s += a[ch]
			s2 += a[c+ch]
		}
		m := s / count
		v := max(s2/count-m*m, 0)
		mean[i] = float32(m)
		rstd[i] = float32(1 / math.Sqrt(v+float64(eps)))
	}
	// Per (image, channel), y = x·scale + shift folds the statistics and
	// the affine into two numbers, so the pass over the pixels is a
	// multiply-add.
	scale, shift := make([]float32, n*c), make([]float32, n*c)
	for img := range n {
		for ch := range c {
			s := img*groups + ch/cg
			a, b := float64(rstd[s]), -float64(mean[s])*float64(rstd[s])
			if gamma != nil {
				a, b = a*float64(gamma.Data[ch]), b*float64(gamma.Data[ch])
			}
			if beta != nil {
				b += float64(beta.Data[ch])
			}
			scale[img*c+ch], shift[img*c+ch] = float32(a), float32(b)
		}
	}
	par.For(n*hw, grainElems/c+1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			img := p / hw
			a, b := scale[img*c:(img+1)*c], shift[img*c:(img+1)*c]
			o := out.Data[p*c : (p+1)*c]
			for ch, v := range x.Data[p*c : (p+1)*c] {
				o[ch] = v*a[ch] + b[ch]
			}
			if silu {
				vmath.SiLU(o, o)
			}
		}
	})

	tp.record(out, func() {
		dy := out.Grad
		// Per group: Σ dx̂ and Σ dx̂·x̂; per channel: Σ dy·x̂ and Σ dy.
		acc := groupSums(n*hw, n*groups*2+2*c, func(lo, hi int, acc []float64) {
			dgam, dbet := acc[n*groups*2:n*groups*2+c], acc[n*groups*2+c:]
			for p := lo; p < hi; p++ {
				img := p / hw
				row := x.Data[p*c : (p+1)*c]
				d := dy[p*c : (p+1)*c]
				for ch, v := range row {
					s := img*groups + ch/cg
					xh, dxh := normHat(v, d[ch], mean[s], rstd[s], gamma, ch)
					acc[2*s] += float64(dxh)
					acc[2*s+1] += float64(dxh * xh)
					dgam[ch] += float64(d[ch] * xh)
					dbet[ch] += float64(d[ch])
				}
			}
		})
		if gamma != nil && gamma.requiresGrad {
			gg := tp.grad(gamma)
			for ch := range gg {
				gg[ch] += float32(acc[n*groups*2+ch])
			}
		}
		if beta != nil && beta.requiresGrad {
			gb := tp.grad(beta)
			for ch := range gb {
				gb[ch] += float32(acc[n*groups*2+c+ch])
			}
		}
		if !x.requiresGrad {
			return
		}
		gx := tp.grad(x)
		par.For(n*hw, grainElems/c+1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				img := p / hw
				row := x.Data[p*c : (p+1)*c]
				d := dy[p*c : (p+1)*c]
				gr := gx[p*c : (p+1)*c]
				for ch, v := range row {
					s := img*groups + ch/cg
					xh, dxh := normHat(v, d[ch], mean[s], rstd[s], gamma, ch)
					mdx := float32(acc[2*s] / count)
					mdxx := float32(acc[2*s+1] / count)
					gr[ch] += rstd[s] * (dxh - mdx - xh*mdxx)
				}
			}
		})
	})
	return out
}

// normHat returns, for element x of channel ch with output gradient dy,
// x̂ = (x − mean)·rstd and dx̂ = dy·gamma[ch] (dy when gamma is nil).
func normHat(x, dy, mean, rstd float32, gamma *Tensor, ch int) (xh, dxh float32) {
	xh, dxh = (x-mean)*rstd, dy
	if gamma != nil {
		dxh *= gamma.Data[ch]
	}
	return xh, dxh
}

// groupSums runs fn over [0, n) in parallel, each worker's range
// accumulating into its own zeroed float64 slice of length size, and adds
// the partial sums in a fixed order so results repeat bit for bit.
func groupSums(n, size int, fn func(lo, hi int, acc []float64)) []float64 {
	w := min(par.Workers(), max(n/256, 1))
	chunk := (n + w - 1) / w
	parts := make([][]float64, w)
	par.For(w, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			parts[i] = make([]float64, size)
			fn(i*chunk, min((i+1)*chunk, n), parts[i])
		}
	})
	total := parts[0]
	for _, p := range parts[1:] {
		for i, v := range p {
			total[i] += v
		}
	}
	return total
}
