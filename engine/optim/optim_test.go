package optim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

func param(vals ...float32) *tensor.Tensor {
	p := tensor.Param(len(vals))
	copy(p.Data, vals)
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestAdamFirstTwoSteps checks against values worked out by hand from the
// update rule: m̂ = m/(1-β1^t), v̂ = v/(1-β2^t), p -= lr·m̂/(√v̂+ε).
func TestAdamFirstTwoSteps(t *testing.T) {
	p := param(1)
	a := NewAdam([]*tensor.Tensor{p}, AdamConfig())
	p.Grad[0] = 0.5
	a.Step(0.1)
	// m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25: p = 1 - 0.1·0.5/(0.5+1e-8).
	m, v := a.Moments(0)
	if !near(float64(m[0]), 0.05, 1e-8) || !near(float64(v[0]), 0.00025, 1e-10) {
		t.Fatalf("step 1 moments m=%g v=%g", m[0], v[0])
	}
	if !near(float64(p.Data[0]), 0.900000002, 1e-7) {
		t.Fatalf("step 1: p = %.9f", p.Data[0])
	}
	p.Grad[0] = -0.25
	a.Step(0.1)
	// m = 0.045-0.025 = 0.02, v = 0.00024975+0.0000625 = 0.00031225,
	// m̂ = 0.02/0.19 = 0.105263158, v̂ = 0.00031225/0.001999 = 0.156203102,
	// p = 0.900000002 - 0.1·0.105263158/0.395225383 = 0.873366301.
	if !near(float64(m[0]), 0.02, 1e-8) || !near(float64(v[0]), 0.00031225, 1e-10) {
		t.Fatalf("step 2 moments m=%g v=%g", m[0], v[0])
	}
	if !near(float64(p.Data[0]), 0.873366301, 1e-6) {
		t.Fatalf("step 2: p = %.9f", p.Data[0])
	}
	if a.Steps() != 2 {
		t.Fatalf("steps %d", a.Steps())
	}
}

// TestAdamConvergesOnQuadratic minimises Σ s_i (p_i - c_i)² with scales
// spanning four orders of magnitude, which plain SGD at one rate cannot do.
func TestAdamConvergesOnQuadratic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 50
	p := tensor.Param(n)
	c := make([]float64, n)
	s := make([]float64, n)
	for i := range n {
		p.Data[i] = float32(rng.NormFloat64() * 3)
		c[i] = rng.NormFloat64()
		s[i] = math.Pow(10, float64(i%5)-2)
	}
	a := NewAdam([]*tensor.Tensor{p}, AdamConfig())
	sched := WarmupCosine{Peak: 0.1, Floor: 1e-4, Warmup: 10, Total: 3000}
	for step := range 3000 {
		for i := range n {
			p.Grad[i] = float32(2 * s[i] * (float64(p.Data[i]) - c[i]))
		}
		a.Step(sched.LR(step))
		a.ZeroGrad()
	}
	for i := range n {
		if !near(float64(p.Data[i]), c[i], 1e-3) {
			t.Fatalf("p[%d] = %g, want %g (scale %g)", i, p.Data[i], c[i], s[i])
		}
	}
}

func TestAdamWDecoupledDecay(t *testing.T) {
	p := param(2, -4)
	bias := param(3)
	a := NewAdam([]*tensor.Tensor{p, bias}, AdamWConfig(0.1))
	a.SetDecay(1, false)
	// With zero gradients the moments stay zero, so only the decay acts:
	// after n steps p = p0·(1 - lr·wd)^n exactly as the formula says.
	for range 5 {
		a.Step(0.5)
	}
	want := math.Pow(1-0.5*0.1, 5)
	if !near(float64(p.Data[0]), 2*want, 1e-6) || !near(float64(p.Data[1]), -4*want, 1e-6) {
		t.Fatalf("decayed to %v, want %g·[2 -4]", p.Data, want)
	}
	if bias.Data[0] != 3 {
		t.Fatalf("exempt parameter changed to %g", bias.Data[0])
	}

	// Coupled (L2) decay goes through the adaptive step instead: with zero
	// data gradient the first update is lr·sign(p), independent of wd.
	q := param(2)
	c := AdamConfig()
	c.WeightDecay = 0.1
	NewAdam([]*tensor.Tensor{q}, c).Step(0.5)
	if !near(float64(q.Data[0]), 1.5, 1e-6) {
		t.Fatalf("L2-coupled step gave %g, want 1.5", q.Data[0])
	}
}

