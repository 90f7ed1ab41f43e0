package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// GroupNormSiLU is SiLU(GroupNorm(·)): fused in inference, the two ops on
// a recording tape (whose gradients the network checks cover).
func TestGroupNormSiLUMatchesComposition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := randTensor(rng, -3, 3, 2, 5, 7, 24)
	gamma, beta := randTensor(rng, 0.5, 1.5, 24), randTensor(rng, -1, 1, 24)
	var nilTape *Tape
	want := nilTape.SiLU(nilTape.GroupNorm(x, 8, gamma, beta, 1e-6))
	for name, got := range map[string]*Tensor{
		"inference": nilTape.GroupNormSiLU(x, 8, gamma, beta, 1e-6),
		"recording": NewTape().GroupNormSiLU(x, 8, gamma, beta, 1e-6),
	} {
		for i, v := range got.Data {
			if math.Abs(float64(v-want.Data[i])) > 1e-6 {
				t.Fatalf("%s: value %d = %v, composition %v", name, i, v, want.Data[i])
			}
		}
	}
}
