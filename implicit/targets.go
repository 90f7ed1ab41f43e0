package implicit

import "math/rand/v2"

// PickPixels draws len(ys) distinct pixels of the size×size interleaved
// RGB image src by a partial Fisher–Yates shuffle, writes their centres to
// ys and xs (LIIF coordinates) and their colours to dst (3 values each).
// perm is scratch of size² ints, reused between calls. With src and dst
// nil it draws the coordinates only. This is how stage 1, the alignment
// stage and the student's image term draw the decoder's training targets.
func PickPixels(rng *rand.Rand, perm []int, size int, src, ys, xs, dst []float32) {
	perm = perm[:size*size]
	for j := range perm {
		perm[j] = j
	}
	for j := range ys {
		r := j + rng.IntN(len(perm)-j)
		perm[j], perm[r] = perm[r], perm[j]
		p := perm[j]
		ys[j], xs[j] = Centre(p/size, size), Centre(p%size, size)
		if dst != nil {
			copy(dst[j*3:j*3+3], src[p*3:p*3+3])
		}
	}
}
