//go:build !amd64

package vmath

var useAVX2 = false

func expShiftSumVec(dst, src []float32, shift float32) (int, float32) { return 0, 0 }
func siluVec(dst, src []float32) int                                  { return 0 }
func maxVec(x []float32) (int, float32)                               { return 0, 0 }
func reluVec(dst, src []float32) int                                  { return 0 }
func winogradInVec(q []float32, qs int, p []float32, ps, n int) int   { return 0 }
func winogradOutVec(q []float32, qs int, p []float32, ps int, bias []float32, n int) int {
	return 0
}
