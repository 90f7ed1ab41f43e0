package diffusion

import (
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/internal/approx"
)

func TestTimestepEmbedding(t *testing.T) {
	e := timestepEmbedding([]float32{0, 1, 1000}, 4)
	if len(e.Shape) != 2 || e.Shape[0] != 3 || e.Shape[1] != 4 {
		t.Fatalf("shape %v, want [3 4]", e.Shape)
	}
	if e.RequiresGrad() {
		t.Fatal("the embedding is a constant")
	}
	// half = 2, frequencies 1 and 10000^(−1/2) = 0.01; cos half first.
	approx.Close(t, "t=0", e.Data[0:4], []float32{1, 1, 0, 0}, 0)
	approx.Close(t, "t=1", e.Data[4:8], []float32{
		float32(math.Cos(1)), float32(math.Cos(0.01)), float32(math.Sin(1)), float32(math.Sin(0.01)),
	}, 1e-6)

	// dim 6: frequencies 1, 10000^(−1/3), 10000^(−2/3); values from the
	// ADM formula evaluated in float64.
	e = timestepEmbedding([]float32{1000}, 6)
	approx.Close(t, "t=1000", e.Data, []float32{
		0.56237908, -0.75966307, -0.55106366, 0.82687954, 0.65031686, 0.83446321,
	}, 2e-5)

	// Odd dim: a zero column is appended after the sin half.
	e = timestepEmbedding([]float32{37.5, 0}, 5)
	approx.Close(t, "odd dim", e.Data, []float32{
		0.98024264, 0.93050762, -0.19779880, 0.36627253, 0,
		1, 1, 0, 0, 0,
	}, 1e-5)
}
