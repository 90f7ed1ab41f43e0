package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWinogradMatchesNaive checks the F(4×4, 3×3) path against the float64
// textbook convolution, and its rounding against the row-expanded path's:
// odd sides (tiles cut by the edge), several images and several blocks,
// channel counts that are not multiples of 8 (the vector tails), with and
// without bias.
func TestWinogradMatchesNaive(t *testing.T) {
	defer func(v bool, p int) { winogradOff, winogradMinPixels = v, p }(winogradOff, winogradMinPixels)
	winogradMinPixels = 0 // edge cases on small images
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		n, h, w, cin, cout int
		bias               bool
	}{
		{1, 1, 1, 32, 32, true},
		{2, 7, 9, 33, 40, true},
		{1, 64, 3, 48, 35, false},
		{3, 31, 130, 32, 64, true}, // several blocks per image
		{1, 50, 53, 64, 32, false}, // the size of a small U-Net level
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
		// about 1e-5 on the row path; F(4×4, 3×3)'s transform entries (up to
		// 8, and ⅙ and 1/24 that float32 cannot hold exactly) raise that to
		// 5e-5–2e-4 here. A wrong tap or transform is off by O(1).
		if worst[0] > 4e-4 || worst[0] > 40*worst[1]+1e-6 {
			t.Errorf("%+v: Winograd off the float64 convolution by %.3g, the row path by %.3g", c, worst[0], worst[1])
		}
	}
}

// BenchmarkConv3x3Shapes runs the 3×3 convolutions of an encoder window
// and of the U-Net's levels both ways, Winograd and the row-expanded path
// (winogradMinPixels is set from it): go test -run '^$' -bench Conv3x3Shapes
// ./engine/tensor. Below winogradMinPixels both names run rows.
func BenchmarkConv3x3Shapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ side, cin, cout int }{{116, 64, 64}, {64, 64, 64}, {64, 128, 64}, {32, 128, 128}, {16, 256, 128}} {
		x := randTensor(rng, -1, 1, 1, s.side, s.side, s.cin)
		w := randTensor(rng, -0.05, 0.05, 3, 3, s.cin, s.cout)
		bias := randTensor(rng, -1, 1, s.cout)
		for _, path := range []string{"winograd", "rows"} {
			b.Run(fmt.Sprintf("%dx%d_%dto%d_%s", s.side, s.side, s.cin, s.cout, path), func(b *testing.B) {
				defer func(v bool) { winogradOff = v }(winogradOff)
				winogradOff = path == "rows"
				var tp *Tape
				for range b.N {
					tp.Conv2D(x, w, bias, 1, 1)
				}
			})
		}
	}
}
