package diffusion

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
)

// A student is an SR model distilled from a teacher for few-step
// sampling. The teacher's sampler (TeacherSampler in TeacherSteps: by
// default DPM-Solver++(2M) in 10, the product's default before the
// student; or DDIM at η = 0) is deterministic given the initial noise, so each
// training crop gets one teacher answer: from x_T = τ·ε to ẑ0. The student
// learns to predict that ẑ0 at each of its own timesteps (Timesteps(
// Student): T−1, ¾T−1, ½T−1, ¼T−1 for four) from the state its own DDIM
// sampler would be in there had every earlier step predicted ẑ0 exactly:
// x_t = √ᾱ_t·ẑ0 + √(1−ᾱ_t)·ε̂ with ε̂ = (x_T − √ᾱ_T·ẑ0)/√(1−ᾱ_T), the
// same ε̂ at every step (deterministic DDIM keeps it), and x_T itself at
// T−1. Loss ‖ẑ0_student(x_t, t) − ẑ0‖². Sampling it with DDIM (η = 0) on
// its own timesteps, or on any count whose timesteps are among them (2
// and 1 of a four-step student: Timesteps nests them), jumps to the
// teacher's answer.
//
// Why these states and not the teacher's own intermediate ones: a state on
// the teacher's path at ½T holds the blurry estimate the teacher had
// there, while the student's DDIM jump from T already carries the final
// detail; a student trained on the teacher's states adds that detail again
// at every step (measured: 4 steps 0.9 dB below 1 step on held-out crops,
// over-sharpened by eye). Trained on its own sampler's states it is
// consistent with how it is run. This is regression on the teacher's
// deterministic pairs (Luhman & Luhman 2021) at every step of the
// student's grid, so one model serves 1, 2 and 4 steps.

// DefaultDistillOptions is the student's recipe: four steps (so 2 and 1
// too), the default sampler as the teacher (10 DPM-Solver steps), τ drawn
// in [0.7, 1] (the range of the default temperatures), and stage 3's
// learning rate ×5: the student starts from the teacher's weights, which
// already know the data.
func DefaultDistillOptions() TrainOptions {
	o := DefaultTrainOptions()
	o.Distill, o.TeacherSampler, o.TeacherSteps, o.TauLo, o.TauHi = 4, SamplerDPM, DefaultSRSteps, 0.7, 1
	o.Steps, o.LR, o.Warmup = 3000, 1e-4, 100
	return o
}

// DefaultStudentSteps is how many steps a student samples in unless told
// otherwise: the built-in student in 2 DDIM steps matches the 10-step
// teacher on the held-out photos (bsds500test@heldout, PSNR-Y ×4 / ×8 /
// ×12 26.600 / 24.119 / 23.023 against 26.612 / 24.123 / 23.031, NIQE
// 5.43 / 7.76 / 8.56 against 5.40 / 7.74 / 8.72) and comes within 0.05 /
// 0.12 dB of it on whole Set14 / Set5 ×4 with lower NIQE (5.43 / 6.62
// against 5.49 / 6.78), in under half its time. 4 steps is no better
// (whole Set5 ×4 30.02 against 2 steps' 30.11) and 1 step loses 0.1–0.2 dB
// more.
const DefaultStudentSteps = 2

// checkDistill refuses distillation settings no run can use.
func (o TrainOptions) checkDistill(s *SR) error {
	if o.Distill == 0 {
		return nil
	}
	if o.Align {
		return fmt.Errorf("train options: a run distils or aligns, not both")
	}
	if s.Config.Generator {
		return fmt.Errorf("train options: distillation is for super-resolution models")
	}
	if o.Distill < 1 || o.Distill > s.Sched.T() || o.TeacherSteps < 1 || o.TeacherSteps > s.Sched.T() {
		return fmt.Errorf("train options: student steps %d, teacher steps %d: want both in [1, %d]", o.Distill, o.TeacherSteps, s.Sched.T())
	}
	if o.TeacherSampler != SamplerDPM && o.TeacherSampler != SamplerDDIM {
		return fmt.Errorf("train options: teacher sampler %q: want %s or %s, the deterministic ones", o.TeacherSampler, SamplerDPM, SamplerDDIM)
	}
	if !(o.TauLo >= 0 && o.TauLo <= o.TauHi && o.TauHi <= 2) {
		return fmt.Errorf("train options: teacher noise temperature range [%v, %v]: want 0 ≤ lo ≤ hi ≤ 2", o.TauLo, o.TauHi)
	}
	return nil
}

// subset reports whether every element of a is in b.
func subset(a, b []int) bool {
	in := make(map[int]bool, len(b))
	for _, v := range b {
		in[v] = true
	}
	for _, v := range a {
		if !in[v] {
			return false
		}
	}
	return true
}

// StudentFor reports whether s is a student that can sample in n steps:
// its timesteps for n are among those it was distilled at.
func (s *SR) StudentFor(n int) bool {
	return s.Config.Student > 0 && n >= 1 && subset(s.Sched.Timesteps(n), s.Sched.Timesteps(s.Config.Student))
}

