package safetensors

import "math"

// The conversions below work on bit patterns rather than through float64
// arithmetic so that rounding is exactly IEEE 754 round-to-nearest-even,
// including the subnormal range and overflow to infinity; a float64 detour
// would round twice and get some ties wrong.

// Float32ToF16 converts v to IEEE 754 binary16 bits, rounding to nearest with
// ties to even. Values too large for half precision become ±Inf, values too
// small become ±0 or a subnormal, and NaN stays a (quiet) NaN.
func Float32ToF16(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff

	if exp == 0xff {
		if mant != 0 {
			// Keep the top payload bits and force the quiet bit so the
			// result can never collapse into the Inf pattern.
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // rebias
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal in half precision (or zero). float32 subnormals are
		// far below half's smallest subnormal, so they round to zero.
		if exp == 0 {
			return sign
		}
		full := mant | 0x800000
		shift := uint(14 - e) // 126-exp: ≥14
		if shift > 24 {
			return sign // below half of the smallest subnormal
		}
		// A carry out of the mantissa here lands on 0x400, the smallest
		// normal, which is exactly the right answer.
		return sign | uint16(roundShift(full, shift))
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry may roll the exponent over to 0x7c00 = Inf, as IEEE requires
	}
	return sign | uint16(h)
}

// roundShift returns x >> s rounded to nearest, ties to even (s ≥ 1).
func roundShift(x uint32, s uint) uint32 {
	q := x >> s
	rem := x & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// F16ToFloat32 converts IEEE 754 binary16 bits to float32 exactly (every half
// value is representable in float32).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Normalise the subnormal: shift until the implicit bit appears.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToBF16 converts v to bfloat16 bits (the top half of a float32),
// rounding to nearest with ties to even; NaN stays a quiet NaN.
func Float32ToBF16(v float32) uint16 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	// Adding 0x7fff plus the lowest kept bit rounds ties to even; overflow
	// of the largest finite values carries into the Inf pattern.
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToFloat32 converts bfloat16 bits to float32 exactly.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
