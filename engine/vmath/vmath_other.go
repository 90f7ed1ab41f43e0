//go:build !amd64

package vmath

var useAVX2 = false

func expShiftSumVec(dst, src []float32, shift float32) (int, float32) { return 0, 0 }
func siluVec(dst, src []float32) int                                  { return 0 }
func maxVec(x []float32) (int, float32)                               { return 0, 0 }
func reluVec(dst, src []float32) int                                  { return 0 }
func winogradInVec(q0, q1, q2, q3, p0, p1, p2, p3 []float32) int      { return 0 }
func winogradOutVec(q0, q1, p0, p1, p2, p3, bias []float32) int       { return 0 }
