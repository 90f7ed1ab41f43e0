package tensor

import "github.com/zoomdiff/zoomdiff/engine/par"

// Tape records the backward step of every operation run on it, so that
// Backward can propagate gradients in reverse order. It also owns the
// buffers of intermediate results and gives them back out on the next step,
// so a training loop that repeats the same shapes stops allocating them.
//
// A nil *Tape is valid: it is inference mode and records nothing.
type Tape struct {
	steps []func()
	free  map[int][][]float32 // buffers released by Reset, by length
	held  [][]float32         // buffers handed out since the last Reset
	grads []*Tensor           // tensors whose Grad came from the pool
}

// NewTape returns an empty tape.
func NewTape() *Tape { return &Tape{free: map[int][][]float32{}} }

// alloc returns a zeroed buffer of n floats, reused from an earlier step
// when one of that length is free.
func (tp *Tape) alloc(n int) []float32 {
	if tp == nil {
		return make([]float32, n)
	}
	var b []float32
	if list := tp.free[n]; len(list) > 0 {
		b = list[len(list)-1]
		tp.free[n] = list[:len(list)-1]
		clearPar(b)
	} else {
		b = make([]float32, n)
	}
	tp.held = append(tp.held, b)
	return b
}

// clearPar zeroes b on every core: a training step clears a gradient
// buffer of megabytes for every activation, and done serially that left
// the other cores idle for several percent of the step.
func clearPar(b []float32) {
	par.For(len(b), 4*grainElems, func(lo, hi int) { clear(b[lo:hi]) })
}

// scratch is alloc without the zeroing, for buffers the caller overwrites.
func (tp *Tape) scratch(n int) []float32 {
	if tp == nil {
		return make([]float32, n)
	}
	if list := tp.free[n]; len(list) > 0 {
		b := list[len(list)-1]
		tp.free[n] = list[:len(list)-1]
		tp.held = append(tp.held, b)
		return b
	}
	b := make([]float32, n)
	tp.held = append(tp.held, b)
	return b
}

// newOut makes an operation's result. It tracks gradients when the tape is
// recording and any input does.
func (tp *Tape) newOut(shape []int, inputs ...*Tensor) *Tensor {
	return tp.result(shape, tp.alloc(numel(shape)), inputs)
}

// result wraps data as an operation's output of the given shape.
func (tp *Tape) result(shape []int, data []float32, inputs []*Tensor) *Tensor {
	t := &Tensor{Shape: append([]int(nil), shape...), Data: data}
	if tp != nil {
		for _, in := range inputs {
			if in != nil && in.requiresGrad {
				t.requiresGrad = true
				break
			}
		}
	}
	return t
}

// record appends a backward step when out takes part in differentiation.
func (tp *Tape) record(out *Tensor, step func()) {
	if tp != nil && out.requiresGrad {
		tp.steps = append(tp.steps, step)
	}
}

// grad returns t's gradient buffer, taking it from the pool on first use.
func (tp *Tape) grad(t *Tensor) []float32 {
	if t.Grad == nil {
		t.Grad = tp.alloc(len(t.Data))
		t.pooled = true
		tp.grads = append(tp.grads, t)
	}
	return t.Grad
}

// Recording reports whether operations on this tape record gradients.
func (tp *Tape) Recording() bool { return tp != nil }

// Backward seeds d(loss)/d(loss) = 1 for every element of loss (usually a
// scalar) and runs the recorded steps in reverse, accumulating into the
// Grad of every tensor that requires it. Parameters' gradients accumulate
// across calls until the optimiser clears them.
func (tp *Tape) Backward(loss *Tensor) {
	if tp == nil || !loss.requiresGrad {
		return
	}
	g := tp.grad(loss)
	for i := range g {
		g[i] = 1
	}
	for i := len(tp.steps) - 1; i >= 0; i-- {
		tp.steps[i]()
	}
}

// Reset forgets the recorded steps and returns every intermediate buffer to
// the pool. Tensors produced on the tape must not be used after Reset.
func (tp *Tape) Reset() {
	if tp == nil {
		return
	}
	for _, t := range tp.grads {
		t.Grad, t.pooled = nil, false
	}
	// Buffers that sat unused through a whole step are dropped, so a loop
	// whose shapes change (a random decode size per step) keeps only the
	// last step's buffers instead of one set per shape it ever saw.
	clear(tp.free)
	for _, b := range tp.held {
		tp.free[len(b)] = append(tp.free[len(b)], b)
	}
	clear(tp.steps)
	tp.steps = tp.steps[:0]
	tp.held = tp.held[:0]
	tp.grads = tp.grads[:0]
}

// BackwardWith runs the recorded steps with out's gradient seeded by grad
// (len(grad) == out.Len()) instead of ones: the vector-Jacobian product
// used when a loss is computed outside the tape.
func (tp *Tape) BackwardWith(out *Tensor, grad []float32) {
	if tp == nil || !out.requiresGrad {
		return
	}
	if len(grad) != len(out.Data) {
		panic("tensor: BackwardWith: gradient length does not match the output")
	}
	copy(tp.grad(out), grad)
	for i := len(tp.steps) - 1; i >= 0; i-- {
		tp.steps[i]()
	}
}
