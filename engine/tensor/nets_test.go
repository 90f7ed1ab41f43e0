package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// naiveConv is the textbook six-loop convolution, in float64.
func naiveConv(x, w, b *Tensor, stride, pad int) []float64 {
	n, h, wd, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	kh, kw, cout := w.Shape[0], w.Shape[1], w.Shape[3]
	oh, ow := (h+2*pad-kh)/stride+1, (wd+2*pad-kw)/stride+1
	out := make([]float64, n*oh*ow*cout)
	for b0 := 0; b0 < n; b0++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for co := 0; co < cout; co++ {
					var s float64
					if b != nil {
						s = float64(b.Data[co])
					}
					for ky := 0; ky < kh; ky++ {
						for kx := 0; kx < kw; kx++ {
							iy, ix := oy*stride-pad+ky, ox*stride-pad+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							for ci := 0; ci < cin; ci++ {
								s += float64(x.Data[((b0*h+iy)*wd+ix)*cin+ci]) * float64(w.Data[((ky*kw+kx)*cin+ci)*cout+co])
							}
						}
					}
					out[((b0*oh+oy)*ow+ox)*cout+co] = s
				}
			}
		}
	}
	return out
}

// convPaths runs f once on the default convolution paths (row-expanded for
// stride 1) and once with everything forced through im2col.
func convPaths(t *testing.T, f func(t *testing.T)) {
	defer func(v bool) { im2colOnly = v }(im2colOnly)
	for _, only := range []bool{false, true} {
		im2colOnly = only
		name := "default"
		if only {
			name = "im2col"
		}
		t.Run(name, f)
	}
}

// convCase is a convolution test shape: n images of h×w×cin, a k×k kernel
// to cout channels.
type convCase struct{ n, h, w, cin, k, cout, stride, pad int }

// tensors draws the input, kernel and bias of c, uniform in [−1, 1).
func (c convCase) tensors(rng *rand.Rand) (x, w, b *Tensor) {
	return randTensor(rng, -1, 1, c.n, c.h, c.w, c.cin), randTensor(rng, -1, 1, c.k, c.k, c.cin, c.cout), randTensor(rng, -1, 1, c.cout)
}

func TestConvMatchesNaive(t *testing.T) {
	cases := []convCase{
		{1, 5, 7, 3, 3, 4, 1, 1},
		{2, 8, 6, 5, 3, 7, 2, 1},
		{1, 9, 9, 4, 1, 6, 1, 0},
		{2, 6, 5, 3, 1, 2, 2, 0},
		{1, 7, 7, 2, 5, 3, 1, 2},
		{1, 40, 40, 16, 3, 8, 1, 1}, // several im2col blocks
		{1, 8, 8, 3, 3, 4, 2, 0},
		{1, 6, 9, 3, 3, 2, 1, 0},    // no padding: output narrower than input
		{2, 7, 5, 4, 3, 3, 1, 3},    // padding wider than the kernel
		{3, 70, 9, 5, 3, 300, 1, 1}, // several row blocks per image
		{1, 5, 300, 90, 3, 4, 1, 1}, // rows too wide for the block budget: one-row blocks
		{2, 37, 41, 33, 3, 40, 1, 1},
	}
	convPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, c := range cases {
			x, w, b := c.tensors(rng)
			for _, bias := range []*Tensor{b, nil} {
				got := (*Tape)(nil).Conv2D(x, w, bias, c.stride, c.pad)
				want := naiveConv(x, w, bias, c.stride, c.pad)
				for i, v := range want {
					if math.Abs(float64(got.Data[i])-v) > 1e-4*math.Max(1, math.Abs(v)) {
						t.Fatalf("%+v bias %v: element %d = %g, want %g", c, bias != nil, i, got.Data[i], v)
					}
				}
			}
		}
	})
}

func TestConvGradients(t *testing.T) {
	cases := []convCase{
		{2, 5, 4, 3, 3, 2, 1, 1},
		{1, 6, 6, 2, 3, 3, 2, 1},
		{2, 4, 3, 3, 1, 2, 1, 0},
		{1, 5, 5, 2, 3, 2, 1, 0},
		{1, 4, 5, 2, 3, 3, 1, 3}, // padding wider than the kernel: col2im input gradient
	}
	convPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, c := range cases {
			x, w, b := c.tensors(rng)
			gradCheck(t, "Conv2D", []*Tensor{x, w, b}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.Conv2D(x, w, b, c.stride, c.pad) })
		}
	})
}

