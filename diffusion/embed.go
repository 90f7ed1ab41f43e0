package diffusion

import (
	"math"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// timestepMaxPeriod is the longest wavelength of the embedding, ADM's and
// LDM's max_period.
const timestepMaxPeriod = 10000

// timestepEmbedding returns the sinusoidal embedding of diffusion timesteps
// (which may be fractional) as a [len(t), dim] constant, laid out as the
// ADM/LDM code does so their weights load unchanged: with half = dim/2 and
// frequencies f_i = exp(−ln(10000)·i/half) for i < half, row j is
// [cos(t_j·f_0) … cos(t_j·f_{half−1}), sin(t_j·f_0) … sin(t_j·f_{half−1})],
// plus a trailing zero when dim is odd. It carries no gradient: timesteps
// are inputs, and the learnt part is the MLP that follows.
func timestepEmbedding(t []float32, dim int) *tensor.Tensor {
	if dim < 0 {
		panic("diffusion.timestepEmbedding: negative dim")
	}
	out := tensor.New(len(t), dim)
	half := dim / 2
	freqs := make([]float64, half)
	for i := range freqs {
		// PyTorch holds the frequencies and the products t·f in float32.
		// At t ≈ 1000 the float32 rounding of t·f moves the phase by up to 3e-5,
		// so rounding both here too keeps the embedding next to a PyTorch
		// model's instead of next to the exact value.
		freqs[i] = float64(float32(math.Exp(-math.Log(timestepMaxPeriod) * float64(i) / float64(half))))
	}
	for j, tj := range t {
		row := out.Data[j*dim : (j+1)*dim]
		for i, f := range freqs {
			arg := float64(float32(float64(tj) * f))
			row[i] = float32(math.Cos(arg))
			row[half+i] = float32(math.Sin(arg))
		}
	}
	return out
}
