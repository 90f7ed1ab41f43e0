package tensor

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/par"
)

// Linear returns x·w + b over the last axis: x [..., In], w [In, Out],
// b [Out] or nil; the result is [..., Out].
func (tp *Tape) Linear(x, w, b *Tensor) *Tensor {
	in := x.Dim(-1)
	if len(w.Shape) != 2 || w.Shape[0] != in {
		panic(fmt.Sprintf("tensor.Linear: x %v does not match w %v", x.Shape, w.Shape))
	}
	outDim := w.Shape[1]
	if b != nil && (len(b.Shape) != 1 || b.Shape[0] != outDim) {
		panic(fmt.Sprintf("tensor.Linear: bias %v, want [%d]", b.Shape, outDim))
	}
	rows := x.Len() / in
	shape := append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), outDim)
	out := tp.newOut(shape, x, w, b)
	blas.Sgemm(false, false, rows, outDim, in, 1, x.Data, in, w.Data, outDim, 0, out.Data, outDim)
	if b != nil {
		addBias(out.Data, b.Data)
	}
	tp.record(out, func() {
		dy := out.Grad
		if b != nil && b.requiresGrad {
			sumRowsInto(tp.grad(b), dy, outDim)
		}
		if w.requiresGrad {
			blas.Sgemm(true, false, in, outDim, rows, 1, x.Data, in, dy, outDim, 1, tp.grad(w), outDim)
		}
		if x.requiresGrad {
			blas.Sgemm(false, true, rows, in, outDim, 1, dy, outDim, w.Data, outDim, 1, tp.grad(x), in)
		}
	})
	return out
}

// MatMul returns the batched product op(a)·op(b) for a [B,M,K] (or [B,K,M]
// when transA) and b [B,K,N] (or [B,N,K] when transB); 2-D operands are a
// batch of one.
func (tp *Tape) MatMul(a, b *Tensor, transA, transB bool) *Tensor {
	as, bs := batch3(a.Shape), batch3(b.Shape)
	if as[0] != bs[0] {
		panic(fmt.Sprintf("tensor.MatMul: batch sizes differ: %v and %v", a.Shape, b.Shape))
	}
	nb := as[0]
	m, k := as[1], as[2]
	if transA {
		m, k = k, m
	}
	k2, n := bs[1], bs[2]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		panic(fmt.Sprintf("tensor.MatMul: inner sizes differ: %v and %v", a.Shape, b.Shape))
	}
	shape := []int{nb, m, n}
	if len(a.Shape) == 2 && len(b.Shape) == 2 {
		shape = shape[1:]
	}
	out := tp.newOut(shape, a, b)
	lda, ldb := as[2], bs[2]
	sa, sb, so := as[1]*as[2], bs[1]*bs[2], m*n
	gemm := gemmFor(nb)
	gemmBatch(nb, func(i int) {
		gemm(transA, transB, m, n, k, 1, a.Data[i*sa:], lda, b.Data[i*sb:], ldb, 0, out.Data[i*so:], n)
	})
	tp.record(out, func() {
		dy := out.Grad
		if a.requiresGrad {
			ga := tp.grad(a)
			gemmBatch(nb, func(i int) {
				// dA = dY·op(B)ᵀ, stored transposed when A was used transposed.
				if transA {
					gemm(transB, true, k, m, n, 1, b.Data[i*sb:], ldb, dy[i*so:], n, 1, ga[i*sa:], lda)
				} else {
					gemm(false, !transB, m, k, n, 1, dy[i*so:], n, b.Data[i*sb:], ldb, 1, ga[i*sa:], lda)
				}
			})
		}
		if b.requiresGrad {
			gb := tp.grad(b)
			gemmBatch(nb, func(i int) {
				// dB = op(A)ᵀ·dY, stored transposed when B was used transposed.
				if transB {
					gemm(true, transA, n, k, m, 1, dy[i*so:], n, a.Data[i*sa:], lda, 1, gb[i*sb:], ldb)
				} else {
					gemm(!transA, false, k, n, m, 1, a.Data[i*sa:], lda, dy[i*so:], n, 1, gb[i*sb:], ldb)
				}
			})
		}
	})
	return out
}

func batch3(s []int) [3]int {
	switch len(s) {
	case 2:
		return [3]int{1, s[0], s[1]}
	case 3:
		return [3]int{s[0], s[1], s[2]}
	}
	panic(fmt.Sprintf("tensor.MatMul: want a 2-D or 3-D operand, got %v", s))
}

// gemmFor returns the parallel product for a single matrix and the serial
// one when the batch itself is spread over the cores.
func gemmFor(batch int) func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if batch == 1 {
		return blas.Sgemm
	}
	return blas.SgemmSerial
}

// gemmBatch runs one product per batch element across the cores.
func gemmBatch(n int, fn func(i int)) {
	par.For(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i)
		}
	})
}
