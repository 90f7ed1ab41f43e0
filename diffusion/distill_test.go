package diffusion

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// tinyStudent is a trainer distilling a tiny random teacher into another
// tiny random model (a copy of a random teacher already jumps close to
// its own answer, which would leave the test little to see).
func tinyStudent(t *testing.T) *Trainer {
	t.Helper()
	teacher, student := tinySR(t, 5), tinySR(t, 6)
	o := DefaultDistillOptions()
	o.Steps, o.Crop, o.LR, o.Warmup, o.Seed, o.Batch, o.Pool = 80, 16, 2e-3, 5, 3, 8, 32
	tr, err := NewTrainer(student, synthSet(6, 40, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	tr.Teacher = teacher
	return tr
}

// distillProbe is a fixed batch of the pool's first crops at the
// trainer's current step, so a before/after comparison sees the same
// teacher states and targets.
func distillProbe(t *testing.T, tr *Trainer) batch {
	t.Helper()
	if err := tr.refresh(tr.Step); err != nil {
		t.Fatal(err)
	}
	p, n := tr.pool, tr.Opt.Batch
	side := tr.Opt.Crop / tr.SR.AE.Config.Factor()
	c := tr.SR.AE.Config.LatentCh
	b := batch{z0: tensor.New(n, side, side, c), cond: tensor.New(n, side, side, c)}
	slots := make([]int, n)
	for i := range slots {
		slots[i] = i
		copy(b.cond.Data[i*p.perLat:(i+1)*p.perLat], p.cond[i*p.perLat:])
	}
	tr.distillBatch(rand.New(rand.NewPCG(9, 9)), &b, slots)
	return b
}

// TestDistillStates: at T−1 the student's input is the teacher's starting
// noise itself, and at every step the state lies on the DDIM line between
// the teacher's answer and that same implied noise.
func TestDistillStates(t *testing.T) {
	tr := tinyStudent(t)
	if err := tr.refresh(0); err != nil {
		t.Fatal(err)
	}
	p, sc := tr.pool, tr.SR.Sched
	side := tr.Opt.Crop / tr.SR.AE.Config.Factor()
	c := tr.SR.AE.Config.LatentCh
	aT, sT := sc.Coefs(sc.T() - 1)
	for k := range 16 {
		b := batch{z0: tensor.New(1, side, side, c)}
		tr.distillBatch(rand.New(rand.NewPCG(1, uint64(k))), &b, []int{3})
		a, s := sc.Coefs(b.ts[0])
		for j, end := range p.end[3*p.perLat : 4*p.perLat] {
			if b.z0.Data[j] != end {
				t.Fatal("the target is not the teacher's answer")
			}
			eps := (float64(p.start[3*p.perLat+j]) - aT*float64(end)) / sT
			if !approxEq(float64(b.zt.Data[j]), a*float64(end)+s*eps, 1e-5) {
				t.Fatalf("t = %d: state %v, want %v", b.ts[0], b.zt.Data[j], a*float64(end)+s*eps)
			}
			if b.ts[0] == sc.T()-1 && !approxEq(float64(b.zt.Data[j]), float64(p.start[3*p.perLat+j]), 1e-5) {
				t.Fatal("at T−1 the state is not the starting noise")
			}
		}
	}
}

// TestCheckStudentOf: a student may start from any model with the
// teacher's configuration and encoder (the teacher itself, or a student of
// it), not from one whose latents differ.
func TestCheckStudentOf(t *testing.T) {
	teacher, other := tinySR(t, 5), tinySR(t, 6)
	tr := tinyStudent(t) // its student is a tiny SR of seed 6 marked Student 4
	if err := teacher.CheckStudentOf(teacher); err != nil {
		t.Errorf("the teacher as its own starting point: %v", err)
	}
	if err := tr.SR.CheckStudentOf(other); err != nil {
		t.Errorf("a student of a model against that model: %v", err)
	}
	if err := other.CheckStudentOf(teacher); err == nil || !strings.Contains(err.Error(), "encoder weight") {
		t.Errorf("another encoder: %v, want refused", err)
	}
	other.Config.Scale = 2
	if err := other.CheckStudentOf(teacher); err == nil || !strings.Contains(err.Error(), "configurations differ") {
		t.Errorf("another configuration: %v, want refused", err)
	}
}

func approxEq(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }

// TestDistillLowersLoss: training brings the student's jumps closer to
// the teacher's answers.
func TestDistillLowersLoss(t *testing.T) {
	tr := tinyStudent(t)
	probe := distillProbe(t, tr)
	loss := func() float64 {
		l, _, _ := tr.loss(nil, probe)
		return float64(l.Data[0])
	}
	before := loss()
	teacherW := append([]float32(nil), tr.Teacher.UNet.Params.Tensors()[0].Data...)
	tp := tensor.NewTape()
	for tr.Step < tr.Opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	after := loss()
	t.Logf("distillation loss %.5f → %.5f over %d steps", before, after, tr.Step)
	if !(before > 0 && after < 0.7*before) {
		t.Fatalf("distillation loss %.5f → %.5f: want below 0.7 of the start", before, after)
	}
	for i, v := range tr.Teacher.UNet.Params.Tensors()[0].Data {
		if v != teacherW[i] {
			t.Fatal("training the student moved the teacher's weights")
		}
	}
}

// TestStudentSampling: a student samples with DDIM at the step counts
// whose timesteps it was distilled at, refuses anything else, and keeps
// that through a save and load.
func TestStudentSampling(t *testing.T) {
	tr := tinyStudent(t)
	s := tr.SR
	if s.Config.Student != 4 {
		t.Fatalf("student config %d, want 4", s.Config.Student)
	}
	for n, want := range map[int]bool{1: true, 2: true, 4: true, 3: false, 8: false} {
		if s.StudentFor(n) != want {
			t.Errorf("StudentFor(%d) = %v, want %v", n, !want, want)
		}
	}
	if tr.Teacher.StudentFor(1) {
		t.Error("a teacher reports itself a student")
	}
	path := filepath.Join(t.TempDir(), "student.safetensors")
	if err := s.Save(path, false, nil); err != nil {
		t.Fatal(err)
	}
	l, err := LoadSR(path)
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultSampleOptions()
	opt.Steps = 2
	if err := l.CheckOptions(opt); err == nil {
		t.Error("a student accepted DPM-Solver")
	}
	opt.Sampler = SamplerDDIM
	if err := l.CheckOptions(opt); err != nil {
		t.Errorf("a student refused DDIM in 2 steps: %v", err)
	}
	for _, bad := range []func(*SampleOptions){
		func(o *SampleOptions) { o.Steps = 3 },
		func(o *SampleOptions) { o.Eta = 1 },
		func(o *SampleOptions) { o.Strength = 0.5 },
	} {
		o := opt
		bad(&o)
		if err := l.CheckOptions(o); err == nil {
			t.Errorf("a student accepted %+v", o)
		}
	}
	// And the latent it samples in one step is finite.
	opt.Steps, opt.Tile = 1, 64
	z, err := l.Latents(t.Context(), synthImage(12, 8, 2), opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range z[0].Z.Data {
		if v != v {
			t.Fatal("NaN in a student's latent")
		}
	}
}

func TestDistillRejects(t *testing.T) {
	s := tinySR(t, 5)
	o := DefaultDistillOptions()
	o.Crop = 16
	o.TeacherSteps = 0
	if _, err := NewTrainer(s, synthSet(6, 40, 1), o); err == nil {
		t.Error("a teacher of 0 steps accepted")
	}
	o = DefaultDistillOptions()
	o.Crop, o.Align = 16, true
	if _, err := NewTrainer(s, synthSet(6, 40, 1), o); err == nil {
		t.Error("distillation and alignment accepted together")
	}
	o = DefaultDistillOptions()
	o.Crop = 16
	tr, err := NewTrainer(s, synthSet(6, 40, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(tensor.NewTape()); err == nil {
		t.Error("distillation ran without a teacher")
	}
}

// TestDistillResumeIsExact: the teacher's answers follow from (seed, crop)
// alone, so a resumed student continues bit for bit.
func TestDistillResumeIsExact(t *testing.T) {
	run := func(tr *Trainer, until int) {
		tp := tensor.NewTape()
		for tr.Step < until {
			if _, err := tr.TrainStep(tp); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := tinyStudent(t)
	run(a, 6)
	b := tinyStudent(t)
	run(b, 3)
	path := filepath.Join(t.TempDir(), "student.train")
	if err := checkpoint.SaveTrain(path, b.State(), false); err != nil {
		t.Fatal(err)
	}
	c, err := Resume(path, b.Data, b.Opt)
	if err != nil {
		t.Fatal(err)
	}
	c.Teacher = b.Teacher
	run(c, 6)
	pa, pc := a.SR.Named(), c.SR.Named()
	for i := range pa {
		for j, v := range pa[i].T.Data {
			if v != pc[i].T.Data[j] {
				t.Fatalf("%s[%d]: uninterrupted %g, resumed %g", pa[i].Name, j, v, pc[i].T.Data[j])
			}
		}
	}
	if c.SR.Config.Student != 4 {
		t.Errorf("resumed student config %d, want 4", c.SR.Config.Student)
	}
	// A stage-2 run cannot resume a student's state.
	opt := b.Opt
	opt.Distill = 0
	if _, err := Resume(path, b.Data, opt); err == nil {
		t.Error("a stage-2 run resumed from a student's state")
	}
}

// TestTeacherSampler: with DDIM the teacher's one-step answer is its x0
// prediction from the starting noise, x0 = (x_T − √(1−ᾱ_T)·ε̂)/√ᾱ_T; over
// four steps DDIM and DPM-Solver answer differently (the option is used);
// a stochastic sampler is refused.
func TestTeacherSampler(t *testing.T) {
	answers := func(sampler string, steps int) *Trainer {
		tr := tinyStudent(t)
		tr.Opt.TeacherSampler, tr.Opt.TeacherSteps = sampler, steps
		if err := tr.refresh(0); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := answers(SamplerDDIM, 1)
	p, sc, te := tr.pool, tr.SR.Sched, tr.Teacher
	side := tr.Opt.Crop / tr.SR.AE.Config.Factor()
	c := tr.SR.AE.Config.LatentCh
	x, cond := tensor.New(1, side, side, c), tensor.New(1, side, side, c)
	copy(x.Data, p.start[:p.perLat])
	copy(cond.Data, p.cond[:p.perLat])
	last := sc.T() - 1
	out := te.UNet.Forward(nil, joinBatch(x, cond), []float32{float32(last)})
	te.den().toEps(out.Data, x.Data, last)
	aT, sT := sc.Coefs(last)
	for j, e := range out.Data {
		want := (float64(x.Data[j]) - sT*float64(e)) / aT
		if !approxEq(float64(p.end[j]), want, 1e-4) {
			t.Fatalf("DDIM teacher, one step: answer %v at %d, want %v", p.end[j], j, want)
		}
	}
	ddim, dpm := answers(SamplerDDIM, 4).pool.end, answers(SamplerDPM, 4).pool.end
	differ := false
	for j := range ddim {
		differ = differ || ddim[j] != dpm[j]
	}
	if !differ {
		t.Error("four-step DDIM and DPM-Solver teachers gave the same answers")
	}
	o := DefaultDistillOptions()
	o.Crop, o.TeacherSampler = 16, SamplerDDPM
	if _, err := NewTrainer(tinySR(t, 5), synthSet(6, 40, 1), o); err == nil {
		t.Error("a stochastic teacher sampler accepted")
	}
}

// TestDistillImageTerm: with teacher-image-weight the targets are pixels of
// the decoder's rendering of the teacher's answer at the drawn side, and
// training lowers the image term along with the latent one.
func TestDistillImageTerm(t *testing.T) {
	tr := tinyStudent(t)
	tr.Opt.TeacherImageWeight, tr.Opt.Queries = 10, 20
	probe := distillProbe(t, tr)
	side := tr.Opt.Crop / tr.SR.AE.Config.Factor()
	if probe.size < side || probe.size > tr.Opt.Crop || len(probe.ys) != tr.Opt.Batch*20 {
		t.Fatalf("target side %d (want %d to %d), %d queries", probe.size, side, tr.Opt.Crop, len(probe.ys))
	}
	// Each target is the pixel of the whole rendering at its coordinates.
	c := tr.SR.AE.Config.LatentCh
	per := side * side * c
	for i := range 2 {
		z := tensor.New(1, side, side, c)
		copy(z.Data, probe.z0.Data[i*per:(i+1)*per])
		tr.SR.denormalize(z.Data)
		d, err := tr.SR.AE.NewDecoder(z)
		if err != nil {
			t.Fatal(err)
		}
		img := d.Window(probe.size, probe.size, 0, probe.size, 0, probe.size)
		for j := range 20 {
			q := i*20 + j
			y := int(math.Round(float64((probe.ys[q]+1)*float32(probe.size)/2 - 0.5)))
			x := int(math.Round(float64((probe.xs[q]+1)*float32(probe.size)/2 - 0.5)))
			for ch := range 3 {
				if got, want := probe.target.Data[q*3+ch], img[(y*probe.size+x)*3+ch]; !approxEq(float64(got), float64(want), 1e-5) {
					t.Fatalf("crop %d query %d: target %g, rendering %g at (%d, %d)", i, j, got, want, y, x)
				}
			}
		}
	}
	imageTerm := func() float64 {
		_, _, img := tr.loss(nil, probe)
		return float64(img.Data[0])
	}
	before := imageTerm()
	tp := tensor.NewTape()
	for tr.Step < tr.Opt.Steps {
		if _, err := tr.TrainStep(tp); err != nil {
			t.Fatal(err)
		}
	}
	after := imageTerm()
	t.Logf("image term %.6f → %.6f", before, after)
	if !(before > 0 && after < 0.7*before) {
		t.Fatalf("image term %.6f → %.6f: want below 0.7 of the start", before, after)
	}
}
