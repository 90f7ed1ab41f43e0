package metrics

import (
	"math/rand/v2"
	"testing"
)

// TestPrecisionRecallByHand checks a one-dimensional case worked out on
// paper. Real 0, 1, 2, 3 with k = 1: every ball has radius 1. Generated
// 0.5, 3.9, 10: 0.5 and 3.9 fall in a real ball, 10 does not (precision
// 2/3). Their radii are 3.4, 3.4 and 6.1, so every real point lies in the
// ball of 0.5 or 3.9 (recall 1). With k = 2 the real radii are 2 (for 0
// and 3) and 1 (for 1 and 2): 3.9 is 0.9 from 3, still inside, 10 still
// not; the generated radii grow to 9.5, 6.1, 9.5, and recall stays 1.
func TestPrecisionRecallByHand(t *testing.T) {
	real := []float64{0, 1, 2, 3}
	gen := []float64{0.5, 3.9, 10}
	for _, k := range []int{1, 2} {
		p, r, err := PrecisionRecall(real, 4, gen, 3, 1, k)
		if err != nil {
			t.Fatal(err)
		}
		if !near(p, 2.0/3, 1e-12) || !near(r, 1, 1e-12) {
			t.Errorf("k = %d: precision %v recall %v, want 2/3 and 1", k, p, r)
		}
	}
	// Swapping the roles: 0, 1, 2 and 3 all lie in the balls of 0.5 and 3.9
	// (radius 3.4), so precision is 1; of 0.5, 3.9 and 10, only 10 lies
	// outside every radius-1 ball around 0…3, so recall is 2/3.
	p, r, err := PrecisionRecall(gen, 3, real, 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !near(p, 1, 1e-12) || !near(r, 2.0/3, 1e-12) {
		t.Errorf("swapped: precision %v recall %v, want 1 and 2/3", p, r)
	}
}

// TestPrecisionRecallModes separates the two failures FD mixes: a
// generator that drops one of two modes keeps its precision and halves
// its recall; one that also spreads samples far off the data loses
// precision.
func TestPrecisionRecallModes(t *testing.T) {
	const n, d = 400, 8
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(centre, spread float64) []float64 {
		v := make([]float64, d)
		for i := range v {
			v[i] = centre + spread*rng.NormFloat64()
		}
		return v
	}
	var real, dropped, noisy []float64
	for i := 0; i < n; i++ {
		real = append(real, draw(float64(10*(i%2)), 1)...)
		dropped = append(dropped, draw(0, 1)...)
		if i%2 == 0 {
			noisy = append(noisy, draw(0, 1)...)
		} else {
			noisy = append(noisy, draw(5, 1)...) // between the modes, far from both
		}
	}
	p, r, err := PrecisionRecall(real, n, real, n, d, DefaultManifoldK)
	if err != nil {
		t.Fatal(err)
	}
	if p != 1 || r != 1 {
		t.Errorf("a set against itself: precision %v recall %v, want 1 and 1", p, r)
	}
	p, r, err = PrecisionRecall(real, n, dropped, n, d, DefaultManifoldK)
	if err != nil {
		t.Fatal(err)
	}
	if p < 0.9 || r < 0.4 || r > 0.6 {
		t.Errorf("one mode dropped: precision %.3f recall %.3f, want ≥ 0.9 and about 0.5", p, r)
	}
	p, _, err = PrecisionRecall(real, n, noisy, n, d, DefaultManifoldK)
	if err != nil {
		t.Fatal(err)
	}
	if p < 0.4 || p > 0.6 {
		t.Errorf("half the samples off the data: precision %.3f, want about 0.5", p)
	}
}

func TestPrecisionRecallRejects(t *testing.T) {
	if _, _, err := PrecisionRecall([]float64{0, 1, 2}, 3, []float64{0, 1, 2}, 3, 1, 3); err == nil {
		t.Error("k = 3 with 3 vectors a set: want an error")
	}
	if _, _, err := PrecisionRecall([]float64{0, 1}, 3, []float64{0, 1, 2}, 3, 1, 1); err == nil {
		t.Error("2 values for 3 vectors: want an error")
	}
}
