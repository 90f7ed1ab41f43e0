package tensor

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
)

// grainElems is the least number of elements worth a goroutine in the
// element-wise loops: below it the spawn costs more than the arithmetic.
const grainElems = 1 << 15

// broadcast describes how the elements of a and b line up with those of
// their broadcast result, NumPy style: shapes are aligned at the right and a
// dimension of 1 repeats.
type broadcast struct {
	shape            []int
	aStride, bStride []int // per output axis; 0 where the operand repeats
}

func newBroadcast(a, b []int) (broadcast, error) {
	rank := max(len(a), len(b))
	bc := broadcast{shape: make([]int, rank), aStride: make([]int, rank), bStride: make([]int, rank)}
	sa, sb := 1, 1
	for i := rank - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (rank - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (rank - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			bc.shape[i] = da
		case da == 1:
			bc.shape[i] = db
		case db == 1:
			bc.shape[i] = da
		default:
			return bc, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
		if da != 1 || bc.shape[i] == 1 {
			bc.aStride[i] = sa
		}
		if db != 1 || bc.shape[i] == 1 {
			bc.bStride[i] = sb
		}
		sa *= da
		sb *= db
	}
	return bc, nil
}

// each calls fn(o, ia, ib) for every output element in order, where ia and
// ib are the operands' element indices.
func (bc broadcast) each(fn func(o, ia, ib int)) {
	rank := len(bc.shape)
	idx := make([]int, rank)
	n := numel(bc.shape)
	ia, ib := 0, 0
	for o := 0; o < n; o++ {
		fn(o, ia, ib)
		for ax := rank - 1; ax >= 0; ax-- {
			idx[ax]++
			ia += bc.aStride[ax]
			ib += bc.bStride[ax]
			if idx[ax] < bc.shape[ax] {
				break
			}
			ia -= bc.aStride[ax] * idx[ax]
			ib -= bc.bStride[ax] * idx[ax]
			idx[ax] = 0
		}
	}
}

// swapped is bc with the operands' roles exchanged: its walk gives b's
// index first.
func (bc broadcast) swapped() broadcast {
	return broadcast{shape: bc.shape, aStride: bc.bStride, bStride: bc.aStride}
}

// Add returns a + b with broadcasting.
func (tp *Tape) Add(a, b *Tensor) *Tensor { return tp.binary("Add", a, b, false) }

// Mul returns a · b element-wise with broadcasting.
func (tp *Tape) Mul(a, b *Tensor) *Tensor { return tp.binary("Mul", a, b, true) }

// Sub returns a − b with broadcasting.
func (tp *Tape) Sub(a, b *Tensor) *Tensor { return tp.Add(a, tp.Scale(b, -1)) }

func (tp *Tape) binary(op string, a, b *Tensor, mul bool) *Tensor {
	if SameShape(a.Shape, b.Shape) {
		return tp.binarySame(a, b, mul)
	}
	bc, err := newBroadcast(a.Shape, b.Shape)
	if err != nil {
		panic("tensor." + op + ": " + err.Error())
	}
	out := tp.newOut(bc.shape, a, b)
	o := out.Data
	switch {
	case !mul && len(a.Shape) == 4 && SameShape(b.Shape, []int{a.Shape[0], 1, 1, a.Shape[3]}):
		// A residual block's timestep embedding, one row of channels per
		// image added at every pixel: rows in parallel, where the general
		// walk below runs on one core (a twentieth of a U-Net pass).
		c, hw := a.Shape[3], a.Shape[1]*a.Shape[2]
		par.For(a.Shape[0]*hw, grainElems/c+1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				op, ap, e := o[p*c:(p+1)*c], a.Data[p*c:(p+1)*c], b.Data[p/hw*c:][:c]
				for i := range op {
					op[i] = ap[i] + e[i]
				}
			}
		})
	case mul:
		bc.each(func(i, ia, ib int) { o[i] = a.Data[ia] * b.Data[ib] })
	default:
		bc.each(func(i, ia, ib int) { o[i] = a.Data[ia] + b.Data[ib] })
	}
	tp.record(out, func() {
		g := out.Grad
		// The gradient of operand x, whose partner is y, in a walk where
		// x's index comes first.
		grad := func(x, y *Tensor, bc broadcast) {
			if !x.requiresGrad {
				return
			}
			gx := tp.grad(x)
			if mul {
				bc.each(func(i, ix, iy int) { gx[ix] += g[i] * y.Data[iy] })
			} else {
				bc.each(func(i, ix, _ int) { gx[ix] += g[i] })
			}
		}
		grad(a, b, bc)
		grad(b, a, bc.swapped())
	})
	return out
}

