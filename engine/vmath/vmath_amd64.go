package vmath

import "github.com/zoomdiff/zoomdiff/engine/cpufeat"

// The AVX2+FMA kernels work on n floats, a multiple of 8; the Go functions
// that call them do the bounds checks and the remainder.

//go:noescape
func expShiftSumAVX2(dst, src *float32, n int, shift float32) float32

//go:noescape
func siluAVX2(dst, src *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func reluAVX2(dst, src *float32, n int)

var useAVX2 = cpufeat.AVX2FMA

func expShiftSumVec(dst, src []float32, shift float32) (done int, sum float32) {
	n := len(src) &^ 7
	if !useAVX2 || n == 0 {
		return 0, 0
	}
	return n, expShiftSumAVX2(&dst[0], &src[0], n, shift)
}

func siluVec(dst, src []float32) (done int) { return mapVec(siluAVX2, dst, src) }

func reluVec(dst, src []float32) (done int) { return mapVec(reluAVX2, dst, src) }

// mapVec runs the element-wise kernel over the whole blocks of 8 of src.
func mapVec(kernel func(dst, src *float32, n int), dst, src []float32) (done int) {
	n := len(src) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	kernel(&dst[0], &src[0], n)
	return n
}

func maxVec(x []float32) (done int, m float32) {
	n := len(x) &^ 7
	if !useAVX2 || n == 0 {
		return 0, 0
	}
	return n, maxAVX2(&x[0], n)
}

//go:noescape
func winogradInAVX2(q *float32, qs int, p *float32, ps, n int)

//go:noescape
func winogradOutAVX2(q *float32, qs int, p *float32, ps int, bias *float32, n int)

// The strides go to the assembly in bytes.
func winogradInVec(q []float32, qs int, p []float32, ps, n int) (done int) {
	n &^= 7
	if !useAVX2 || n == 0 {
		return 0
	}
	winogradInAVX2(&q[0], 4*qs, &p[0], 4*ps, n)
	return n
}

func winogradOutVec(q []float32, qs int, p []float32, ps int, bias []float32, n int) (done int) {
	n &^= 7
	if !useAVX2 || n == 0 {
		return 0
	}
	winogradOutAVX2(&q[0], 4*qs, &p[0], 4*ps, &bias[0], n)
	return n
}
