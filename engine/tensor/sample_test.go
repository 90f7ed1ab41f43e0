package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSampleBicubic(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := randTensor(rng, -1, 1, 2, 4, 5, 3)
	ys := []float32{-0.9, 0.1, 0.7, -0.2, 0.95, -1}
	xs := []float32{0.3, -0.8, 0.05, 0.6, -0.4, 1}
	gradCheck(t, "SampleBicubic", []*Tensor{x}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.SampleBicubic(x, ys, xs) })

	// At pixel centres the interpolant returns the pixel itself.
	var ys2, xs2 []float32
	for range 2 {
		for i := range 4 {
			for j := range 5 {
				ys2 = append(ys2, -1+float32(2*i+1)/4)
				xs2 = append(xs2, -1+float32(2*j+1)/5)
			}
		}
	}
	got := (*Tape)(nil).SampleBicubic(x, ys2, xs2)
	for i, v := range x.Data {
		if math.Abs(float64(got.Data[i]-v)) > 1e-6 {
			t.Fatalf("centre sample %d: %g, want %g", i, got.Data[i], v)
		}
	}
	// Halfway between two pixels of a 1-D ramp in the interior, the cubic is exact for linear data.
	ramp := FromData([]float32{0, 1, 2, 3, 4, 5}, 1, 1, 6, 1)
	mid := (*Tape)(nil).SampleBicubic(ramp, []float32{0}, []float32{-1 + 5.0/6})
	if math.Abs(float64(mid.Data[0])-2) > 1e-6 {
		t.Fatalf("ramp at x=2: %g", mid.Data[0])
	}
}

func TestCropGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x := randTensor(rng, -1, 1, 2, 5, 6, 2)
	gradCheck(t, "Crop", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Crop(x, 1, 2, 3, 3) })
	got := (*Tape)(nil).Crop(x, 1, 2, 3, 3)
	if want := x.Data[((0*5+2)*6+3)*2+1]; got.Data[((0*3+1)*3+1)*2+1] != want {
		t.Fatalf("Crop picked the wrong pixel")
	}
}