// checkStudent refuses sampling a student any other way than it was
// distilled for: DDIM, η = 0, from pure noise, at a step count it serves.
func (o *SampleOptions) checkStudent(s *SR) error {
	if s.Config.Student == 0 {
		return nil
	}
	if o.Sampler != SamplerDDIM || o.Eta != 0 || (o.Strength > 0 && o.Strength < 1) || !s.StudentFor(o.Steps) {
		return fmt.Errorf("a student distilled for %d steps samples with %s, η = 0, from pure noise, in a number of steps whose timesteps are among its own (%v); got %s, η = %g, strength %g, %d steps",
			s.Config.Student, SamplerDDIM, s.Sched.Timesteps(s.Config.Student), o.Sampler, o.Eta, o.Strength, o.Steps)
	}
	return nil
}

// trajSalt separates the teacher's noise generators from the crops'.
const trajSalt = 0x7eac4e5

// teacherPaths runs the teacher from fresh noise for n crops whose
// conditions are cond [n,h,w,C] (crop numbers first, first+1, …), and
// writes each crop's starting noise x_T into start and its answer ẑ0 into
// end (n × per values each).
func (t *Trainer) teacherPaths(cond *tensor.Tensor, first uint64, start, end []float32) error {
	o, te := t.Opt, t.Teacher
	n := cond.Shape[0]
	per := cond.Len() / n
	x := tensor.New(cond.Shape...)
	for i := range n {
		rng := rand.New(rand.NewPCG(o.Seed^trajSalt, first+uint64(i)))
		tau := o.TauLo + (o.TauHi-o.TauLo)*rng.Float64()
		for j := range per {
			x.Data[i*per+j] = float32(tau * rng.NormFloat64())
		}
	}
	copy(start, x.Data)
	noise := make([]func() float64, n)
	for i := range noise {
		noise[i] = func() float64 { return 0 } // neither sampler draws any at η = 0
	}
	den := te.den()
	ts := make([]float32, n)
	err := den.Reverse(context.Background(), x, te.Sched.Timesteps(o.TeacherSteps), SampleOptions{Sampler: o.TeacherSampler}, noise, func(step int) ([]float32, error) {
		for i := range ts {
			ts[i] = float32(step)
		}
		out := te.UNet.Forward(nil, joinBatch(x, cond), ts)
		den.toEps(out.Data, x.Data, step)
		return out.Data, nil
	})
	if err != nil {
		return fmt.Errorf("teacher trajectory: %w", err)
	}
	copy(end, x.Data)
	return nil
}

// distillBatch turns the pool slots chosen for a step into the student's
// batch: each crop at one of the student's timesteps t, drawn with rng,
// in the state x_t its DDIM sampler reaches on the way to the teacher's
// answer (see the comment at the top of this file), which is the target
// (in z0).
func (t *Trainer) distillBatch(rng *rand.Rand, b *batch, slots []int) {
	p, sc := t.pool, t.SR.Sched
	grid := sc.Timesteps(t.Opt.Distill)
	aT, sT := sc.Coefs(sc.T() - 1)
	b.ts = make([]int, len(slots))
	b.zt = tensor.New(b.z0.Shape...)
	for i, slot := range slots {
		ti := grid[rng.IntN(len(grid))]
		b.ts[i] = ti
		a, s := sc.Coefs(ti)
		xT, end := p.start[slot*p.perLat:(slot+1)*p.perLat], p.end[slot*p.perLat:(slot+1)*p.perLat]
		zt := b.zt.Data[i*p.perLat : (i+1)*p.perLat]
		for j, e := range end {
			eps := (float64(xT[j]) - aT*float64(e)) / sT
			zt[j] = float32(a*float64(e) + s*eps)
		}
		copy(b.z0.Data[i*p.perLat:(i+1)*p.perLat], end)
	}
	if t.Opt.TeacherImageWeight > 0 {
		t.teacherTargets(rng, b)
	}
}

// teacherTargets draws the student's image-term targets: q random pixels
// per crop of the decoder's rendering of the teacher's answer b.z0 at a
// side log-uniform between the latent's (×1 of the LR) and the crop's.
func (t *Trainer) teacherTargets(rng *rand.Rand, b *batch) {
	n, side := b.z0.Shape[0], b.z0.Shape[1]
	b.size = targetSize(rng, side, t.Opt.Crop)
	q := min(t.Opt.Queries, b.size*b.size)
	b.ys, b.xs = make([]float32, n*q), make([]float32, n*q)
	perm := make([]int, b.size*b.size)
	for i := range n {
		implicit.PickPixels(rng, perm, b.size, nil, b.ys[i*q:(i+1)*q], b.xs[i*q:(i+1)*q], nil)
	}
	b.target = t.SR.renderQueries(nil, b.z0, *b)
}

// CheckStudentOf reports whether s can be trained as a student of
// teacher: the same configuration (its student mark aside) and the same
// encoder weights, so that both read and write the same latents.
func (s *SR) CheckStudentOf(teacher *SR) error {
	a, b := s.Config, teacher.Config
	a.Student, b.Student = 0, 0
	if !reflect.DeepEqual(a, b) {
		return errors.New("student and teacher: their configurations differ")
	}
	if err := s.sameEncoder(teacher.AE); err != nil {
		return fmt.Errorf("student and teacher: %w", err)
	}
	return nil
}
