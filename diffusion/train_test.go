package diffusion

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// fixedLoss is the mean loss of the trainer's current weights over a few
// batches drawn from fixed seeds, so before/after comparisons see the
// same data.
func fixedLoss(t *testing.T, tr *Trainer) float64 {
	t.Helper()
	var sum float64
	const batches = 4
	for k := range batches {
		rng := rand.New(rand.NewPCG(999, uint64(k)))
		b, err := tr.SR.makeBatch(rng, tr.Data, 8, tr.Opt.Crop)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Opt.Align {
			if err := tr.SR.addTargets(rng, &b, targetSize(rng, b.z0.Shape[1], tr.Opt.Crop), tr.Opt.Queries); err != nil {
				t.Fatal(err)
			}
		}
		total, _, _ := tr.loss(nil, b)
		sum += float64(total.Data[0])
	}
	return sum / batches
}

func tinyTrainer(t *testing.T, align bool) *Trainer {
	t.Helper()
	s := tinySR(t, 5)
	data := synthSet(6, 40, 1)
	shift, scale, err := EstimateLatentStats(s.AE, data, 32, 16, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetLatentStats(shift, scale); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(s, data, func() TrainOptions {
		o := trainOpts(120, 16, 2e-3, 5, 3)
		o.Align, o.Queries = align, 64
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTrainingLowersLoss(t *testing.T) {
	for _, pred := range []string{PredictEps, PredictV} {
		t.Run(pred, func(t *testing.T) { testTrainingLowersLoss(t, pred) })
	}
}

func testTrainingLowersLoss(t *testing.T, pred string) {
	tr := tinyTrainer(t, false)
	if err := tr.SR.SetPrediction(pred); err != nil {
		t.Fatal(err)
	}
	lossFalls(t, "ε", tr, 0.8)
}

func TestLatentStatsNormalise(t *testing.T) {
	ae := tinyAE(t, 8)
	data := synthSet(4, 40, 2)
	for _, perChannel := range []bool{true, false} {
		shift, scale, err := EstimateLatentStats(ae, data, 48, 16, 4, perChannel)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(ae, tinyUNet(), DefaultSchedule(), 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetLatentStats(shift, scale); err != nil {
			t.Fatal(err)
		}
		// Re-encode the very crops the statistics came from: normalised,
		// they have zero mean and unit variance (per channel, or overall).
		rng := rand.New(rand.NewPCG(4, 0x5eed))
		x := tensor.New(48, 16, 16, 3)
		for i := range 48 {
			data.Crop(rng, 16, x.Data[i*768:(i+1)*768])
		}
		z := ae.Encode(nil, x)
		s.normalize(z.Data)
		c := 4
		var sum, sq [4]float64
		for i, v := range z.Data {
			sum[i%c] += float64(v)
			sq[i%c] += float64(v) * float64(v)
		}
		n := float64(z.Len() / c)
		if perChannel {
			for ch := range c {
				mean, vr := sum[ch]/n, sq[ch]/n-(sum[ch]/n)*(sum[ch]/n)
				if math.Abs(mean) > 1e-3 || math.Abs(vr-1) > 1e-2 {
					t.Fatalf("channel %d: mean %g, variance %g", ch, mean, vr)
				}
			}
		} else {
			var s1, s2 float64
			for ch := range c {
				s1 += sum[ch]
				s2 += sq[ch]
			}
			mean := s1 / (n * 4)
			if vr := s2/(n*4) - mean*mean; math.Abs(vr-1) > 1e-2 {
				t.Fatalf("global variance %g", vr)
			}
			if shift[0] != 0 {
				t.Fatalf("global normalisation shifted by %g", shift[0])
			}
		}
	}
}

// The alignment loss's gradient flows through the frozen decoder into the
// U-Net (checked against finite differences) and never into the
// auto-encoder, whose weights a step leaves untouched.
func TestAlignmentGradients(t *testing.T) {
	for _, pred := range []string{PredictEps, PredictV} {
		t.Run(pred, func(t *testing.T) { testAlignmentGradients(t, pred) })
	}
}

func testAlignmentGradients(t *testing.T, pred string) {
	tr := tinyTrainer(t, true)
	s := tr.SR
	if err := s.SetPrediction(pred); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 11))
	b, err := s.makeBatch(rng, tr.Data, 4, tr.Opt.Crop)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.addTargets(rng, &b, targetSize(rng, b.z0.Shape[1], tr.Opt.Crop), 16); err != nil {
		t.Fatal(err)
	}
	// Low timesteps make the image term large enough to dominate.
	for i := range b.ts {
		b.ts[i] = []int{5, 40, 200, 900}[i]
		per := b.z0.Len() / 4
		s.Sched.QSample(b.zt.Data[i*per:(i+1)*per], b.z0.Data[i*per:(i+1)*per], b.eps.Data[i*per:(i+1)*per], b.ts[i])
	}
	imageOnly := func(tp *tensor.Tape) *tensor.Tensor {
		_, _, img := tr.loss(tp, b)
		return img
	}
	tp := tensor.NewTape()
	tp.Backward(imageOnly(tp))
	for _, p := range s.AE.Params.List() {
		for _, g := range p.T.Grad {
			if g != 0 {
				t.Fatalf("auto-encoder parameter %s received gradient %g", p.Name, g)
			}
		}
	}
	list := s.UNet.Params.List()
	nonzero := 0
	var picked []*tensor.Tensor
	for pi, p := range list {
		for _, g := range p.T.Grad {
			if g != 0 {
				nonzero++
				break
			}
		}
		if pi%9 == 0 || pi == len(list)-1 {
			picked = append(picked, p.T)
		}
	}
	if nonzero < len(list)*9/10 {
		t.Fatalf("only %d of %d U-Net tensors received a gradient from the image term", nonzero, len(list))
	}
	tp.Reset()
	// The middle element of every ninth U-Net tensor, through decoder and
	// U-Net: at 2 %, relative to at least 1e-3.
	c := tensor.DefaultGradCheck()
	c.Tol, c.FloorAbs = 2e-2, 1e-3
	c.Pick = func(_, n int) []int { return []int{n / 2} }
	r, err := c.Run(picked, imageOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d U-Net tensors have gradient; %d finite-difference checks, max error %.2e", nonzero, len(list), r.Checked, r.MaxErr)
	tr.Adam.ZeroGrad()
	checkAlignStepFreezesAE(t, tr)
}

// checkAlignStepFreezesAE takes one alignment step: the auto-encoder's
// weights stay bit for bit, the U-Net's output layer moves.
func checkAlignStepFreezesAE(t *testing.T, tr *Trainer) {
	t.Helper()
	s, list := tr.SR, tr.SR.UNet.Params.List()
	tp := tensor.NewTape()
	aeBefore := make([][]float32, 0)
	for _, p := range s.AE.Params.List() {
		aeBefore = append(aeBefore, append([]float32(nil), p.T.Data...))
	}
	unetBefore := append([]float32(nil), list[len(list)-1].T.Data...)
	if _, err := tr.TrainStep(tp); err != nil {
		t.Fatal(err)
	}
	for k, p := range s.AE.Params.List() {
		for i, v := range p.T.Data {
			if v != aeBefore[k][i] {
				t.Fatalf("alignment step changed auto-encoder weight %s[%d]", p.Name, i)
			}
		}
	}
	changed := false
	for i, v := range list[len(list)-1].T.Data {
		changed = changed || v != unetBefore[i]
	}
	if !changed {
		t.Fatal("alignment step left the U-Net's output layer unchanged")
	}
}

func TestAlignmentLowersLoss(t *testing.T) {
	tr := tinyTrainer(t, true)
	tr.Opt.Steps = 25
	lossFalls(t, "alignment", tr, 1)
}

// Both parameterisations invert exactly: the true target gives back z0
// through outputCoefs and ε through toEps.
func TestPredictionConversions(t *testing.T) {
	for _, pred := range []string{PredictEps, PredictV} {
		s := tinySR(t, 12)
		if err := s.SetPrediction(pred); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(12, 12))
		z0, eps := randVec(rng, 64), randVec(rng, 64)
		zt, out := make([]float32, 64), make([]float32, 64)
		for _, ti := range []int{0, 250, 999} {
			s.Sched.QSample(zt, z0, eps, ti)
			s.den().Target(out, z0, eps, ti)
			a, b := s.den().outputCoefs(ti)
			for i := range z0 {
				if got := a*float64(zt[i]) + b*float64(out[i]); math.Abs(got-float64(z0[i])) > 1e-4/math.Sqrt(s.Sched.AlphaBar[ti]) {
					t.Fatalf("%s t=%d: ẑ0 %g, z0 %g", pred, ti, got, z0[i])
				}
			}
			s.den().toEps(out, zt, ti)
			for i := range eps {
				if math.Abs(float64(out[i]-eps[i])) > 1e-5 {
					t.Fatalf("%s t=%d: ε̂ %g, ε %g", pred, ti, out[i], eps[i])
				}
			}
		}
	}
	if err := tinySR(t, 1).SetPrediction("x0"); err == nil {
		t.Fatal("prediction x0 accepted")
	}
}

func TestAlignWeightIsCapped(t *testing.T) {
	s := mustSchedule(t)
	for _, ti := range []int{0, 10, 100, 500, 999} {
		w := alignWeight(s.SNR(ti), 5)
		if w > 5 || w <= 0 || (s.SNR(ti) < 5 && w != s.SNR(ti)) {
			t.Fatalf("t=%d: SNR %g, weight %g", ti, s.SNR(ti), w)
		}
	}
}

// Stopping, saving and resuming gives the same weights as never stopping,
// with fresh batches every step and with the crop pool.
func TestResumeIsExact(t *testing.T) {
	for _, reuse := range []int{1, 3} {
		dir := t.TempDir()
		run := func(tr *Trainer, until int) {
			tp := tensor.NewTape()
			for tr.Step < until {
				if _, err := tr.TrainStep(tp); err != nil {
					t.Fatal(err)
				}
			}
		}
		mk := func() *Trainer {
			tr := tinyTrainer(t, false)
			tr.Opt.Batch, tr.Opt.Reuse, tr.Opt.Pool = 4, reuse, 12
			tr2, err := NewTrainer(tr.SR, tr.Data, tr.Opt)
			if err != nil {
				t.Fatal(err)
			}
			return tr2
		}
		a := mk()
		run(a, 9)

		b := mk()
		run(b, 5)
		path := filepath.Join(dir, "state.train")
		if err := checkpoint.SaveTrain(path, b.State(), false); err != nil {
			t.Fatal(err)
		}
		c, err := Resume(path, b.Data, b.Opt)
		if err != nil {
			t.Fatal(err)
		}
		if c.Step != 5 {
			t.Fatalf("resumed at step %d", c.Step)
		}
		run(c, 9)
		pa, pc := a.SR.Named(), c.SR.Named()
		for i := range pa {
			for j, v := range pa[i].T.Data {
				if v != pc[i].T.Data[j] {
					t.Fatalf("reuse %d: %s[%d]: uninterrupted %g, resumed %g", reuse, pa[i].Name, j, v, pc[i].T.Data[j])
				}
			}
		}
		for i := range a.EMA.Params() {
			sa, sc := a.EMA.Shadow(i), c.EMA.Shadow(i)
			for j := range sa {
				if sa[j] != sc[j] {
					t.Fatalf("reuse %d: EMA tensor %d differs after resume", reuse, i)
				}
			}
		}
		// An alignment run cannot resume from a stage-2 state.
		opt := b.Opt
		opt.Align = true
		if _, err := Resume(path, b.Data, opt); err == nil {
			t.Fatal("alignment resumed from a stage-2 state")
		}
	}
}

// With Reuse 1 every step sees Batch crops never seen before; with a pool
// each crop is used about Reuse times.
func TestPoolReuse(t *testing.T) {
	for _, reuse := range []int{1, 4} {
		tr := tinyTrainer(t, false)
		opt := tr.Opt
		opt.Batch, opt.Reuse, opt.Pool = 8, reuse, 64
		tr, err := NewTrainer(tr.SR, tr.Data, opt)
		if err != nil {
			t.Fatal(err)
		}
		uses := map[int]int{}
		const steps = 64
		for tr.Step = 0; tr.Step < steps; tr.Step++ {
			b, err := tr.nextBatch()
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range b.crops {
				uses[g]++
			}
		}
		mean := float64(8*steps) / float64(len(uses))
		t.Logf("reuse %d: %d distinct crops in %d draws (%.2f uses each)", reuse, len(uses), 8*steps, mean)
		if reuse == 1 && len(uses) != 8*steps {
			t.Fatalf("reuse 1 repeated crops: %d distinct in %d", len(uses), 8*steps)
		}
		if reuse == 4 && (mean < 2 || mean > 6) {
			t.Fatalf("reuse 4 used each crop %.2f times", mean)
		}
	}
}

// With MaxScale above the model's scale, alignment batches reach targets
// beyond the crop, drawn only from wide crops whose HR covers them, and
// the wide crops are the share asked for; training on them still lowers
// the loss.
func TestAlignmentWideTargets(t *testing.T) {
	base := tinyTrainer(t, true)
	opt := base.Opt
	opt.MaxScale, opt.Pool, opt.Steps = 8, 64, 25 // crop 16, LR 4: wide crops of 32
	tr, err := NewTrainer(base.SR, base.Data, opt)
	if err != nil {
		t.Fatal(err)
	}
	beyond, within := 0, 0
	for tr.Step = 0; tr.Step < 40; tr.Step++ {
		b, err := tr.nextBatch()
		if err != nil {
			t.Fatal(err)
		}
		if b.size > opt.Crop {
			beyond++
		} else {
			within++
		}
		for i, sd := range b.sides {
			if sd < b.size || (sd != opt.Crop && sd != 32) || len(b.hr[i]) != sd*sd*3 {
				t.Fatalf("step %d: target %d px from a %d-px crop (%d values)", tr.Step, b.size, sd, len(b.hr[i]))
			}
		}
	}
	wide := 0
	for _, sd := range tr.pool.sides {
		if sd == 32 {
			wide++
		}
	}
	t.Logf("%d batches beyond the crop, %d within; %d of %d pool crops wide", beyond, within, wide, len(tr.pool.sides))
	if beyond == 0 || within == 0 || wide < len(tr.pool.sides)/4 || wide > 3*len(tr.pool.sides)/4 {
		t.Fatalf("%d batches beyond the crop, %d within; %d of %d crops wide", beyond, within, wide, len(tr.pool.sides))
	}
	tr.Step = 0
	if before, after := trainLosses(t, tr); !(after < before) {
		t.Fatalf("wide alignment loss %.4f → %.4f", before, after)
	}
	// Scales that are not multiples, or wide crops larger than every photo, are refused.
	for _, ms := range []int{6, 44} {
		o := opt
		o.MaxScale = ms
		if _, err := NewTrainer(base.SR, base.Data, o); err == nil {
			t.Fatalf("max scale %d accepted", ms)
		}
	}
}
