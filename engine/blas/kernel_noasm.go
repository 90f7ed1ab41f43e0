//go:build !amd64

package blas

// asmKernel is nil off amd64: there is no assembly micro-kernel for other
// architectures, so the generic one runs.
var asmKernel *kernel
