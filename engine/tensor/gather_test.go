package tensor

import (
	"math/rand/v2"
	"testing"
)

func TestGather(t *testing.T) {
	feat := FromData([]float32{0, 1, 10, 11, 20, 21, 30, 31}, 1, 2, 2, 2)
	got := (*Tape)(nil).Gather(feat, []int32{3, 0, 3, 2})
	wantShape(t, "Gather", got, 4, 2)
	wantClose(t, "Gather", got.Data, []float32{30, 31, 0, 1, 30, 31, 20, 21}, 0)
	wantShape(t, "Gather/none", (*Tape)(nil).Gather(feat, nil), 0, 2)
	wantPanic(t, "Gather/range", func() { (*Tape)(nil).Gather(feat, []int32{4}) })
	wantPanic(t, "Gather/negative", func() { (*Tape)(nil).Gather(feat, []int32{-1}) })

	rng := rand.New(rand.NewPCG(8, 1))
	f := randTensor(rng, -1, 1, 2, 3, 2, 4)
	idx := []int32{5, 0, 5, 11, 5, 3, 0, 7}
	gradCheck(t, "Gather/repeats", []*Tensor{f}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Gather(f, idx) })
	// Rows never read must get zero gradient, and a repeated row gets the
	// sum of its readers.
	g := tapeGrads([]*Tensor{f}, nil, func(tp *Tape) *Tensor { return tp.Gather(f, idx) })[0]
	for r, want := range []float32{2, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 1} {
		for i := range 4 {
			if g[r*4+i] != want {
				t.Fatalf("Gather backward: row %d gradient %v, want %v", r, g[r*4:r*4+4], want)
			}
		}
	}
}

// The scatter-add must not race and must give the serial result bit for bit.
func TestGatherParallelDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	feat := randTensor(rng, -1, 1, 2, 16, 16, 24)
	rows := 2 * 16 * 16
	idx := make([]int32, 6000)
	for i := range idx {
		// Few distinct rows, so that many queries collide.
		idx[i] = int32(rng.IntN(rows / 8))
	}
	seed := randTensor(rng, -1, 1, len(idx)*24).Data
	f := func(tp *Tape) *Tensor { return tp.Gather(feat, idx) }

	// The reference: a plain serial scatter in query order.
	want := make([]float32, feat.Len())
	for q, r := range idx {
		for i := range 24 {
			want[int(r)*24+i] += seed[q*24+i]
		}
	}
	for _, procs := range []int{1, 2, 3, 8} {
		var g []float32
		withProcs(procs, func() { g = tapeGrads([]*Tensor{feat}, seed, f)[0] })
		if !bitEqual(g, want) {
			t.Fatalf("Gather backward with GOMAXPROCS=%d differs from the serial scatter", procs)
		}
	}
}
