package optim

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// EMA keeps an exponential moving average of a set of parameters, the
// weights usually used for evaluating diffusion models.
//
// The average is zero-debiased: after t updates with weights w1..wt it
// equals
//
//	Σ (1-d)·d^(t-i)·wi / (1 - d^t)
//
// which is what a shadow initialised at zero and divided by 1-d^t (as Adam
// does for its moments) gives. Rather than store the biased shadow and
// divide on every read, the shadow holds the debiased value directly and
// each update blends in the new weights with weight (1-d)/(1-d^t). The two
// are mathematically identical, but this way the shadow is always a
// ready-to-use set of weights, so Swap can exchange it with the live
// weights exactly and reversibly. In particular the first update copies the
// weights outright, so early evaluations are not dragged towards either
// zero or the random initialisation.
type EMA struct {
	flat
	decay  float64
	shadow [][]float32
	t      int

	a, b    float32 // this update's blend: shadow = a·shadow + b·weights
	swapped bool
	upd     func(lo, hi int)
	swp     func(lo, hi int)
}

// NewEMA returns a moving average of params with the given decay, in
// [0, 1). Until the first Update the shadow is a copy of the current
// weights. params must not be resized afterwards.
func NewEMA(params []*tensor.Tensor, decay float64) *EMA {
	if !(decay >= 0 && decay < 1) {
		panic(fmt.Sprintf("optim.NewEMA: decay %g outside [0, 1)", decay))
	}
	e := &EMA{flat: newFlat("NewEMA", params), decay: decay}
	e.shadow = make([][]float32, len(params))
	for k, p := range params {
		e.shadow[k] = append([]float32(nil), p.Data...)
	}
	e.upd = e.updateRange
	e.swp = e.swapRange
	return e
}

// Params returns the averaged parameters, in the order Shadow indexes them.
func (e *EMA) Params() []*tensor.Tensor { return e.params }

// Decay returns the decay rate d.
func (e *EMA) Decay() float64 { return e.decay }

// Updates is the number of updates folded into the average.
func (e *EMA) Updates() int { return e.t }

// SetUpdates sets the update count, for resuming from a checkpoint: the
// debiasing of later updates depends on it.
func (e *EMA) SetUpdates(t int) { e.t = t }

// Shadow returns the live averaged values of parameter i.
func (e *EMA) Shadow(i int) []float32 { return e.shadow[i] }

// Update folds the current weights into the average.
func (e *EMA) Update() {
	if e.swapped {
		panic("optim.EMA.Update: called while swapped; Swap back first")
	}
	e.checkLens("EMA.Update")
	e.t++
	b := (1 - e.decay) / (1 - math.Pow(e.decay, float64(e.t)))
	e.b = float32(b)
	e.a = float32(1 - b) // exactly 0 on the first update, so shadow = weights
	par.For(e.total(), grain, e.upd)
}

func (e *EMA) updateRange(lo, hi int) {
	a, b := e.a, e.b
	for k := e.first(lo); lo < hi; k++ {
		end := min(hi, e.offsets[k+1])
		w := e.params[k].Data[lo-e.offsets[k] : end-e.offsets[k]]
		s := e.shadow[k][lo-e.offsets[k] : end-e.offsets[k]][:len(w)]
		for i := range w {
			s[i] = a*s[i] + b*w[i]
		}
		lo = end
	}
}

// Swap exchanges the parameters' values with the averaged ones, so the
// model can be evaluated with the average; a second Swap restores the live
// weights bit for bit. Update refuses to run in between.
func (e *EMA) Swap() {
	e.checkLens("EMA.Swap")
	e.swapped = !e.swapped
	par.For(e.total(), grain*4, e.swp)
}

// Swapped reports whether the parameters currently hold the average.
func (e *EMA) Swapped() bool { return e.swapped }

func (e *EMA) swapRange(lo, hi int) {
	for k := e.first(lo); lo < hi; k++ {
		end := min(hi, e.offsets[k+1])
		w := e.params[k].Data[lo-e.offsets[k] : end-e.offsets[k]]
		s := e.shadow[k][lo-e.offsets[k] : end-e.offsets[k]][:len(w)]
		for i := range w {
			w[i], s[i] = s[i], w[i]
		}
		lo = end
	}
}

// CopyTo writes the averaged values into dst, which must match the
// parameters in count and shapes — typically the parameters of a separate
// evaluation copy of the model. While swapped, the average lives in the
// parameters, and that is what is copied.
func (e *EMA) CopyTo(dst []*tensor.Tensor) error {
	if len(dst) != len(e.params) {
		return fmt.Errorf("optim.EMA.CopyTo: %d tensors given for %d parameters", len(dst), len(e.params))
	}
	for k, d := range dst {
		if d == nil || !tensor.SameShape(d.Shape, e.params[k].Shape) || len(d.Data) != len(e.shadow[k]) {
			return fmt.Errorf("optim.EMA.CopyTo: tensor %d is %v, parameter is %v", k, d, e.params[k])
		}
	}
	for k, d := range dst {
		src := e.shadow[k]
		if e.swapped {
			src = e.params[k].Data
		}
		copy(d.Data, src)
	}
	return nil
}
