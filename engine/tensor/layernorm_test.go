package tensor

import (
	"math/rand/v2"
	"testing"
)

func TestLayerNormValues(t *testing.T) {
	x := FromData([]float32{1, 2, 3, 4, 10, 10, 10, 10}, 2, 4)
	// Row 0: mean 2.5, biased variance 1.25, so x̂ = (x − 2.5)/√1.25.
	// Row 1 is constant: x̂ = 0 (eps keeps 1/σ finite).
	const a, b = 1.3416408, 0.4472136
	y := (*Tape)(nil).LayerNorm(x, nil, nil, 0)
	wantClose(t, "LayerNorm", y.Data[:4], []float32{-a, -b, b, a}, 1e-6)
	y = (*Tape)(nil).LayerNorm(x, nil, nil, 1e-5)
	wantClose(t, "LayerNorm/constant row", y.Data[4:], []float32{0, 0, 0, 0}, 0)

	gamma := FromData([]float32{1, 2, -1, 0.5}, 4)
	beta := FromData([]float32{0, 0, 1, -1}, 4)
	y = (*Tape)(nil).LayerNorm(x, gamma, beta, 0)
	wantClose(t, "LayerNorm/affine", y.Data[:4], []float32{-a, -2 * b, 1 - b, 0.5*a - 1}, 1e-6)
	wantPanic(t, "LayerNorm/gamma", func() { (*Tape)(nil).LayerNorm(x, New(3), nil, 1e-5) })
}

func TestLayerNormGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x := randTensor(rng, -2, 2, 2, 3, 5)
	gamma := randTensor(rng, 0.5, 1.5, 5)
	beta := randTensor(rng, -1, 1, 5)
	gradCheck(t, "LayerNorm", []*Tensor{x, gamma, beta}, 1e-2, 3e-3, func(tp *Tape) *Tensor {
		return tp.LayerNorm(x, gamma, beta, 1e-5)
	})
	gradCheck(t, "LayerNorm/plain", []*Tensor{x}, 1e-2, 3e-3, func(tp *Tape) *Tensor {
		return tp.LayerNorm(x, nil, nil, 1e-5)
	})
	gradCheck(t, "LayerNorm/scale only", []*Tensor{x, gamma}, 1e-2, 3e-3, func(tp *Tape) *Tensor {
		return tp.LayerNorm(x, gamma, nil, 1e-5)
	})
	// More rows than one block of the γ/β partial sums, and an odd width.
	many := randTensor(rng, -2, 2, 70, 3)
	g3 := randTensor(rng, 0.5, 1.5, 3)
	b3 := randTensor(rng, -1, 1, 3)
	gradCheck(t, "LayerNorm/blocks", []*Tensor{many, g3, b3}, 1e-2, 3e-3, func(tp *Tape) *Tensor {
		return tp.LayerNorm(many, g3, b3, 1e-5)
	})
}

func TestLayerNormParallelDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	x := randTensor(rng, -2, 2, 1000, 64)
	gamma := randTensor(rng, 0.5, 1.5, 64)
	beta := randTensor(rng, -1, 1, 64)
	seed := randTensor(rng, -1, 1, x.Len()).Data
	f := func(tp *Tape) *Tensor { return tp.LayerNorm(x, gamma, beta, 1e-5) }
	var g1, g2 [][]float32
	withProcs(1, func() { g1 = tapeGrads([]*Tensor{x, gamma, beta}, seed, f) })
	withProcs(3, func() { g2 = tapeGrads([]*Tensor{x, gamma, beta}, seed, f) })
	for i := range g1 {
		if !bitEqual(g1[i], g2[i]) {
			t.Fatalf("LayerNorm gradient %d differs with the number of goroutines", i)
		}
	}
}
