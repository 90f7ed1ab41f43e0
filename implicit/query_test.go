package implicit

import (
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/internal/approx"
	"github.com/zoomdiff/zoomdiff/nn"
)

// The inference path (nil tape: chunked, fused bias and ReLU) computes what
// the taped path computes, for batches that are not a multiple of the chunk
// and MLPs of several depths and widths (two images: q even).
func TestQueryInferenceMatchesTape(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		q      int
		c      int
		hidden []int
	}{
		{2, 4, []int{8}},
		{queryChunk + 38, 16, []int{32, 32, 32}},
		{3*queryChunk - 2, 9, []int{24, 40}},
	} {
		p := nn.NewParams(uint64(tc.q))
		var mlp []*nn.Linear
		in := tc.c + 4
		for i, h := range append(tc.hidden, 3) {
			mlp = append(mlp, nn.NewLinear(p, string(rune('a'+i)), in, h, false))
			in = h
		}
		f := randFeat(rng, 2, 5, 7, tc.c)
		ys, xs := make([]float32, tc.q), make([]float32, tc.q)
		for i := range ys {
			ys[i], xs[i] = 2*rng.Float32()-1, 2*rng.Float32()-1
		}
		ens := LocalEnsemble(2, 5, 7, ys, xs, 0.05, 0.03)
		tp := tensor.NewTape()
		want := Query(tp, mlp, ens, func(idx []int32) *tensor.Tensor { return tp.Gather(f, idx) })
		got := Query(nil, mlp, ens, func(idx []int32) *tensor.Tensor { return (*tensor.Tape)(nil).Gather(f, idx) })
		if len(got.Shape) != 2 || got.Shape[0] != tc.q || got.Shape[1] != 3 {
			t.Fatalf("q %d: shape %v, want [%d 3]", tc.q, got.Shape, tc.q)
		}
		approx.Close(t, "inference query", got.Data, want.Data, 1e-5)
	}
}
