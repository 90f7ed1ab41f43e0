// Package optim updates trainable parameters from their gradients: Adam and
// AdamW, gradient clipping by global norm, an exponential moving average of
// the weights, and learning-rate schedules.
//
// Every per-step loop runs over all parameters as one flat index space split
// by par.For, so a model with many small tensors still keeps both cores busy
// and pays the fan-out cost once per step rather than once per tensor. The
// kernels are bound to their structs at construction, so a step allocates
// nothing beyond what par.For itself needs to start its goroutines.
package optim

import (
	"fmt"
	"sort"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// grain is the smallest slice of elements worth a goroutine: the update
// kernels do about ten flops per element, so 32k elements is tens of
// microseconds of work, well above the cost of spawning.
const grain = 1 << 15

// flat views a list of tensors as one concatenated index space.
type flat struct {
	params  []*tensor.Tensor
	offsets []int // offsets[k] is the flat index of params[k][0]; one extra at the end
}

func newFlat(who string, params []*tensor.Tensor) flat {
	f := flat{params: append([]*tensor.Tensor(nil), params...), offsets: make([]int, len(params)+1)}
	for k, p := range params {
		if p == nil {
			panic(fmt.Sprintf("optim.%s: parameter %d is nil", who, k))
		}
		f.offsets[k+1] = f.offsets[k] + len(p.Data)
	}
	return f
}

// total is the number of elements across all tensors.
func (f *flat) total() int { return f.offsets[len(f.params)] }

// first returns the tensor holding flat index i (the last one starting at
// or before i, which skips empty tensors).
func (f *flat) first(i int) int { return sort.SearchInts(f.offsets, i+1) - 1 }

// checkLens panics if a tensor was resized after construction: the flat
// offsets would then point into the wrong memory, so this is checked once
// per step, serially, before any worker goroutine can trip over it.
func (f *flat) checkLens(who string) {
	for k, p := range f.params {
		if len(p.Data) != f.offsets[k+1]-f.offsets[k] {
			panic(fmt.Sprintf("optim.%s: parameter %d %v changed size from %d to %d after construction", who, k, p.Shape, f.offsets[k+1]-f.offsets[k], len(p.Data)))
		}
	}
}

// checkGrads is checkLens for the gradients. A nil Grad means the parameter
// received no gradient this step; a Grad of the wrong length is a bug.
func (f *flat) checkGrads(who string) {
	f.checkLens(who)
	for k, p := range f.params {
		if p.Grad != nil && len(p.Grad) != len(p.Data) {
			panic(fmt.Sprintf("optim.%s: parameter %d %v has %d gradient values for %d weights", who, k, p.Shape, len(p.Grad), len(p.Data)))
		}
	}
}

// ZeroGrad clears the gradients of params.
func ZeroGrad(params []*tensor.Tensor) {
	for _, p := range params {
		p.ZeroGrad()
	}
}