func (tp *Tape) binarySame(a, b *Tensor, mul bool) *Tensor {
	out := tp.newOut(a.Shape, a, b)
	o, x, y := out.Data, a.Data, b.Data
	par.For(len(o), grainElems, func(lo, hi int) {
		if mul {
			for i := lo; i < hi; i++ {
				o[i] = x[i] * y[i]
			}
		} else {
			for i := lo; i < hi; i++ {
				o[i] = x[i] + y[i]
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad
		for k, t := range [2]*Tensor{a, b} {
			if !t.requiresGrad {
				continue
			}
			gt := tp.grad(t)
			other := y
			if k == 1 {
				other = x
			}
			par.For(len(g), grainElems, func(lo, hi int) {
				if mul {
					for i := lo; i < hi; i++ {
						gt[i] += g[i] * other[i]
					}
				} else {
					for i := lo; i < hi; i++ {
						gt[i] += g[i]
					}
				}
			})
		}
	})
	return out
}

// Scale returns s·x.
func (tp *Tape) Scale(x *Tensor, s float32) *Tensor {
	return tp.AffineScalar(x, s, 0)
}

// AffineScalar returns s·x + c.
func (tp *Tape) AffineScalar(x *Tensor, s, c float32) *Tensor {
	out := tp.newOut(x.Shape, x)
	par.For(len(x.Data), grainElems, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out.Data[i] = s*x.Data[i] + c
		}
	})
	tp.record(out, func() {
		gx, g := tp.grad(x), out.Grad
		par.For(len(g), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gx[i] += s * g[i]
			}
		})
	})
	return out
}

// ReLU returns max(x, 0). NaN passes through, as in PyTorch, so that a
// diverging network still shows up as non-finite; its gradient is 0.
func (tp *Tape) ReLU(x *Tensor) *Tensor {
	out := tp.newOutRaw(x.Shape, x)
	xs, ys := x.Data, out.Data
	par.For(len(xs), grainElems, func(lo, hi int) { vmath.ReLU(ys[lo:hi], xs[lo:hi]) })
	tp.record(out, func() {
		gx, g := tp.grad(x), out.Grad
		par.For(len(g), grainElems, func(lo, hi int) { reluBackward(gx[lo:hi], g[lo:hi], xs[lo:hi]) })
	})
	return out
}

// reluBackward adds g to gx where x > 0. It decides on the bits of x with
// integer arithmetic rather than a comparison and branch: half the inputs
// of a ReLU are negative in no predictable pattern, and the mispredicted
// branch made this loop four times slower than its memory traffic.
func reluBackward(gx, g, x []float32) {
	gx, g = gx[:len(x)], g[:len(x)]
	for i, v := range x {
		// b−1 (mod 2³²) is below 0x7f800000 exactly for 0 < v ≤ +Inf; the
		// 64-bit subtraction then borrows and fills the top word with ones.
		keep := uint32((uint64(math.Float32bits(v)-1) - 0x7f800000) >> 32)
		gx[i] += math.Float32frombits(math.Float32bits(g[i]) & keep)
	}
}

// SiLU returns x·σ(x) (also called swish), the activation of the U-Net and
// the auto-encoder.
func (tp *Tape) SiLU(x *Tensor) *Tensor {
	out := tp.newOut(x.Shape, x)
	par.For(len(x.Data), grainElems, func(lo, hi int) {
		vmath.SiLU(out.Data[lo:hi], x.Data[lo:hi])
	})
	tp.record(out, func() {
		gx, g := tp.grad(x), out.Grad
		par.For(len(g), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				v := x.Data[i]
				s := 1 / (1 + vmath.Exp(-v))
				gx[i] += g[i] * s * (1 + v*(1-s))
			}
		})
	})
	return out
}

// GELU returns x·Φ(x) with the exact normal CDF (PyTorch's default).
func (tp *Tape) GELU(x *Tensor) *Tensor {
	out := tp.newOut(x.Shape, x)
	par.For(len(x.Data), grainElems, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x.Data[i])
			out.Data[i] = float32(v * 0.5 * (1 + math.Erf(v/math.Sqrt2)))
		}
	})
	tp.record(out, func() {
		gx, g := tp.grad(x), out.Grad
		par.For(len(g), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				v := float64(x.Data[i])
				cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
				pdf := math.Exp(-0.5*v*v) / math.Sqrt(2*math.Pi)
				gx[i] += g[i] * float32(cdf+v*pdf)
			}
		})
	})
	return out
}
