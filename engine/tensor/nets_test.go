package tensor

import (
	"math"
	"math/rand/v2"
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

func TestConvMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct{ n, h, w, cin, k, cout, stride, pad int }{
		{1, 5, 7, 3, 3, 4, 1, 1},
		{2, 8, 6, 5, 3, 7, 2, 1},
		{1, 9, 9, 4, 1, 6, 1, 0},
		{2, 6, 5, 3, 1, 2, 2, 0},
		{1, 7, 7, 2, 5, 3, 1, 2},
		{1, 40, 40, 16, 3, 8, 1, 1}, // several im2col blocks
		{1, 8, 8, 3, 3, 4, 2, 0},
	}
	for _, c := range cases {
		x := randTensor(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randTensor(rng, -1, 1, c.k, c.k, c.cin, c.cout)
		b := randTensor(rng, -1, 1, c.cout)
		got := (*Tape)(nil).Conv2D(x, w, b, c.stride, c.pad)
		want := naiveConv(x, w, b, c.stride, c.pad)
		for i, v := range want {
			if math.Abs(float64(got.Data[i])-v) > 1e-4*math.Max(1, math.Abs(v)) {
				t.Fatalf("%+v: element %d = %g, want %g", c, i, got.Data[i], v)
			}
		}
	}
}

func TestConvGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ n, h, w, cin, k, cout, stride, pad int }{
		{2, 5, 4, 3, 3, 2, 1, 1},
		{1, 6, 6, 2, 3, 3, 2, 1},
		{2, 4, 3, 3, 1, 2, 1, 0},
		{1, 5, 5, 2, 3, 2, 1, 0},
	} {
		x := randTensor(rng, -1, 1, c.n, c.h, c.w, c.cin)
		w := randTensor(rng, -1, 1, c.k, c.k, c.cin, c.cout)
		b := randTensor(rng, -1, 1, c.cout)
		gradCheck(t, "Conv2D", []*Tensor{x, w, b}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.Conv2D(x, w, b, c.stride, c.pad) })
	}
}

func TestLinearAndMatMulGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := randTensor(rng, -1, 1, 2, 3, 5)
	w := randTensor(rng, -1, 1, 5, 4)
	b := randTensor(rng, -1, 1, 4)
	gradCheck(t, "Linear", []*Tensor{x, w, b}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.Linear(x, w, b) })
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		a := randTensor(rng, -1, 1, 2, 3, 4)
		bm := randTensor(rng, -1, 1, 2, 4, 5)
		if tr[0] {
			a = randTensor(rng, -1, 1, 2, 4, 3)
		}
		if tr[1] {
			bm = randTensor(rng, -1, 1, 2, 5, 4)
		}
		gradCheck(t, "MatMul", []*Tensor{a, bm}, 1e-2, 2e-3, func(tp *Tape) *Tensor { return tp.MatMul(a, bm, tr[0], tr[1]) })
	}
}

func TestGroupNormGradientsAndValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := randTensor(rng, -2, 3, 2, 3, 4, 6)
	g := randTensor(rng, 0.5, 1.5, 6)
	b := randTensor(rng, -1, 1, 6)
	gradCheck(t, "GroupNorm", []*Tensor{x, g, b}, 1e-2, 3e-3, func(tp *Tape) *Tensor { return tp.GroupNorm(x, 2, g, b, 1e-5) })
	// Without affine, every group of every image has mean 0 and variance 1.
	y := (*Tape)(nil).GroupNorm(x, 3, nil, nil, 0)
	for img := 0; img < 2; img++ {
		for grp := 0; grp < 3; grp++ {
			var s, s2 float64
			for p := 0; p < 12; p++ {
				for ch := grp * 2; ch < grp*2+2; ch++ {
					v := float64(y.Data[(img*12+p)*6+ch])
					s += v
					s2 += v * v
				}
			}
			if m, v := s/24, s2/24-(s/24)*(s/24); math.Abs(m) > 1e-5 || math.Abs(v-1) > 1e-4 {
				t.Fatalf("image %d group %d: mean %g variance %g", img, grp, m, v)
			}
		}
	}
}

func TestAttentionGradientsAndValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	q := randTensor(rng, -1, 1, 2, 5, 4)
	k := randTensor(rng, -1, 1, 2, 5, 4)
	v := randTensor(rng, -1, 1, 2, 5, 4)
	gradCheck(t, "Attention", []*Tensor{q, k, v}, 1e-2, 3e-3, func(tp *Tape) *Tensor { return tp.Attention(q, k, v, 2) })
	s := randTensor(rng, -3, 3, 3, 7)
	gradCheck(t, "Softmax", []*Tensor{s}, 1e-2, 3e-3, func(tp *Tape) *Tensor { return tp.Softmax(s) })

	// Composed from MatMul and Softmax for one head, attention must agree.
	q1, k1, v1 := randTensor(rng, -1, 1, 1, 6, 3), randTensor(rng, -1, 1, 1, 6, 3), randTensor(rng, -1, 1, 1, 6, 3)
	var tp *Tape
	want := tp.MatMul(tp.Softmax(tp.Scale(tp.MatMul(q1, k1, false, true), float32(1/math.Sqrt(3)))), v1, false, false)
	got := tp.Attention(q1, k1, v1, 1)
	for i := range want.Data {
		if math.Abs(float64(got.Data[i]-want.Data[i])) > 1e-5 {
			t.Fatalf("attention element %d: %g, composed %g", i, got.Data[i], want.Data[i])
		}
	}
}
