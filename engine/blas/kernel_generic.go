package blas

// genericKernel is the portable micro-kernel, used where the assembly one is
// unavailable and by the tests to cover the packing code with a second tile
// shape.
var genericKernel = &kernel{
	name:     "generic",
	mr:       2,
	nr:       4,
	mc:       128,
	kc:       256,
	kcDirect: 256, // unused: the generic kernel always packs A
	nc:       2048,
	fn:       kernel2x4Generic,
}

// kernel2x4Generic computes the 2×4 tile C = alpha·Ã·B̃ + beta·C from packed
// panels. The tile is small on purpose: the Go compiler spills a 4×4 block
// of accumulators to the stack and then runs at about two thirds of this
// speed (measured 4.2 vs 7.2 GFLOPS per core on Zen 4); unrolling k by two
// recovers the loop overhead. Only packed A (rsA=1, csA=2) is supported:
// with general strides the index arithmetic would cost more than packing
// saves.
func kernel2x4Generic(k int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32) {
	if rsA != 1 || csA != 2 {
		panic("blas: generic kernel needs packed A")
	}
	a = a[:2*k]
	b = b[:4*k]
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	for len(a) >= 4 && len(b) >= 8 {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a0, a1 = a[2], a[3]
		b0, b1, b2, b3 = b[4], b[5], b[6], b[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a, b = a[4:], b[8:]
	}
	if len(a) >= 2 && len(b) >= 4 {
		a0, a1 := a[0], a[1]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r0 := c[0:4]
	r1 := c[ldc : ldc+4]
	if beta == 0 {
		r0[0], r0[1], r0[2], r0[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
		r1[0], r1[1], r1[2], r1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
		return
	}
	r0[0], r0[1], r0[2], r0[3] = alpha*c00+beta*r0[0], alpha*c01+beta*r0[1], alpha*c02+beta*r0[2], alpha*c03+beta*r0[3]
	r1[0], r1[1], r1[2], r1[3] = alpha*c10+beta*r1[0], alpha*c11+beta*r1[1], alpha*c12+beta*r1[2], alpha*c13+beta*r1[3]
}
