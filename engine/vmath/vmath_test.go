package vmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bothPaths runs fn with the assembly kernels on (where the CPU has them)
// and off, so the portable loops are tested on every machine too.
func bothPaths(t *testing.T, fn func(t *testing.T)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, on := range []bool{saved, false} {
		useAVX2 = on
		name := "go"
		if on {
			name = "avx2"
		}
		t.Run(name, fn)
	}
}

// normals returns n normally distributed floats with standard deviation sd.
func normals(rng *rand.Rand, n int, sd float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * sd)
	}
	return x
}

// relErr is |got − want| / |want| in float64.
func relErr(got float32, want float64) float64 { return math.Abs(float64(got)-want) / math.Abs(want) }

func TestExpMatchesMath(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88; x += 0.00731 {
		worst = max(worst, relErr(Exp(float32(x)), math.Exp(float64(float32(x)))))
	}
	if worst > 4e-7 {
		t.Fatalf("Exp: worst relative error %.3g over [−87, 88], want ≤ 4e-7", worst)
	}
	if Exp(0) != 1 {
		t.Fatalf("Exp(0) = %v", Exp(0))
	}
	// Clamped, not overflowed or flushed to zero.
	if e := Exp(1000); math.IsInf(float64(e), 0) || e < 1e38 {
		t.Fatalf("Exp(1000) = %v, want the float32 near e^88", e)
	}
	if e := Exp(-1000); e <= 0 || e > 1e-37 {
		t.Fatalf("Exp(-1000) = %v, want the tiny positive e^−87", e)
	}
}

func TestExpShiftSum(t *testing.T) {
	bothPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for n := 1; n < 70; n++ { // every remainder mod 8, and several blocks
			src := normals(rng, n, 10)
			shift := float32(rng.NormFloat64())
			dst := make([]float32, n)
			sum := ExpShiftSum(dst, src, shift)
			want := 0.0
			for i, v := range src {
				e := math.Exp(float64(v - shift)) // the kernels subtract in float32
				want += e
				if r := relErr(dst[i], e); r > 1e-6 {
					t.Fatalf("n=%d: dst[%d] = %v, want %v (relative error %.2g)", n, i, dst[i], e, r)
				}
			}
			if r := relErr(sum, want); r > 1e-5 {
				t.Fatalf("n=%d: sum %v, want %v", n, sum, want)
			}
		}
	})
}

func TestMaxSoftmaxSiLU(t *testing.T) {
	bothPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for n := 1; n < 70; n++ {
			x := normals(rng, n, 5)
			at := rng.IntN(n)
			x[at] = 40 // the maximum, at every position over the runs
			if m := Max(x); m != 40 {
				t.Fatalf("n=%d: Max = %v, want 40 (at %d)", n, m, at)
			}

			p := make([]float32, n)
			Softmax(p, x)
			total := 0.0
			for i, v := range x {
				want := math.Exp(float64(v) - 40)
				den := 0.0
				for _, u := range x {
					den += math.Exp(float64(u) - 40)
				}
				want /= den
				if math.Abs(float64(p[i])-want) > 1e-6*max(want, 1e-3) {
					t.Fatalf("n=%d: softmax[%d] = %v, want %v", n, i, p[i], want)
				}
				total += float64(p[i])
			}
			if math.Abs(total-1) > 1e-5 {
				t.Fatalf("n=%d: softmax sums to %v", n, total)
			}

			s := make([]float32, n)
			SiLU(s, x)
			for i, v := range x {
				want := float64(v) / (1 + math.Exp(-float64(v)))
				if math.Abs(float64(s[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("n=%d: SiLU(%v) = %v, want %v", n, v, s[i], want)
				}
			}
		}
		// In place, as the tensor ops call them.
		x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
		Softmax(x, x)
		if want := (1 - math.Exp(-1)) / (1 - math.Exp(-9)); math.Abs(float64(x[8])-want) > 1e-6 {
			t.Fatalf("in-place softmax: last = %v, want %v", x[8], want)
		}
	})
}

func BenchmarkSoftmax1024(b *testing.B) {
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%37) * 0.1
	}
	p := make([]float32, 1024)
	b.SetBytes(4 * 1024)
	for range b.N {
		Softmax(p, x)
	}
}

func BenchmarkSiLU4096(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%37)*0.3 - 5
	}
	b.SetBytes(4 * 4096)
	for range b.N {
		SiLU(x[:], x)
	}
}

// The Winograd transform steps, vector body and scalar tail, strided
// vectors, against their matrices Bᵀ and Aᵀ applied in float64.
func TestWinogradSteps(t *testing.T) {
	bt := [6][6]float64{
		{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
	}
	at := [4][6]float64{{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}
	bothPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		const n, ps, qs = 19, 23, 21 // two vector rounds and a tail of 3; strides above n
		p, q, bias := make([]float32, 5*ps+n), make([]float32, 5*qs+n), make([]float32, n)
		for _, v := range [][]float32{p, q, bias} {
			for i := range v {
				v[i] = rng.Float32()*2 - 1
			}
		}
		check := func(name string, rows int, m func(k, j int) float64, b []float32) {
			for k := range rows {
				for i := range n {
					want := 0.0
					for j := range 6 {
						want += m(k, j) * float64(p[j*ps+i])
					}
					if b != nil {
						want += float64(b[i])
					}
					if got := q[k*qs+i]; math.Abs(float64(got)-want) > 1e-5 {
						t.Fatalf("%s: q%d[%d] = %g, want %g", name, k, i, got, want)
					}
				}
			}
		}
		WinogradIn(q, qs, p, ps, n)
		check("WinogradIn", 6, func(k, j int) float64 { return bt[k][j] }, nil)
		WinogradOut(q, qs, p, ps, bias, n)
		check("WinogradOut", 4, func(k, j int) float64 { return at[k][j] }, bias)
	})
}

// TestReLU: max(x, 0) on every length through the vector body and the
// tail, in place and not, with NaN kept, infinities handled and −0 made
// +0 (bit for bit).
func TestReLU(t *testing.T) {
	bothPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for n := 0; n < 40; n++ {
			x := normals(rng, n, 1)
			if n > 3 {
				x[0], x[1], x[2], x[3] = float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.Copysign(0, -1))
			}
			dst := make([]float32, n)
			ReLU(dst, x)
			for i, v := range x {
				want := float32(0)
				if v > 0 || v != v {
					want = v
				}
				if got := dst[i]; math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Fatalf("n=%d: ReLU(%v) = %v, want %v", n, v, got, want)
				}
			}
			ReLU(x, x) // in place
			for i := range x {
				if x[i] != dst[i] && !(x[i] != x[i] && dst[i] != dst[i]) {
					t.Fatalf("n=%d: in place [%d] = %v, want %v", n, i, x[i], dst[i])
				}
			}
		}
	})
}
