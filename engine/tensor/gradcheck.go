package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// GradCheck compares the gradients a Tape computes with central finite
// differences, in float64, of the loss Σ out·R, where R is a fixed random
// projection (so every output element matters, with its own weight). Every
// backward pass in the engine and the networks has such a check in its
// tests.
//
// The error of an element is |analytic − numeric| / max(|analytic|,
// |numeric|, FloorFrac·rms, FloorAbs), rms being the root mean square of that
// input's analytic gradient: relative for every element that matters, and
// not failing on the rounding of elements a thousand times smaller than
// the rest. With Tol below 0.01 a 1 % error in a backward pass fails
// (TestGradCheckCatchesOnePercent).
type GradCheck struct {
	// Eps are the steps tried in order: an element passes at the first at
	// which it agrees. Losses with ReLU kinks need more than one (a step
	// can cross a kink and spoil one quotient); a wrong gradient disagrees
	// at all of them.
	Eps []float64
	// Tol is the largest error accepted.
	Tol float64
	// FloorFrac sets the smallest magnitude the error is relative to, as a
	// fraction of the input's gradient RMS.
	FloorFrac float64
	// FloorAbs is an absolute lower bound on that magnitude. Op-level
	// checks leave it 0; checks through a whole network, where float32
	// rounding of a large loss swamps parameters with tiny gradients, set
	// it to the gradient size below which they do not care.
	FloorAbs float64
	// Pick lists the elements of input k (of n) to check; nil checks all.
	// Network-level checks pick a few elements of many parameters.
	Pick func(k, n int) []int
	// Seed draws the projection R.
	Seed uint64
}

// DefaultGradCheck is the op-level check: one step of 1e-2 and a tolerance
// of 5e-3, relative to at least a tenth of the gradient's RMS.
func DefaultGradCheck() GradCheck {
	return GradCheck{Eps: []float64{1e-2}, Tol: 5e-3, FloorFrac: 0.1, Seed: 7}
}

// GradCheckResult is what a GradCheck found.
type GradCheckResult struct {
	// Checked is the number of elements compared.
	Checked int
	// MaxErr is the largest error over them.
	MaxErr float64
}

// Run builds the output with f on a fresh tape (f(nil) must build the
// same output without recording), back-propagates R and compares every
// picked element of every input. It returns an error naming the first
// element that fails. The inputs' Grad is overwritten and their data are
// restored.
func (c GradCheck) Run(inputs []*Tensor, f func(tp *Tape) *Tensor) (GradCheckResult, error) {
	var r GradCheckResult
	if len(c.Eps) == 0 || !(c.Tol > 0) || c.FloorFrac < 0 || c.FloorAbs < 0 {
		return r, fmt.Errorf("gradcheck: want steps, a positive tolerance and non-negative floors (have %v, %v, %v, %v)", c.Eps, c.Tol, c.FloorFrac, c.FloorAbs)
	}
	for _, in := range inputs {
		in.SetRequiresGrad(true)
		in.ZeroGrad()
	}
	tp := NewTape()
	out := f(tp)
	rng := rand.New(rand.NewPCG(c.Seed, 11))
	proj := make([]float32, out.Len())
	for i := range proj {
		proj[i] = rng.Float32()*2 - 1
	}
	tp.BackwardWith(out, proj)
	loss := func() float64 {
		var s float64
		for i, v := range f(nil).Data {
			s += float64(v) * float64(proj[i])
		}
		return s
	}
	for k, in := range inputs {
		analytic := append([]float32(nil), in.Grad...)
		var ss float64
		for _, g := range analytic {
			ss += float64(g) * float64(g)
		}
		floor := math.Max(c.FloorAbs, c.FloorFrac*math.Sqrt(ss/float64(max(1, len(analytic)))))
		picked := c.pick(k, in.Len())
		for _, i := range picked {
			a := float64(analytic[i])
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return r, fmt.Errorf("input %d element %d: analytic gradient %v", k, i, a)
			}
			best := math.Inf(1)
			var nums []float64
			for _, eps := range c.Eps {
				orig := in.Data[i]
				in.Data[i] = orig + float32(eps)
				lp := loss()
				in.Data[i] = orig - float32(eps)
				lm := loss()
				in.Data[i] = orig
				num := (lp - lm) / (2 * eps)
				nums = append(nums, num)
				best = math.Min(best, math.Abs(a-num)/math.Max(floor, math.Max(math.Abs(a), math.Abs(num))))
				if best <= c.Tol {
					break
				}
			}
			r.MaxErr = math.Max(r.MaxErr, best)
			r.Checked++
			if !(best <= c.Tol) {
				return r, fmt.Errorf("input %d element %d: analytic %.6g, numeric %.6g (error %.3g > %.3g)", k, i, a, nums, best, c.Tol)
			}
		}
	}
	return r, nil
}

// pick lists the elements of input k to check.
func (c GradCheck) pick(k, n int) []int {
	if c.Pick != nil {
		return c.Pick(k, n)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}
