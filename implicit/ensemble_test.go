package implicit

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/internal/approx"
)

// randFeat is an n×h×w×c feature map of uniform values in [−1, 1).
func randFeat(rng *rand.Rand, n, h, w, c int) *tensor.Tensor {
	x := tensor.New(n, h, w, c)
	for i := range x.Data {
		x.Data[i] = 2*rng.Float32() - 1
	}
	return x
}

// A hand-worked query on a 2×4 map: y = −0.2, x = 0.1.
//
// Rows (h = 2): centres −0.5, 0.5; shifts ∓1/2 (+1e-6) land in rows 0 and 1,
// rel_y = (−0.2 − (−0.5))·2 = 0.6 and (−0.2 − 0.5)·2 = −1.4.
// Columns (w = 4): centres −0.75, −0.25, 0.25, 0.75; shifts ∓1/4 land in
// columns 1 and 2, rel_x = (0.1 + 0.25)·4 = 1.4 and (0.1 − 0.25)·4 = −0.6.
// Areas: (0,1) 0.84, (0,2) 0.36, (1,1) 1.96, (1,2) 0.84, total 4; each
// neighbour takes the opposite area: 0.21, 0.49, 0.09, 0.21 — exactly the
// bilinear weights (0.7·0.3, 0.7·0.7, 0.3·0.3, 0.3·0.7).
func TestLocalEnsembleHandWorked(t *testing.T) {
	// Two images with one query each; the second is the same point.
	e := LocalEnsemble(2, 2, 4, []float32{-0.2, -0.2}, []float32{0.1, 0.1}, 2.0/8, 2.0/16)
	wantIdx := [4]int32{1, 2, 5, 6}
	wantRY := [4]float32{0.6, 0.6, -1.4, -1.4}
	wantRX := [4]float32{1.4, -0.6, 1.4, -0.6}
	wantW := [4]float32{0.21, 0.49, 0.09, 0.21}
	for k := range 4 {
		if e.Index[k][0] != wantIdx[k] || e.Index[k][1] != wantIdx[k]+8 {
			t.Errorf("neighbour %d: index %d, %d; want %d, %d", k, e.Index[k][0], e.Index[k][1], wantIdx[k], wantIdx[k]+8)
		}
		approx.Close(t, "RelY", []float32{e.RelY[k][0], e.RelY[k][1]}, []float32{wantRY[k], wantRY[k]}, 1e-6)
		approx.Close(t, "RelX", []float32{e.RelX[k][0], e.RelX[k][1]}, []float32{wantRX[k], wantRX[k]}, 1e-6)
		approx.Close(t, "Weight", []float32{e.Weight[k][0], e.Weight[k][1]}, []float32{wantW[k], wantW[k]}, 1e-6)
	}
	approx.Close(t, "cell", []float32{e.CellY, e.CellX}, []float32{0.5, 0.5}, 0)

	// The middle of a 2×2 map is equally far from all four centres.
	e = LocalEnsemble(1, 2, 2, []float32{0}, []float32{0}, 0, 0)
	for k := range 4 {
		if e.Index[k][0] != int32(k) || math.Abs(float64(e.Weight[k][0])-0.25) > 1e-7 {
			t.Errorf("centre query, neighbour %d: index %d weight %v", k, e.Index[k][0], e.Weight[k][0])
		}
	}

	approx.Panics(t, "LocalEnsemble/batch", func() { LocalEnsemble(2, 2, 2, []float32{0, 0, 0}, []float32{0, 0, 0}, 0, 0) })
	approx.Panics(t, "LocalEnsemble/lengths", func() { LocalEnsemble(1, 2, 2, []float32{0}, nil, 0, 0) })
}

func TestLocalEnsembleInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	for _, s := range [][3]int{{1, 1, 1}, {1, 1, 5}, {2, 3, 4}, {3, 7, 2}, {1, 16, 16}} {
		n, h, w := s[0], s[1], s[2]
		q := 200
		ys, xs := make([]float32, n*q), make([]float32, n*q)
		for i := range ys {
			ys[i], xs[i] = rng.Float32()*2-1, rng.Float32()*2-1
		}
		// The extreme corners exercise the border clamp.
		ys[0], xs[0], ys[1], xs[1] = -1, -1, 1, 1
		e := LocalEnsemble(n, h, w, ys, xs, 0.1, 0.1)
		for i := range ys {
			var sum float64
			for k := range 4 {
				idx := int(e.Index[k][i])
				img := i / q
				if idx < img*h*w || idx >= (img+1)*h*w {
					t.Fatalf("%v query %d neighbour %d: index %d outside image %d", s, i, k, idx, img)
				}
				if math.Abs(float64(e.RelY[k][i])) > 2+1e-4 || math.Abs(float64(e.RelX[k][i])) > 2+1e-4 {
					t.Fatalf("%v query %d neighbour %d: rel (%v, %v) beyond ±2", s, i, k, e.RelY[k][i], e.RelX[k][i])
				}
				if e.Weight[k][i] < 0 {
					t.Fatalf("%v query %d: negative weight", s, i)
				}
				sum += float64(e.Weight[k][i])
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("%v query %d: weights sum to %v", s, i, sum)
			}
		}
	}
}