func TestAdamSkipsNilGrad(t *testing.T) {
	p := tensor.New(3)
	p.Data[0] = 1
	a := NewAdam([]*tensor.Tensor{p}, AdamWConfig(0.5))
	a.Step(1)
	if p.Data[0] != 1 {
		t.Fatal("parameter without gradient was updated")
	}
}

// bigParams makes a model large enough that par.For really splits it, with
// tensor boundaries that do not line up with the split.
func bigParams(seed uint64) []*tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	var ps []*tensor.Tensor
	for _, n := range []int{70001, 0, 3, 40000, 1, 90000} {
		p := tensor.Param(n)
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
			p.Grad[i] = float32(rng.NormFloat64())
		}
		ps = append(ps, p)
	}
	return ps
}

// TestParallelMatchesSerial: the split across cores must not change any bit
// of the update, the norm or the average.
func TestParallelMatchesSerial(t *testing.T) {
	run := func(procs int) ([]*tensor.Tensor, float64, *EMA) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		ps := bigParams(9)
		a := NewAdam(ps, AdamWConfig(0.01))
		e := NewEMA(ps, 0.9)
		cl := NewClipper(ps)
		var norm float64
		for range 3 {
			norm, _ = cl.Clip(100)
			a.Step(1e-2)
			e.Update()
		}
		return ps, norm, e
	}
	ps1, n1, e1 := run(1)
	ps4, n4, e4 := run(4)
	if n1 != n4 {
		t.Fatalf("norm %v with 1 worker, %v with 4", n1, n4)
	}
	for k := range ps1 {
		for i := range ps1[k].Data {
			if ps1[k].Data[i] != ps4[k].Data[i] || e1.Shadow(k)[i] != e4.Shadow(k)[i] {
				t.Fatalf("param %d[%d] differs", k, i)
			}
		}
	}
}

func TestClipNorm(t *testing.T) {
	a := param(0, 0)
	b := param(0)
	copy(a.Grad, []float32{3, 0})
	b.Grad[0] = 4
	skip := tensor.New(2) // no gradient: counts as zero
	ps := []*tensor.Tensor{a, b, skip}
	cl := NewClipper(ps)
	if n := cl.Norm(); n != 5 {
		t.Fatalf("norm %v, want exactly 5", n)
	}
	// Under the limit nothing changes.
	if n, ok := cl.Clip(10); n != 5 || !ok || a.Grad[0] != 3 {
		t.Fatalf("clip(10) = %v %v, grad %v", n, ok, a.Grad)
	}
	n, ok := cl.Clip(1)
	if n != 5 || !ok {
		t.Fatalf("clip(1) = %v %v", n, ok)
	}
	if a.Grad[0] != 0.6 || b.Grad[0] != 0.8 {
		t.Fatalf("clipped grads %v %v, want 0.6 0.8", a.Grad, b.Grad)
	}
	if n := cl.Norm(); !near(n, 1, 1e-7) {
		t.Fatalf("norm after clipping %v", n)
	}
	// Disabled limit: measure only.
	if n, _ := ClipGradNorm(ps, 0); !near(n, 1, 1e-7) {
		t.Fatalf("measure-only norm %v", n)
	}
}

func TestClipNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		a := param(0, 0, 0)
		copy(a.Grad, []float32{3, bad, 4})
		n, ok := ClipGradNorm([]*tensor.Tensor{a}, 1)
		if ok || !(math.IsNaN(n) || math.IsInf(n, 1)) {
			t.Fatalf("grad %g: norm %v ok %v", bad, n, ok)
		}
		if a.Grad[0] != 3 || a.Grad[2] != 4 {
			t.Fatalf("grads were scaled despite non-finite norm: %v", a.Grad)
		}
	}
	// Large finite float32 gradients square beyond float32 but not float64.
	a := param(0, 0)
	copy(a.Grad, []float32{3e30, 4e30})
	if n, ok := ClipGradNorm([]*tensor.Tensor{a}, 1); !ok || !near(n/5e30, 1, 1e-7) {
		t.Fatalf("large grads: %v %v", n, ok)
	}
}

