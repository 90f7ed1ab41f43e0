package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWinogradMatchesNaive checks the F(2×2, 3×3) path against the float64
// textbook convolution, and its rounding against the row-expanded path's:
// odd sides (tiles cut by the edge), several images and several blocks,
// channel counts that are not multiples of 8 (the vector tails), with and
// without bias.
func TestWinogradMatchesNaive(t *testing.T) {
	defer func(v bool) { winogradOff = v }(winogradOff)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		n, h, w, cin, cout int
		bias               bool
	}{
		{1, 1, 1, 32, 32, true},
		{2, 7, 9, 33, 40, true},
		{1, 64, 3, 48, 35, false},
		{3, 31, 130, 32, 64, true}, // several blocks per image
	} {
		x := randTensor(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randTensor(rng, -1, 1, 3, 3, c.cin, c.cout)
		var b *Tensor
		if c.bias {
			b = randTensor(rng, -1, 1, c.cout)
		}
		winogradOff = false
		if g := convGeomOf(x, w, b, 1, 1); !g.winograd() {
			t.Fatalf("%+v: not on the Winograd path", c)
		}
		want := naiveConv(x, w, b, 1, 1)
		var worst [2]float64 // Winograd, rows
		for p, off := range []bool{false, true} {
			winogradOff = off
			var tp *Tape
			got := tp.Conv2D(x, w, b, 1, 1).Data
			for i := range want {
				worst[p] = max(worst[p], math.Abs(float64(got[i])-want[i]))
			}
		}
		// Sums of 9·Cin products of magnitude up to 1: float32 rounding of
		// about 1e-5; a wrong tap or transform is off by O(1).
		if worst[0] > 1e-4 || worst[0] > 4*worst[1]+1e-6 {
			t.Errorf("%+v: Winograd off the float64 convolution by %.3g, the row path by %.3g", c, worst[0], worst[1])
		}
	}
}
