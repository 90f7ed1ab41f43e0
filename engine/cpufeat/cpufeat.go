// Package cpufeat says which instruction-set extensions the assembly
// kernels of the engine (blas, vmath) may use on this machine.
package cpufeat

// AVX2FMA reports whether the CPU has AVX2 and FMA and the operating
// system saves the YMM registers across context switches: all three are
// needed before an AVX2 kernel may run. It is false off amd64.
var AVX2FMA = hasAVX2FMA()