// Away from degenerate one-cell axes, LIIF's area-weighted blend of the four
// nearest latent cells is bilinear interpolation with half-pixel centres and
// edge clamping, so blending the gathered cells must reproduce
// ResizeBilinear. This ties the ensemble geometry, Grid, Gather and the
// resize convention together.
func TestLocalEnsembleMatchesBilinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 4))
	const n, h, w, c = 2, 3, 4, 2
	feat := randFeat(rng, n, h, w, c)
	for _, s := range [][2]int{{6, 8}, {7, 5}, {2, 3}, {3, 4}, {9, 12}, {11, 13}} {
		oh, ow := s[0], s[1]
		gy, gx := Grid(oh, ow)
		ys := append(append([]float32(nil), gy...), gy...)
		xs := append(append([]float32(nil), gx...), gx...)
		e := LocalEnsemble(n, h, w, ys, xs, 2/float32(oh), 2/float32(ow))
		want := (*tensor.Tape)(nil).ResizeBilinear(feat, oh, ow)
		got := make([]float32, len(ys)*c)
		for k := range 4 {
			nb := (*tensor.Tape)(nil).Gather(feat, e.Index[k])
			for q := range ys {
				for i := range c {
					got[q*c+i] += e.Weight[k][q] * nb.Data[q*c+i]
				}
			}
		}
		approx.Close(t, "ensemble vs bilinear", got, want.Data, 1e-5)
	}
}

// Off the degenerate last-centre case the weights are LIIF's literal
// formula: (|Δy·Δx| + 1e-9) of the opposite neighbour over the sum.
func TestLocalEnsembleLIIFWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 5))
	ys, xs := make([]float32, 500), make([]float32, 500)
	for i := range ys {
		ys[i], xs[i] = rng.Float32()*2-1, rng.Float32()*2-1
	}
	e := LocalEnsemble(1, 5, 3, ys, xs, 0, 0)
	for q := range ys {
		var area [4]float64
		var sum float64
		for k := range 4 {
			area[k] = math.Abs(float64(e.RelY[k][q])*float64(e.RelX[k][q])) + 1e-9
			sum += area[k]
		}
		for k := range 4 {
			if d := math.Abs(float64(e.Weight[k][q]) - area[3-k]/sum); d > 1e-6 {
				t.Fatalf("query %d neighbour %d: weight %v, LIIF's %v", q, k, e.Weight[k][q], area[3-k]/sum)
			}
		}
	}
}

func TestGrid(t *testing.T) {
	ys, xs := Grid(2, 4)
	approx.Close(t, "ys", ys, []float32{-0.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5}, 0)
	approx.Close(t, "xs", xs, []float32{-0.75, -0.25, 0.25, 0.75, -0.75, -0.25, 0.25, 0.75}, 0)
}

// PickPixels draws distinct pixels, the colours at their centres.
func TestPickPixels(t *testing.T) {
	const size, q = 5, 25
	src := make([]float32, size*size*3)
	for i := range src {
		src[i] = float32(i)
	}
	ys, xs, dst := make([]float32, q), make([]float32, q), make([]float32, q*3)
	PickPixels(rand.New(rand.NewPCG(1, 2)), make([]int, size*size), size, src, ys, xs, dst)
	seen := map[int]bool{}
	for j := range q {
		y := int(math.Round(float64((ys[j]+1)*size/2 - 0.5)))
		x := int(math.Round(float64((xs[j]+1)*size/2 - 0.5)))
		if ys[j] != Centre(y, size) || xs[j] != Centre(x, size) || seen[y*size+x] {
			t.Fatalf("pick %d at (%v, %v): not a new pixel centre", j, ys[j], xs[j])
		}
		seen[y*size+x] = true
		if dst[j*3] != src[(y*size+x)*3] || dst[j*3+2] != src[(y*size+x)*3+2] {
			t.Fatalf("pick %d: colour %v, pixel's %v", j, dst[j*3:j*3+3], src[(y*size+x)*3:(y*size+x)*3+3])
		}
	}
}
