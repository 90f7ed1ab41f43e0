package diffusion

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// A student is an SR model distilled from a teacher for few-step
// sampling. The teacher's sampler (DPM-Solver++(2M), TeacherSteps) is
// deterministic given the initial noise, so each training crop gets one
// teacher trajectory: the noise x_T = τ·ε, the states x_t the trajectory
// passes at the student's timesteps (Timesteps(Student): T−1, ¾T−1, ½T−1,
// ¼T−1 for four), and where it ends, ẑ0. The student learns to predict
// that end from every one of those states: loss ‖ẑ0_student(x_t) − ẑ0‖².
// Sampling it with DDIM (η = 0) on its own timesteps then jumps to the
// teacher's answer in Student steps, or in any count whose timesteps are
// among them (2 and 1 of a four-step student: Timesteps nests them).
// This is regression on the teacher's deterministic pairs (Luhman &
// Luhman 2021), done at every step of the student's grid so one model
// serves 1, 2 and 4 steps.

// DefaultDistillOptions is the student's recipe: four steps (so 2 and 1
// too), a teacher of 8 DPM-Solver steps (its grid holds the student's; the
// model card measures 8 steps within 0.05 dB of the 20-step DDIM
// teacher), τ drawn in [0.7, 1] (the range of the default temperatures),
// and stage 3's learning rate ×10: the student starts from the teacher's
// weights, which already know the data.
func DefaultDistillOptions() TrainOptions {
	o := DefaultTrainOptions()
	o.Distill, o.TeacherSteps, o.TauLo, o.TauHi = 4, 8, 0.7, 1
	o.Steps, o.LR, o.Warmup = 3000, 1e-4, 100
	return o
}

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
	if o.Distill < 1 || o.TeacherSteps < 2 || !subset(s.Sched.Timesteps(o.Distill), s.Sched.Timesteps(o.TeacherSteps)) {
		return fmt.Errorf("train options: a %d-step student needs a teacher whose timesteps include its own (teacher steps %d: use a multiple)", o.Distill, o.TeacherSteps)
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
// writes each crop's states at the student's timesteps into traj
// (n × Distill × per values, in the order of Timesteps(Distill), most
// noised first) and its end into end (n × per).
func (t *Trainer) teacherPaths(cond *tensor.Tensor, first uint64, traj, end []float32) error {
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
	grid := te.Sched.Timesteps(o.Distill)
	at := make(map[int]int, len(grid))
	for k, v := range grid {
		at[v] = k
	}
	noise := make([]func() float64, n)
	for i := range noise {
		noise[i] = func() float64 { return 0 } // DPM-Solver draws none
	}
	opt := SampleOptions{Sampler: SamplerDPM}
	den := te.den()
	ts := make([]float32, n)
	err := den.Reverse(context.Background(), x, te.Sched.Timesteps(o.TeacherSteps), opt, noise, func(step int) ([]float32, error) {
		if k, ok := at[step]; ok {
			for i := range n {
				copy(traj[(i*o.Distill+k)*per:(i*o.Distill+k+1)*per], x.Data[i*per:(i+1)*per])
			}
		}
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
// batch: each crop at one of the student's timesteps, drawn with rng,
// its teacher state as z_t and the teacher's end as the target (in z0).
func (t *Trainer) distillBatch(rng *rand.Rand, b *batch, slots []int) {
	p, k := t.pool, t.Opt.Distill
	grid := t.SR.Sched.Timesteps(k)
	b.ts = make([]int, len(slots))
	b.zt = tensor.New(b.z0.Shape...)
	for i, slot := range slots {
		j := rng.IntN(k)
		b.ts[i] = grid[j]
		copy(b.zt.Data[i*p.perLat:(i+1)*p.perLat], p.traj[(slot*k+j)*p.perLat:])
		copy(b.z0.Data[i*p.perLat:(i+1)*p.perLat], p.end[slot*p.perLat:])
	}
}
