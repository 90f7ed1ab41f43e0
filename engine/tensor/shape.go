package tensor

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// shapeRowGrain is the number of rows of length rowLen worth a goroutine in
// the row-copy loops of this file and resize.go: rows are copied whole, so
// the grain is counted in elements like the element-wise loops.
func shapeRowGrain(rowLen int) int {
	return max(1, grainElems/max(1, rowLen))
}

// Reshape returns x with a new shape holding the same number of elements.
// One dimension may be -1; it is inferred from the others.
//
// The result shares x's values (no copy), since a reshape is the most common
// glue between NHWC maps and [rows, C] matrices; it has its own gradient,
// which the backward step adds back into x's. The shared values must not be
// written through either tensor while both are in use.
func (tp *Tape) Reshape(x *Tensor, shape ...int) *Tensor {
	shape = reshapeResolve(x, shape)
	out := &Tensor{Shape: shape, Data: x.Data}
	if tp == nil || !x.requiresGrad {
		return out
	}
	out.requiresGrad = true
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gx := tp.grad(x)
		par.For(len(g), grainElems, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gx[i] += g[i]
			}
		})
	})
	return out
}

// reshapeResolve checks the new shape against x and fills in a -1.
func reshapeResolve(x *Tensor, shape []int) []int {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("tensor.Reshape: bad shape %v", shape))
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || x.Len()%known != 0 {
			panic(fmt.Sprintf("tensor.Reshape: cannot infer %v from %v", shape, x.Shape))
		}
		shape[infer] = x.Len() / known
	}
	if numel(shape) != x.Len() {
		panic(fmt.Sprintf("tensor.Reshape: %v has %d elements, shape %v needs %d", x.Shape, x.Len(), shape, numel(shape)))
	}
	return shape
}

// Concat joins tensors along the last axis (channels, for NHWC maps); every
// other dimension must match. It is the skip connection of the U-Net and the
// feature/coordinate join of the implicit decoder.
func (tp *Tape) Concat(xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("tensor.Concat: no inputs")
	}
	first := xs[0]
	rank := len(first.Shape)
	if rank == 0 {
		panic("tensor.Concat: scalar input")
	}
	total := 0
	for _, x := range xs {
		if len(x.Shape) != rank || !SameShape(x.Shape[:rank-1], first.Shape[:rank-1]) {
			panic(fmt.Sprintf("tensor.Concat: shapes %v and %v differ outside the last axis", first.Shape, x.Shape))
		}
		total += x.Shape[rank-1]
	}
	shape := append([]int(nil), first.Shape...)
	shape[rank-1] = total
	rows := numel(first.Shape[:rank-1])
	out := tp.newOut(shape, xs...)
	o := out.Data
	par.For(rows, shapeRowGrain(total), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			off := r * total
			for _, x := range xs {
				c := x.Shape[rank-1]
				copy(o[off:off+c], x.Data[r*c:(r+1)*c])
				off += c
			}
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		base := 0
		for _, x := range xs {
			c := x.Shape[rank-1]
			if x.requiresGrad {
				gx, b := tp.grad(x), base
				par.For(rows, shapeRowGrain(c), func(lo, hi int) {
					for r := lo; r < hi; r++ {
						src := g[r*total+b : r*total+b+c]
						dst := gx[r*c : (r+1)*c]
						for i, v := range src {
							dst[i] += v
						}
					}
				})
			}
			base += c
		}
	})
	return out
}

// Slice returns channels [from, to) of x's last axis, e.g. splitting a
// projection into its query/key/value parts or an output into mean and
// log-variance.
func (tp *Tape) Slice(x *Tensor, from, to int) *Tensor {
	rank := len(x.Shape)
	if rank == 0 {
		panic("tensor.Slice: scalar input")
	}
	c := x.Shape[rank-1]
	if from < 0 || to > c || from > to {
		panic(fmt.Sprintf("tensor.Slice: [%d, %d) out of range for %v", from, to, x.Shape))
	}
	w := to - from
	shape := append([]int(nil), x.Shape...)
	shape[rank-1] = w
	rows := numel(x.Shape[:rank-1])
	out := tp.newOut(shape, x)
	par.For(rows, shapeRowGrain(w), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(out.Data[r*w:(r+1)*w], x.Data[r*c+from:r*c+to])
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gx := tp.grad(x)
		par.For(rows, shapeRowGrain(w), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dst := gx[r*c+from : r*c+to]
				for i, v := range g[r*w : (r+1)*w] {
					dst[i] += v
				}
			}
		})
	})
	return out
}
