// Package tensor holds the engine's float32 tensors, the reverse-mode
// autodiff tape that records operations on them, and the differentiable
// operations the networks are built from.
//
// Images and feature maps are NHWC: batch, height, width, channels, with
// channels innermost, so a pixel's features are contiguous and a 1×1
// convolution is a plain matrix multiply.
//
// A nil *Tape is inference mode: operations compute their outputs and record
// nothing, so the same network code serves training and inference.
package tensor

import (
	"fmt"
	"math"
)

// Tensor is a dense float32 array with a shape. Grad, when gradients are
// tracked, has the same length as Data.
type Tensor struct {
	Shape []int
	Data  []float32
	Grad  []float32

	requiresGrad bool
	pooled       bool // Grad came from a tape's pool and goes back on Reset
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// FromData wraps data (not copied) as a tensor of the given shape.
// It panics if the lengths disagree: that is a programming error.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != numel(shape) {
		panic(fmt.Sprintf("tensor.FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Param returns a zero tensor that gradients are accumulated into: a
// trainable parameter.
func Param(shape ...int) *Tensor {
	t := New(shape...)
	t.requiresGrad = true
	t.Grad = make([]float32, len(t.Data))
	return t
}

// RequiresGrad reports whether gradients flow into t.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad }

// SetRequiresGrad marks t as a leaf that receives gradients (or not).
func (t *Tensor) SetRequiresGrad(v bool) {
	t.requiresGrad = v
	if v && t.Grad == nil {
		t.Grad = make([]float32, len(t.Data))
	}
}

// ZeroGrad clears the accumulated gradient.
func (t *Tensor) ZeroGrad() { clear(t.Grad) }

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy of the values (not the gradient).
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// String prints the shape only: tensors are too big to print.
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// AllFinite reports whether every value of t is finite.
func (t *Tensor) AllFinite() bool {
	for _, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in %v", shape))
		}
		n *= d
	}
	return n
}