// TestConvPathsAgree checks the row-expanded gradients against im2col on
// shapes too big for finite differences: several images and several blocks
// per image, so block and image boundaries are exercised, and with and
// without each input needing a gradient.
func TestConvPathsAgree(t *testing.T) {
	defer func(v bool) { im2colOnly = v }(im2colOnly)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range []convCase{
		{3, 45, 23, 32, 3, 48, 1, 1},
		{2, 19, 30, 40, 3, 5, 1, 1},
		{2, 12, 14, 36, 5, 33, 1, 2}, // 5×5 kernel
		{1, 80, 9, 33, 3, 300, 1, 1},
		{2, 3, 280, 100, 3, 7, 1, 1}, // one-row blocks
		{2, 11, 13, 34, 3, 35, 1, 0},
	} {
		x, w, b := c.tensors(rng)
		for _, grads := range [][3]bool{{true, true, true}, {false, true, true}, {true, false, false}, {false, false, true}} {
			var res [2][4][]float32 // per path: out, dx, dw, db
			for p, only := range []bool{false, true} {
				im2colOnly = only
				for k, in := range []*Tensor{x, w, b} {
					in.requiresGrad = grads[k]
					in.Grad = nil
					if grads[k] {
						in.Grad = make([]float32, in.Len())
						for i := range in.Grad {
							in.Grad[i] = 0.5 // gradients must accumulate, not overwrite
						}
					}
				}
				tp := NewTape()
				out := tp.Conv2D(x, w, b, c.stride, c.pad)
				seed := make([]float32, out.Len())
				srng := rand.New(rand.NewPCG(1, 1))
				for i := range seed {
					seed[i] = srng.Float32()*2 - 1
				}
				tp.BackwardWith(out, seed)
				res[p] = [4][]float32{out.Data, x.Grad, w.Grad, b.Grad}
			}
			for k, name := range []string{"out", "dx", "dw", "db"} {
				a, e := res[0][k], res[1][k]
				if len(a) != len(e) {
					t.Fatalf("%+v grads %v: %s lengths %d and %d", c, grads, name, len(a), len(e))
				}
				for i := range a {
					if math.Abs(float64(a[i]-e[i])) > 2e-4*math.Max(1, math.Abs(float64(e[i]))) {
						t.Fatalf("%+v grads %v: %s[%d] = %g, im2col %g", c, grads, name, i, a[i], e[i])
					}
				}
			}
		}
	}
}

// TestConvWeightGradDeterministic checks that the weight and bias
// gradients, summed from per-group partials that cores claim in whatever
// order they get to them, come out bit for bit the same on every run and
// with one core or several.
func TestConvWeightGradDeterministic(t *testing.T) {
	defer func(v bool) { im2colOnly = v }(im2colOnly)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(15, 16))
	// Tall enough for several row blocks, and im2col chunks, per image.
	x := randTensor(rng, -1, 1, 3, 300, 37, 16)
	w := randTensor(rng, -1, 1, 3, 3, 16, 24)
	b := randTensor(rng, -1, 1, 24)
	w.SetRequiresGrad(true)
	b.SetRequiresGrad(true)
	for _, stride := range []int{1, 2} {
		seed := randTensor(rng, -1, 1, 3, (300-1)/stride+1, (37-1)/stride+1, 24).Data
		var want []float32
		for run, procs := range []int{1, 2, 4, 2, 1} {
			runtime.GOMAXPROCS(procs)
			w.ZeroGrad()
			b.ZeroGrad()
			tp := NewTape()
			tp.BackwardWith(tp.Conv2D(x, w, b, stride, 1), seed)
			got := append(append([]float32(nil), w.Grad...), b.Grad...)
			if run == 0 {
				want = got
				continue
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("stride %d, GOMAXPROCS %d: gradient element %d = %x, first run %x", stride, procs, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
		}
	}
}
