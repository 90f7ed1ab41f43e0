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

// WinogradIn is one step of Winograd's F(4×4, 3×3) input transform: Bᵀ
// applied along one axis of a 6×6 tile, to n channels at once. It reads six
// vectors pₖ = p[k·ps:][:n] and writes six qₖ = q[k·qs:][:n]:
//
//	q0 = 4p0 − 5p2 + p4      q1 = (p4 − 4p2) + (p3 − 4p1)   q2 = (p4 − 4p2) − (p3 − 4p1)
//	q5 = 4p1 − 5p3 + p5      q3 = (p4 − p2) + 2(p3 − p1)    q4 = (p4 − p2) − 2(p3 − p1)
//
// The q must not overlap the p.
func WinogradIn(q []float32, qs int, p []float32, ps, n int) {
	_, _ = q[5*qs:][:n], p[5*ps:][:n] // both long enough, checked once
	for i := winogradInVec(q, qs, p, ps, n); i < n; i++ {
		p0, p1, p2, p3, p4, p5 := p[i], p[ps+i], p[2*ps+i], p[3*ps+i], p[4*ps+i], p[5*ps+i]
		t0, t1, t2, t3 := p4-4*p2, p3-4*p1, p4-p2, 2*(p3-p1)
		q[i], q[qs+i], q[2*qs+i] = 4*p0-5*p2+p4, t0+t1, t0-t1
		q[3*qs+i], q[4*qs+i], q[5*qs+i] = t2+t3, t2-t3, 4*p1-5*p3+p5
	}
}

// WinogradOut is one step of F(4×4, 3×3)'s output transform: Aᵀ applied
// along one axis, six vectors pₖ = p[k·ps:][:n] in, four qₖ = q[k·qs:][:n]
// out, bias[:n] added to each:
//
//	q0 = p0 + (p1 + p2) + (p3 + p4)     q1 = (p1 − p2) + 2(p3 − p4)
//	q2 = (p1 + p2) + 4(p3 + p4)         q3 = (p1 − p2) + 8(p3 − p4) + p5
//
// The q must not overlap the p.
func WinogradOut(q []float32, qs int, p []float32, ps int, bias []float32, n int) {
	_, _, _ = q[3*qs:][:n], p[5*ps:][:n], bias[:n]
	for i := winogradOutVec(q, qs, p, ps, bias, n); i < n; i++ {
		p0, p1, p2, p3, p4, p5, b := p[i], p[ps+i], p[2*ps+i], p[3*ps+i], p[4*ps+i], p[5*ps+i], bias[i]
		s12, d12, s34, d34 := p1+p2, p1-p2, p3+p4, p3-p4
		q[i], q[qs+i] = p0+s12+s34+b, d12+2*d34+b
		q[2*qs+i], q[3*qs+i] = s12+4*s34+b, d12+8*d34+p5+b
	}
}
