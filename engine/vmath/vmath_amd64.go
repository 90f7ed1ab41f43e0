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

func siluVec(dst, src []float32) (done int) {
	n := len(src) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	siluAVX2(&dst[0], &src[0], n)
	return n
}

func reluVec(dst, src []float32) (done int) {
	n := len(src) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	reluAVX2(&dst[0], &src[0], n)
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
func winogradInAVX2(q0, q1, q2, q3, p0, p1, p2, p3 *float32, n int)

//go:noescape
func winogradOutAVX2(q0, q1, p0, p1, p2, p3, bias *float32, n int)

func winogradInVec(q0, q1, q2, q3, p0, p1, p2, p3 []float32) (done int) {
	n := len(p0) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	winogradInAVX2(&q0[0], &q1[0], &q2[0], &q3[0], &p0[0], &p1[0], &p2[0], &p3[0], n)
	return n
}

func winogradOutVec(q0, q1, p0, p1, p2, p3, bias []float32) (done int) {
	n := len(p0) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	winogradOutAVX2(&q0[0], &q1[0], &p0[0], &p1[0], &p2[0], &p3[0], &bias[0], n)
	return n
}
