package optim

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Config holds Adam's hyperparameters.
type Config struct {
	Beta1, Beta2 float64 // decay rates of the first and second moment estimates
	Eps          float64 // added to the root of the second moment, for stability
	// WeightDecay shrinks the weights towards zero each step. With
	// Decoupled (AdamW) the weights are multiplied by 1 - lr·WeightDecay
	// directly; without it the decay is added to the gradient as an L2
	// penalty and so gets rescaled by the adaptive denominator, which is
	// why AdamW is the usual choice when decay is wanted.
	WeightDecay float64
	Decoupled   bool
}

// AdamConfig returns the customary Adam settings: β1 0.9, β2 0.999, ε 1e-8,
// no weight decay.
func AdamConfig() Config { return Config{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// AdamWConfig returns AdamConfig with decoupled weight decay wd.
func AdamWConfig(wd float64) Config {
	c := AdamConfig()
	c.WeightDecay, c.Decoupled = wd, true
	return c
}

// Adam is the Adam optimiser (Kingma & Ba) with bias correction, or AdamW
// when Config.Decoupled is set. Its state — the moments m and v of every
// parameter and the step count — is exposed through Moments, Steps and
// SetSteps so that checkpoints can save and restore it.
type Adam struct {
	// Config may be changed between steps, e.g. to adjust the decay.
	Config

	flat
	m, v  [][]float32
	decay []bool // per parameter: whether weight decay applies
	t     int

	// Per-step coefficients, set by Step before the parallel loop reads them.
	step, ibc2, b1, b2, c1, c2, eps, mul, l2 float32

	kern func(lo, hi int) // a.run, bound once so Step does not allocate it
	zero func(lo, hi int)
}

// NewAdam returns an optimiser for params with zeroed moments. params must
// not be resized afterwards. It panics if c is out of range, since that is
// a programming error, not a runtime condition.
func NewAdam(params []*tensor.Tensor, c Config) *Adam {
	if !(c.Beta1 >= 0 && c.Beta1 < 1 && c.Beta2 >= 0 && c.Beta2 < 1 && c.Eps >= 0 && c.WeightDecay >= 0) {
		panic(fmt.Sprintf("optim.NewAdam: invalid config %+v", c))
	}
	a := &Adam{Config: c, flat: newFlat("NewAdam", params)}
	a.m = make([][]float32, len(params))
	a.v = make([][]float32, len(params))
	a.decay = make([]bool, len(params))
	for k, p := range params {
		a.m[k] = make([]float32, len(p.Data))
		a.v[k] = make([]float32, len(p.Data))
		a.decay[k] = true
	}
	a.kern = a.run
	a.zero = a.clearGrads
	return a
}

// SetDecay turns weight decay on or off for parameter i. Biases and
// normalisation gains are usually exempt: shrinking them towards zero is a
// prior nobody wants.
func (a *Adam) SetDecay(i int, on bool) { a.decay[i] = on }

// Params returns the parameters in the order the optimiser indexes them.
func (a *Adam) Params() []*tensor.Tensor { return a.params }

// Steps is the number of updates applied so far (t in the paper).
func (a *Adam) Steps() int { return a.t }

// SetSteps sets the step count, for resuming from a checkpoint: the bias
// correction depends on it.
func (a *Adam) SetSteps(t int) { a.t = t }

// Moments returns the live first- and second-moment buffers of parameter i,
// for saving them or writing restored values into them.
func (a *Adam) Moments(i int) (m, v []float32) { return a.m[i], a.v[i] }

// Reset zeroes the moments and the step count.
func (a *Adam) Reset() {
	for k := range a.m {
		clear(a.m[k])
		clear(a.v[k])
	}
	a.t = 0
}

// Step applies one update with learning rate lr to every parameter whose
// Grad is non-nil. Gradients are left as they are; call ZeroGrad before the
// next accumulation.
func (a *Adam) Step(lr float64) {
	a.checkGrads("Adam.Step")
	a.t++
	t := float64(a.t)
	bc1 := 1 - math.Pow(a.Beta1, t)
	bc2 := 1 - math.Pow(a.Beta2, t)
	a.step = float32(lr / bc1)
	a.ibc2 = float32(1 / math.Sqrt(bc2))
	a.b1, a.b2 = float32(a.Beta1), float32(a.Beta2)
	a.c1, a.c2 = float32(1-a.Beta1), float32(1-a.Beta2)
	a.eps = float32(a.Eps)
	a.mul, a.l2 = 1, 0
	if a.Decoupled {
		a.mul = float32(1 - lr*a.WeightDecay)
	} else {
		a.l2 = float32(a.WeightDecay)
	}
	par.For(a.total(), grain, a.kern)
}

// run updates the flat range [lo, hi), which may span several tensors.
func (a *Adam) run(lo, hi int) {
	for k := a.first(lo); lo < hi; k++ {
		end := min(hi, a.offsets[k+1])
		a.update(k, lo-a.offsets[k], end-a.offsets[k])
		lo = end
	}
}

func (a *Adam) update(k, lo, hi int) {
	p := a.params[k]
	if p.Grad == nil || lo == hi {
		return
	}
	w := p.Data[lo:hi]
	g := p.Grad[lo:hi][:len(w)]
	m := a.m[k][lo:hi][:len(w)]
	v := a.v[k][lo:hi][:len(w)]
	mul, l2 := a.mul, a.l2
	if !a.decay[k] {
		mul, l2 = 1, 0
	}
	step, ibc2, b1, b2, c1, c2, eps := a.step, a.ibc2, a.b1, a.b2, a.c1, a.c2, a.eps
	for i := range w {
		gi := g[i] + l2*w[i]
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		w[i] = w[i]*mul - step*mi/(float32(math.Sqrt(float64(vi)))*ibc2+eps)
	}
}

// ZeroGrad clears the gradients of all the optimiser's parameters.
func (a *Adam) ZeroGrad() {
	a.checkGrads("Adam.ZeroGrad")
	par.For(a.total(), grain*4, a.zero)
}

func (a *Adam) clearGrads(lo, hi int) {
	for k := a.first(lo); lo < hi; k++ {
		end := min(hi, a.offsets[k+1])
		if g := a.params[k].Grad; g != nil {
			clear(g[lo-a.offsets[k] : end-a.offsets[k]])
		}
		lo = end
	}
}