func TestEMADebiasing(t *testing.T) {
	p := param(10, -2)
	e := NewEMA([]*tensor.Tensor{p}, 0.9)
	if s := e.Shadow(0); s[0] != 10 {
		t.Fatalf("shadow before any update %v", s)
	}
	// Step 1: the debiased average of a single sample is that sample.
	copy(p.Data, []float32{4, 1})
	e.Update()
	if s := e.Shadow(0); s[0] != 4 || s[1] != 1 {
		t.Fatalf("after 1 update %v, want [4 1]", s)
	}
	// Step 2: (0.9·0.1·w1 + 0.1·w2)/(1-0.81) = (0.9·w1 + w2)/1.9.
	copy(p.Data, []float32{2, 3})
	e.Update()
	want0, want1 := (0.9*4+2)/1.9, (0.9*1+3)/1.9
	if s := e.Shadow(0); !near(float64(s[0]), want0, 1e-6) || !near(float64(s[1]), want1, 1e-6) {
		t.Fatalf("after 2 updates %v, want [%g %g]", s, want0, want1)
	}

	// Swap twice is the identity, bit for bit; CopyTo sees the average.
	live := append([]float32(nil), p.Data...)
	e.Swap()
	if !near(float64(p.Data[0]), want0, 1e-6) || !e.Swapped() {
		t.Fatalf("swapped params %v", p.Data)
	}
	dst := tensor.New(2)
	if err := e.CopyTo([]*tensor.Tensor{dst}); err != nil || !near(float64(dst.Data[1]), want1, 1e-6) {
		t.Fatalf("CopyTo while swapped: %v %v", dst.Data, err)
	}
	e.Swap()
	if p.Data[0] != live[0] || p.Data[1] != live[1] {
		t.Fatalf("double swap gave %v, want %v", p.Data, live)
	}
	clear(dst.Data)
	if err := e.CopyTo([]*tensor.Tensor{dst}); err != nil || !near(float64(dst.Data[0]), want0, 1e-6) {
		t.Fatalf("CopyTo: %v %v", dst.Data, err)
	}
	if err := e.CopyTo([]*tensor.Tensor{tensor.New(3)}); err == nil {
		t.Fatal("CopyTo accepted a wrong shape")
	}
}

// TestEMAMatchesZeroInitFormula runs many updates against the textbook
// zero-initialised shadow divided by 1-d^t.
func TestEMAMatchesZeroInitFormula(t *testing.T) {
	p := param(0)
	const d = 0.99
	e := NewEMA([]*tensor.Tensor{p}, d)
	var raw float64
	for i := 1; i <= 500; i++ {
		w := math.Sin(float64(i) / 7)
		p.Data[0] = float32(w)
		e.Update()
		raw = d*raw + (1-d)*float64(p.Data[0])
		if want := raw / (1 - math.Pow(d, float64(i))); !near(float64(e.Shadow(0)[0]), want, 1e-5) {
			t.Fatalf("update %d: %g, want %g", i, e.Shadow(0)[0], want)
		}
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{Constant(3e-4), 0, 3e-4},
		{Constant(3e-4), 1e6, 3e-4},
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 0, 0.25},
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 3, 1},
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 4, 1},
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 9, 0.55}, // halfway: mean of peak and floor
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 14, 0.1},
		{WarmupCosine{Peak: 1, Floor: 0.1, Warmup: 4, Total: 14}, 100, 0.1},
		{WarmupCosine{Peak: 2, Floor: 0, Warmup: 0, Total: 3}, 0, 2},
		{WarmupCosine{Peak: 2, Floor: 0, Warmup: 0, Total: 3}, 1, 1.5}, // (1+cos(π/3))/2 = 0.75
		{StepDecay{Base: 1, Gamma: 0.5, Every: 10}, 9, 1},
		{StepDecay{Base: 1, Gamma: 0.5, Every: 10}, 10, 0.5},
		{StepDecay{Base: 1, Gamma: 0.5, Every: 10}, 35, 0.125},
		{StepDecay{Base: 1, Gamma: 0.5}, 35, 1},
	}
	for _, c := range cases {
		if got := c.s.LR(c.step); !near(got, c.want, 1e-12) {
			t.Errorf("%#v.LR(%d) = %g, want %g", c.s, c.step, got, c.want)
		}
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	ps := []*tensor.Tensor{param(1, 2, 3), param(4)}
	a := NewAdam(ps, AdamWConfig(0.1))
	e := NewEMA(ps, 0.999)
	cl := NewClipper(ps)
	allocs := testing.AllocsPerRun(20, func() {
		cl.Clip(1)
		a.Step(1e-3)
		e.Update()
		a.ZeroGrad()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per step", allocs)
	}
}

func BenchmarkAdamStep(b *testing.B) {
	ps := bigParams(1)
	for range 10 {
		ps = append(ps, bigParams(2)...)
	}
	a := NewAdam(ps, AdamWConfig(0.01))
	b.SetBytes(int64(a.total()) * 16)
	b.ResetTimer()
	for range b.N {
		a.Step(1e-4)
	}
}
