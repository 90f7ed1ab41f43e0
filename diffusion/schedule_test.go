package diffusion

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func mustSchedule(t *testing.T) *Schedule {
	t.Helper()
	s, err := NewSchedule(DefaultSchedule())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScheduleValues(t *testing.T) {
	s := mustSchedule(t)
	if s.T() != 1000 {
		t.Fatalf("T = %d", s.T())
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.12g, want %.12g", name, got, want)
		}
	}
	near("β_1", s.Beta[0], 0.0015, 1e-15)
	near("β_T", s.Beta[999], 0.0155, 1e-15)
	// √β is linearly spaced.
	step := (math.Sqrt(0.0155) - math.Sqrt(0.0015)) / 999
	for i := 1; i < s.T(); i++ {
		near("√β increment", math.Sqrt(s.Beta[i])-math.Sqrt(s.Beta[i-1]), step, 1e-12)
	}
	near("ᾱ_1", s.AlphaBar[0], 0.9985, 1e-15)
	// Reference values from an independent float64 evaluation of
	// Π(1 − β_t) with β_t = (√β_1 + (√β_T − √β_1)·t/999)².
	near("ᾱ_500", s.AlphaBar[499], 0.15107742334756707, 1e-12)
	near("ᾱ_T", s.AlphaBar[999], 0.0006686651737398004, 1e-15)
	for i := 1; i < s.T(); i++ {
		if !(s.AlphaBar[i] < s.AlphaBar[i-1]) || !(s.Beta[i] > s.Beta[i-1]) {
			t.Fatalf("not monotone at %d: ᾱ %g → %g, β %g → %g", i, s.AlphaBar[i-1], s.AlphaBar[i], s.Beta[i-1], s.Beta[i])
		}
	}
	near("SNR(0)", s.SNR(0), 0.9985/0.0015, 1e-9)
	for _, bad := range []ScheduleConfig{{Steps: 1, BetaStart: 0.1, BetaEnd: 0.2}, {Steps: 10, BetaStart: 0, BetaEnd: 0.2},
		{Steps: 10, BetaStart: 0.3, BetaEnd: 0.2}, {Steps: 10, BetaStart: 0.1, BetaEnd: 1}} {
		if _, err := NewSchedule(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestTimesteps(t *testing.T) {
	s := mustSchedule(t)
	if got := s.Timesteps(4); !slices.Equal(got, []int{999, 749, 499, 249}) {
		t.Fatalf("4 steps: %v", got)
	}
	if got := s.TimestepsFrom(4, 499); !slices.Equal(got, []int{499, 374, 249, 124}) {
		t.Fatalf("4 steps from 499: %v", got)
	}
	if got := s.TimestepsFrom(10, 3); !slices.Equal(got, []int{3, 2, 1, 0}) {
		t.Fatalf("10 steps from 3: %v", got)
	}
	if s.startStep(0) != 999 || s.startStep(1) != 999 || s.startStep(0.3) != 299 {
		t.Fatalf("start steps %d %d %d", s.startStep(0), s.startStep(1), s.startStep(0.3))
	}
	all := s.Timesteps(1000)
	for i, v := range all {
		if v != 999-i {
			t.Fatalf("1000 steps: position %d is %d", i, v)
		}
	}
	for _, n := range []int{1, 3, 7, 50, 200, 999} {
		ts := s.Timesteps(n)
		if len(ts) != n || ts[0] != 999 || ts[n-1] < 0 {
			t.Fatalf("%d steps: %v", n, ts)
		}
		for i := 1; i < n; i++ {
			if ts[i] >= ts[i-1] {
				t.Fatalf("%d steps: not descending: %v", n, ts)
			}
		}
	}
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// Predicting the true noise recovers z0: QSample and PredictX0 are
// inverses at every t, including the noisiest.
func TestQSampleRoundTrip(t *testing.T) {
	s := mustSchedule(t)
	rng := rand.New(rand.NewPCG(1, 1))
	z0, eps := randVec(rng, 256), randVec(rng, 256)
	zt, back := make([]float32, 256), make([]float32, 256)
	for _, ti := range []int{0, 1, 17, 500, 998, 999} {
		s.QSample(zt, z0, eps, ti)
		s.PredictX0(back, zt, eps, ti)
		// Division by √ᾱ_T ≈ 0.026 amplifies float32 rounding of z_t ~40×.
		tol := 2e-6 / math.Sqrt(s.AlphaBar[ti])
		for i := range z0 {
			if d := math.Abs(float64(back[i] - z0[i])); d > tol {
				t.Fatalf("t=%d: element %d: %g, want %g", ti, i, back[i], z0[i])
			}
		}
	}
}

// With an oracle that always predicts the noise actually in x_t, the
// deterministic DDIM chain from any start lands exactly on z0: η = 0 keeps
// x_t on the line between z0 and the initial noise.
func TestDDIMOracleRecoversZ0(t *testing.T) {
	s := mustSchedule(t)
	rng := rand.New(rand.NewPCG(2, 2))
	z0, noise := randVec(rng, 64), randVec(rng, 64)
	for _, steps := range []int{1, 5, 50} {
		ts := s.Timesteps(steps)
		x := make([]float32, 64)
		s.QSample(x, z0, noise, ts[0])
		eps := make([]float32, 64)
		for i, ti := range ts {
			// The oracle: the noise implied by x and the true z0.
			sa, sb := s.Coefs(ti)
			for j := range eps {
				eps[j] = float32((float64(x[j]) - sa*float64(z0[j])) / sb)
			}
			prev := -1
			if i+1 < len(ts) {
				prev = ts[i+1]
			}
			s.DDIMStep(x, eps, ti, prev, 0, func() float64 { t.Fatal("η = 0 drew noise"); return 0 })
		}
		for j := range x {
			if math.Abs(float64(x[j]-z0[j])) > 1e-4 {
				t.Fatalf("%d steps: element %d: %g, want %g", steps, j, x[j], z0[j])
			}
		}
	}
}

// DDPM's posterior step and DDIM with η = 1 are the same distribution,
// written differently; fed the same noise they must agree.
func TestDDPMEqualsDDIMEta1(t *testing.T) {
	s := mustSchedule(t)
	rng := rand.New(rand.NewPCG(3, 3))
	for _, pair := range [][2]int{{999, 749}, {500, 499}, {10, 0}, {249, -1}} {
		x, eps := randVec(rng, 128), randVec(rng, 128)
		a, b := append([]float32(nil), x...), append([]float32(nil), x...)
		r1, r2 := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
		s.DDPMStep(a, eps, pair[0], pair[1], r1.NormFloat64)
		s.DDIMStep(b, eps, pair[0], pair[1], 1, r2.NormFloat64)
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 2e-5*math.Max(1, math.Abs(float64(a[i]))) {
				t.Fatalf("t %d → %d: element %d: DDPM %g, DDIM(η=1) %g", pair[0], pair[1], i, a[i], b[i])
			}
		}
	}
}

// For Gaussian data z0 ~ N(m, v) per element the exact ε-predictor is
// known, E[ε | x_t] = σ_t·(x_t − α_t·m)/(α_t²·v + σ_t²), and so is the
// probability-flow ODE's path from x at T−1: x_t = α_t·m + √(α_t²·v +
// σ_t²)·u with u = (x − α·m)/√(α²·v + σ²) at T−1. Fed that predictor,
// DPM-Solver++(2M) must track the path (checked at the last timestep
// before the clean end, whose jump is first order in both samplers) far
// better than DDIM, its first-order special case, with the same steps; and
// with one step it is DDIM.
func TestDPMSolverBeatsDDIMOnGaussianODE(t *testing.T) {
	s := mustSchedule(t)
	const m, v = 0.7, 0.25
	rng := rand.New(rand.NewPCG(5, 5))
	xT := randVec(rng, 256)
	path := func(u float64, t int) float64 {
		a, b := s.Coefs(t)
		return a*m + math.Sqrt(a*a*v+b*b)*u
	}
	oracle := func(x, eps []float32, t int) {
		a, b := s.Coefs(t)
		for i, xv := range x {
			eps[i] = float32(b * (float64(xv) - a*m) / (a*a*v + b*b))
		}
	}
	// solve runs all but the final step and returns the worst distance to
	// the path at the timestep reached.
	solve := func(steps int, dpm bool) float64 {
		ts := s.Timesteps(steps)
		x := append([]float32(nil), xT...)
		eps, last := make([]float32, len(x)), make([]float32, len(x))
		for i, ti := range ts[:len(ts)-1] {
			oracle(x, eps, ti)
			tLast := -1
			if i > 0 {
				tLast = ts[i-1]
			}
			if dpm {
				s.DPMSolverStep(x, eps, last, ti, tLast, ts[i+1])
			} else {
				s.DDIMStep(x, eps, ti, ts[i+1], 0, nil)
			}
		}
		a, b := s.Coefs(ts[0])
		worst := 0.0
		for i := range x {
			u := (float64(xT[i]) - a*m) / math.Sqrt(a*a*v+b*b)
			worst = max(worst, math.Abs(float64(x[i])-path(u, ts[len(ts)-1])))
		}
		return worst
	}
	// Measured: 5 steps 0.114 against 0.058, 10 steps 0.102 against
	// 0.019, 20 steps 0.077 against 0.0004.
	for _, c := range []struct {
		steps int
		gain  float64
	}{{5, 1.5}, {10, 4}, {20, 50}} {
		d, p := solve(c.steps, false), solve(c.steps, true)
		t.Logf("%d steps: worst distance to the ODE path DDIM %.2e, DPM-Solver++(2M) %.2e", c.steps, d, p)
		if p > d/c.gain {
			t.Errorf("%d steps: DPM-Solver++(2M) error %.3g is not 1/%g of DDIM's %.3g", c.steps, p, c.gain, d)
		}
	}
	// One step, and the final step of any run, are DDIM's.
	x, eps := randVec(rng, 64), randVec(rng, 64)
	a, b := append([]float32(nil), x...), append([]float32(nil), x...)
	s.DDIMStep(a, eps, 749, -1, 0, nil)
	s.DPMSolverStep(b, eps, randVec(rng, 64), 749, 999, -1)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5*math.Max(1, math.Abs(float64(a[i]))) {
			t.Fatalf("final step: element %d: DDIM %g, DPM-Solver %g", i, a[i], b[i])
		}
	}
}
