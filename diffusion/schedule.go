package diffusion

import (
	"fmt"
	"math"
)

// ScheduleConfig is the forward process, stored with the model.
type ScheduleConfig struct {
	Steps     int     `json:"steps"`      // T
	BetaStart float64 `json:"beta_start"` // β_1
	BetaEnd   float64 `json:"beta_end"`   // β_T
}

// DefaultSchedule is LDM's "linear" schedule with the DIV2K SR config's
// endpoints, which the seed paper's release uses.
func DefaultSchedule() ScheduleConfig {
	return ScheduleConfig{Steps: 1000, BetaStart: 0.0015, BetaEnd: 0.0155}
}

// Check rejects schedules whose ᾱ would not decrease strictly inside (0, 1).
func (c ScheduleConfig) Check() error {
	if c.Steps < 2 || c.Steps > 100000 {
		return fmt.Errorf("schedule: steps %d outside [2, 100000]", c.Steps)
	}
	if !(c.BetaStart > 0 && c.BetaEnd < 1 && c.BetaStart <= c.BetaEnd) {
		return fmt.Errorf("schedule: betas %g → %g must satisfy 0 < start ≤ end < 1", c.BetaStart, c.BetaEnd)
	}
	return nil
}

// Schedule holds the per-step quantities of the forward process, in
// float64: ᾱ near 1 and near 0 loses too much in float32 when the samplers
// take ratios and square roots of it. Index t runs from 0 (least noise) to
// T−1 (most), as in the LDM code.
type Schedule struct {
	Config     ScheduleConfig
	Beta       []float64
	AlphaBar   []float64 // ᾱ_t = Π_{s≤t} (1 − β_s)
	sqrtAB     []float64 // √ᾱ_t
	sqrtOneMAB []float64 // √(1 − ᾱ_t)
	snr        []float64 // ᾱ_t / (1 − ᾱ_t)
}

// NewSchedule computes the schedule: √β linearly spaced from √β_1 to √β_T
// (LDM's "linear"), so β grows quadratically.
func NewSchedule(c ScheduleConfig) (*Schedule, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	n := c.Steps
	s := &Schedule{Config: c, Beta: make([]float64, n), AlphaBar: make([]float64, n),
		sqrtAB: make([]float64, n), sqrtOneMAB: make([]float64, n), snr: make([]float64, n)}
	a, b := math.Sqrt(c.BetaStart), math.Sqrt(c.BetaEnd)
	ab := 1.0
	for t := 0; t < n; t++ {
		r := a + (b-a)*float64(t)/float64(n-1)
		s.Beta[t] = r * r
		ab *= 1 - s.Beta[t]
		s.AlphaBar[t] = ab
		s.sqrtAB[t] = math.Sqrt(ab)
		s.sqrtOneMAB[t] = math.Sqrt(1 - ab)
		s.snr[t] = ab / (1 - ab)
	}
	return s, nil
}

// T is the number of diffusion steps.
func (s *Schedule) T() int { return len(s.Beta) }

// SNR is ᾱ_t / (1 − ᾱ_t), the signal-to-noise ratio at step t.
func (s *Schedule) SNR(t int) float64 { return s.snr[t] }

// QSample writes z_t = √ᾱ_t·z0 + √(1−ᾱ_t)·ε into dst (which may alias z0
// or eps), the forward process in closed form.
func (s *Schedule) QSample(dst, z0, eps []float32, t int) {
	a, b := s.sqrtAB[t], s.sqrtOneMAB[t]
	for i := range dst {
		dst[i] = float32(a*float64(z0[i]) + b*float64(eps[i]))
	}
}

// PredictX0 writes ẑ0 = (z_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t into dst: the clean latent
// implied by a noise prediction. It inverts QSample exactly when ε̂ = ε.
func (s *Schedule) PredictX0(dst, zt, epsHat []float32, t int) {
	a, b := s.sqrtAB[t], s.sqrtOneMAB[t]
	for i := range dst {
		dst[i] = float32((float64(zt[i]) - b*float64(epsHat[i])) / a)
	}
}

// Coefs returns √ᾱ_t and √(1−ᾱ_t), for building the same expressions on a
// tape.
func (s *Schedule) Coefs(t int) (sqrtAlphaBar, sqrtOneMinusAlphaBar float64) {
	return s.sqrtAB[t], s.sqrtOneMAB[t]
}

// alphaBarAt is ᾱ_t, extended with ᾱ_{−1} = 1 (no noise) so the last
// sampling step lands on the clean latent.
func (s *Schedule) alphaBarAt(t int) float64 {
	if t < 0 {
		return 1
	}
	return s.AlphaBar[t]
}
