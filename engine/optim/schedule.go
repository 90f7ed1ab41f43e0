package optim

import "math"

// Schedule gives the learning rate for a step. Steps count from 0, the
// first update.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant float64

// LR returns c whatever the step.
func (c Constant) LR(int) float64 { return float64(c) }

// WarmupCosine ramps the rate linearly up to Peak over Warmup steps, then
// follows half a cosine down to Floor at step Total and stays there. The
// warm-up keeps Adam's early, poorly estimated second moments from causing
// huge first updates; the cosine spends most of the run near the peak and
// anneals smoothly at the end.
type WarmupCosine struct {
	Peak, Floor   float64
	Warmup, Total int
}

// LR is Peak·(step+1)/Warmup during warm-up (so step 0 already trains and
// step Warmup-1 reaches Peak), then
// Floor + (Peak-Floor)·(1+cos(π·(step-Warmup)/(Total-Warmup)))/2.
func (s WarmupCosine) LR(step int) float64 {
	step = max(step, 0)
	if step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	if step >= s.Total {
		return s.Floor
	}
	p := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	return s.Floor + (s.Peak-s.Floor)*0.5*(1+math.Cos(math.Pi*p))
}

// StepDecay multiplies the rate by Gamma every Every steps:
// Base·Gamma^⌊step/Every⌋. Every ≤ 0 means never.
type StepDecay struct {
	Base, Gamma float64
	Every       int
}

// LR returns the decayed rate for step.
func (s StepDecay) LR(step int) float64 {
	if s.Every <= 0 || step < 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.Every))
}
