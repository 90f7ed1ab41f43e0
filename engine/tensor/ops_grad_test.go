package tensor

import (
	"math/rand/v2"
	"testing"
)

// One op-level finite-difference check for each hand-written backward pass
// not covered next to its op: normalisation, attention, softmax and the
// matrix products, at the default tolerance (a 1 % error fails).
func TestOpGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	x := randTensor(rng, -2, 2, 2, 3, 4, 8)
	gamma := randTensor(rng, 0.5, 1.5, 8)
	beta := randTensor(rng, -0.5, 0.5, 8)
	gradCheck(t, "GroupNorm", []*Tensor{x, gamma, beta}, 1e-2, 5e-3, func(tp *Tape) *Tensor {
		return tp.GroupNorm(x, 4, gamma, beta, 1e-5)
	})
	gradCheck(t, "GroupNorm/plain", []*Tensor{x}, 1e-2, 5e-3, func(tp *Tape) *Tensor {
		return tp.GroupNorm(x, 2, nil, nil, 1e-5)
	})
	// Recording, GroupNormSiLU is two ops; the loss without a tape runs
	// the fused kernel, so this also checks that the two agree.
	gradCheck(t, "GroupNormSiLU", []*Tensor{x, gamma, beta}, 1e-2, 5e-3, func(tp *Tape) *Tensor {
		return tp.GroupNormSiLU(x, 4, gamma, beta, 1e-5)
	})

	s := randTensor(rng, -3, 3, 2, 5, 7)
	gradCheck(t, "Softmax", []*Tensor{s}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Softmax(s) })

	q := randTensor(rng, -1, 1, 2, 3, 2, 8)
	k := randTensor(rng, -1, 1, 2, 3, 2, 8)
	v := randTensor(rng, -1, 1, 2, 3, 2, 8)
	gradCheck(t, "Attention", []*Tensor{q, k, v}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Attention(q, k, v, 2) })
	gradCheck(t, "Attention/one head", []*Tensor{q, k, v}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Attention(q, k, v, 1) })

	for _, c := range []struct {
		name           string
		transA, transB bool
		a, b           []int
	}{
		{"MatMul", false, false, []int{2, 3, 4}, []int{2, 4, 5}},
		{"MatMul/Aᵀ", true, false, []int{2, 4, 3}, []int{2, 4, 5}},
		{"MatMul/Bᵀ", false, true, []int{2, 3, 4}, []int{2, 5, 4}},
		{"MatMul/AᵀBᵀ", true, true, []int{2, 4, 3}, []int{2, 5, 4}},
		{"MatMul/2-D", false, false, []int{3, 4}, []int{4, 5}},
	} {
		a := randTensor(rng, -1, 1, c.a...)
		b := randTensor(rng, -1, 1, c.b...)
		gradCheck(t, c.name, []*Tensor{a, b}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.MatMul(a, b, c.transA, c.transB) })
	}

	in := randTensor(rng, -1, 1, 2, 3, 6)
	w := randTensor(rng, -1, 1, 6, 4)
	bias := randTensor(rng, -1, 1, 4)
	gradCheck(t, "Linear", []*Tensor{in, w, bias}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Linear(in, w, bias) })
	gradCheck(t, "Linear/no bias", []*Tensor{in, w}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Linear(in, w, nil) })

	feat := randTensor(rng, -1, 1, 6, 3)
	idx := []int32{5, 0, 2, 2, 4, 1, 5}
	gradCheck(t, "Gather", []*Tensor{feat}, 1e-2, 5e-3, func(tp *Tape) *Tensor { return tp.Gather(feat, idx) })
}
