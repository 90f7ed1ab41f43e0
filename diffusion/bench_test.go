package diffusion

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// cpuTime is the process's user+system CPU time. Reported per op beside
// the wall time, it shows the cost on a machine where other jobs compete
// for the two cores: on an idle 2-core machine the wall time is at least
// half of it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs fn b.N times and reports CPU seconds per op too.
func timed(b *testing.B, fn func()) {
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		fn()
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

// benchModel is an SR model of the shipped configuration: the default
// auto-encoder and U-Net, at ×4.
func benchModel(b *testing.B) *SR {
	ae, err := autoencoder.New(autoencoder.DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(ae, DefaultUNet(ae.Config.LatentCh), DefaultSchedule(), 16, 1)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchTrainer is the shipped configuration: the default auto-encoder and
// U-Net, batch 8 of 64×64 HR crops (16×16 latents).
func benchTrainer(b *testing.B, align bool) *Trainer {
	tr, err := NewTrainer(benchModel(b), synthSet(8, 96, 1), func() TrainOptions {
		o := DefaultTrainOptions()
		if align {
			o = DefaultAlignOptions()
		}
		o.Steps, o.Pool = 1<<20, 64
		return o
	}())
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// BenchmarkTrainStepSR is one whole stage-2 step: crops, degradation,
// encoding both sides, U-Net forward and backward, clip, Adam, EMA.
func BenchmarkTrainStepSR(b *testing.B) { benchTrainStep(b, false) }

// BenchmarkTrainStepAlign is one alignment step (1024 queries per crop).
func BenchmarkTrainStepAlign(b *testing.B) { benchTrainStep(b, true) }

// benchTrainStep times training steps after a first one has filled the
// crop pool.
func benchTrainStep(b *testing.B, align bool) {
	tr := benchTrainer(b, align)
	tp := tensor.NewTape()
	step := func() {
		if _, err := tr.TrainStep(tp); err != nil {
			b.Fatal(err)
		}
	}
	step()
	timed(b, step)
}

// BenchmarkMakeBatch is the data side of a step alone: crops, bicubic
// degradation and the two frozen encodings.
func BenchmarkMakeBatch(b *testing.B) {
	tr := benchTrainer(b, false)
	i := 0
	timed(b, func() {
		i++
		if _, err := tr.SR.makeBatch(rand.New(rand.NewPCG(1, uint64(i))), tr.Data, 8, 64); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUNetStep is the U-Net's forward and backward alone.
func BenchmarkUNetStep(b *testing.B) { benchUNetStep(b, DefaultUNet(8)) }

// benchUNetStep times a training step of a U-Net of cfg on 8 latents of
// 16×16, the training crops' size.
func benchUNetStep(b *testing.B, cfg UNetConfig) {
	u, err := NewUNet(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 8, 16, 16, cfg.InCh)
	eps := tensor.New(8, 16, 16, cfg.OutCh)
	ts := make([]float32, 8)
	tp := tensor.NewTape()
	timed(b, func() {
		tp.Backward(tp.MSELoss(u.Forward(tp, x, ts), eps))
		tp.Reset()
	})
}

// BenchmarkSampleStep64 is one denoising step over a 64×64 latent (a 64×64
// input, one tile).
func BenchmarkSampleStep64(b *testing.B) {
	tr := benchTrainer(b, false)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 1, 64, 64, 8)
	cond := randTensor(rng, 1, 64, 64, 8)
	timed(b, func() {
		tr.SR.UNet.Forward(nil, joinCond(x, cond, 0, 0, 64, 64), []float32{500})
	})
}

// BenchmarkTrainStepSRFresh is BenchmarkTrainStepSR without the crop pool
// (Reuse 1): every step draws and encodes 8 new crops, as the paper does.
func BenchmarkTrainStepSRFresh(b *testing.B) {
	tr := benchTrainer(b, false)
	opt := tr.Opt
	opt.Reuse = 1
	tr, err := NewTrainer(tr.SR, tr.Data, opt)
	if err != nil {
		b.Fatal(err)
	}
	tp := tensor.NewTape()
	timed(b, func() {
		if _, err := tr.TrainStep(tp); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkUNetStepRes2 is BenchmarkUNetStep with two residual blocks per
// level, the larger of the sizes the issue allows.
func BenchmarkUNetStepRes2(b *testing.B) {
	cfg := DefaultUNet(8)
	cfg.NumResBlocks = 2
	benchUNetStep(b, cfg)
}

// BenchmarkCondition computes the condition of a 256×256 input with the
// shipped architectures, side by side: the encoder on the input
// nearest-up-sampled ×4 (in DefaultEncodeTile windows, as sampling runs
// it) and the condition network at the input's size.
func BenchmarkCondition(b *testing.B) {
	s := benchModel(b)
	cfg := DefaultCondConfig()
	cfg.LatentCh, cfg.Space = s.AE.Config.LatentCh, s.ConditionSpace()
	n, err := NewCondNet(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetCondNet(n); err != nil {
		b.Fatal(err)
	}
	const side = 256
	img := synthImage(side, side, 1)
	for _, exact := range []bool{true, false} {
		name := map[bool]string{true: "encoder", false: "network"}[exact]
		b.Run(name, func(b *testing.B) {
			opt := DefaultSampleOptions()
			opt.ExactCondition = exact
			timed(b, func() {
				if _, err := s.encodeCondTiled(context.Background(), img.Pix, side, side, opt); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
