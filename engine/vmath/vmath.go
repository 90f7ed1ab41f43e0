// Package vmath holds the element-wise kernels the tensor ops spend their
// non-GEMM time in: the exponential, the softmax of a row, SiLU and the
// transform steps of Winograd's 3×3 convolution, in float32. Each has a portable Go loop and, on amd64 CPUs with AVX2 and FMA
// (cpufeat.AVX2FMA), an assembly version of the same steps that handles 8
// floats at a time; the two agree to a few ulps (the FMAs round once where
// the Go loop rounds twice).
//
// In the SR model's U-Net the softmax of attention at 32×32 latent pixels
// alone was a third of a forward pass with float64 math.Exp.
package vmath

import "math"

// Exp is e^x in float32, accurate to a few ulps, without a trip through
// float64 math.Exp (SiLU's float64 call was a sixth of a training step): x = k·ln2 + r with
// |r| ≤ ln2/2, e^r from its degree-6 Taylor polynomial, 2^k built in the
// exponent bits. Arguments are clamped to [−87, 88], where float32
// saturates anyway.
func Exp(x float32) float32 {
	x = min(max(x, -87), 88)
	const ln2hi, ln2lo, log2e = 0.693359375, -2.12194440e-4, 1.44269504088896341
	k := float32(int32(x*log2e + 0.5))
	if x*log2e+0.5 < 0 && k != x*log2e+0.5 {
		k-- // int32 truncates toward zero; we want floor
	}
	r := x - k*ln2hi - k*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(k)+127)<<23)
}

// ExpShiftSum writes e^(src[i] − shift) to dst[i] and returns their sum.
// dst and src may be the same slice; dst must be at least as long as src.
func ExpShiftSum(dst, src []float32, shift float32) float32 {
	dst = dst[:len(src)]
	done, sum := expShiftSumVec(dst, src, shift)
	for i := done; i < len(src); i++ {
		e := Exp(src[i] - shift)
		dst[i] = e
		sum += e
	}
	return sum
}

// Max returns the largest element of x, which must not be empty.
func Max(x []float32) float32 {
	done, m := maxVec(x)
	if done == 0 {
		m = x[0]
	}
	for _, v := range x[done:] {
		m = max(m, v)
	}
	return m
}

// Softmax writes softmax(x) to p (which may be x), subtracting the maximum
// first so that no exponential overflows. x must not be empty.
func Softmax(p, x []float32) {
	inv := 1 / ExpShiftSum(p, x, Max(x))
	p = p[:len(x)]
	for i := range p {
		p[i] *= inv
	}
}

// SiLU writes x·σ(x) = x/(1 + e^−x) to dst[i] for every x = src[i]. dst
// and src may be the same slice.
func SiLU(dst, src []float32) {
	dst = dst[:len(src)]
	done := siluVec(dst, src)
	for i := done; i < len(src); i++ {
		v := src[i]
		dst[i] = v / (1 + Exp(-v))
	}
}

// ReLU writes max(src[i], 0) to dst[i], keeping NaN (so a diverging
// network still shows as non-finite). dst and src may be the same slice.
// Go's max on floats orders NaN and signed zeros with branches, about 0.8 ns
// a value, which made the implicit decoder's ReLUs a tenth of a 1-step
// upscale; the vector path is one VMAXPS (and one add, for −0) per 8 values.
func ReLU(dst, src []float32) {
	dst = dst[:len(src)]
	for i := reluVec(dst, src); i < len(src); i++ {
		dst[i] = max(src[i], 0)
	}
}

// WinogradIn is one step of Winograd's F(2×2, 3×3) input transform (Bᵀ
// applied along one axis) on n = len(p0) channels at once: q0 = p0 − p2,
// q1 = p1 + p2, q2 = p2 − p1, q3 = p1 − p3. Every slice has at least n
// values; the q must not overlap the p.
func WinogradIn(q0, q1, q2, q3, p0, p1, p2, p3 []float32) {
	n := len(p0)
	q0, q1, q2, q3 = q0[:n], q1[:n], q2[:n], q3[:n]
	p1, p2, p3 = p1[:n], p2[:n], p3[:n]
	for i := winogradInVec(q0, q1, q2, q3, p0, p1, p2, p3); i < n; i++ {
		q0[i], q1[i], q2[i], q3[i] = p0[i]-p2[i], p1[i]+p2[i], p2[i]-p1[i], p1[i]-p3[i]
	}
}

// WinogradOut is one step of F(2×2, 3×3)'s output transform (Aᵀ applied
// along one axis) on n = len(p0) channels, with a bias added: q0 = p0 + p1
// + p2 + bias, q1 = p1 − p2 − p3 + bias. Every slice has at least n values;
// the q must not overlap the p.
func WinogradOut(q0, q1, p0, p1, p2, p3, bias []float32) {
	n := len(p0)
	q0, q1 = q0[:n], q1[:n]
	p1, p2, p3, bias = p1[:n], p2[:n], p3[:n], bias[:n]
	for i := winogradOutVec(q0, q1, p0, p1, p2, p3, bias); i < n; i++ {
		q0[i] = p0[i] + p1[i] + p2[i] + bias[i]
		q1[i] = p1[i] - p2[i] - p3[i] + bias[i]
	}
}
