package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
)

// BenchmarkUpscaleSplit times the built-in SR model on a 128×128 input at
// ×4, ×16 and ×64 with the default sampler and steps, split into encoding the condition,
// the reverse diffusion and decoding the output (band by band, as
// `zoomdiff upscale` streams it). The first two work on the input's
// latent, so they must not grow with the scale; decoding grows with the
// output's pixels. One iteration of ×64 decodes 67 MP:
//
//	go test -run '^$' -bench UpscaleSplit -benchtime 1x -timeout 30m ./models
func BenchmarkUpscaleSplit(b *testing.B) {
	s, err := SR("")
	if err != nil {
		b.Fatal(err)
	}
	const n = 128
	lr := imageio.New(n, n)
	for y := range n {
		for x := range n {
			for c := range 3 {
				lr.Pix[(y*n+x)*3+c] = float32(0.5 + 0.35*math.Sin(0.21*float64(x)+0.13*float64(y*(c+1))))
			}
		}
	}
	for _, scale := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("x%d", scale), func(b *testing.B) {
			var enc, dif, dec time.Duration
			for range b.N {
				var tm diffusion.Timings
				lats, err := s.Latents(context.Background(), lr, srOpts(func(o *diffusion.SampleOptions) { o.Timings = &tm }))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				d, err := s.Decoder(lats[0])
				if err != nil {
					b.Fatal(err)
				}
				side := n * scale
				for y := 0; y < side; y += 64 {
					d.Rows(side, side, y, min(y+64, side))
				}
				enc, dif, dec = enc+tm.Encode, dif+tm.Diffusion, dec+time.Since(start)
			}
			per := float64(b.N)
			b.ReportMetric(enc.Seconds()/per, "encode-s")
			b.ReportMetric(dif.Seconds()/per, "diffusion-s")
			b.ReportMetric(dec.Seconds()/per, "decode-s")
			b.ReportMetric(float64(n*scale*n*scale)/1e6/(dec.Seconds()/per), "decode-MP/s")
		})
	}
}

// BenchmarkSRUNetForward64 is the built-in SR model's U-Net on one 64×64
// latent window, batch 1, inference (nil tape): the unit of work every
// denoising step repeats per window. bench/run.sh compares it with the
// same network in PyTorch (bench/torch_peer.py).
func BenchmarkSRUNetForward64(b *testing.B) {
	s, err := SR("")
	if err != nil {
		b.Fatal(err)
	}
	cfg := s.UNet.Config
	x := tensor.New(1, 64, 64, cfg.InCh)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	t := []float32{500}
	s.UNet.Forward(nil, x, t) // warm the buffers
	b.ResetTimer()
	for range b.N {
		s.UNet.Forward(nil, x, t)
	}
}

// BenchmarkDecodeDetail measures what rendering above the detail scale
// costs in fidelity: the built-in SR model's latent of a 64×64 crop of the
// example photo (5 DPM-Solver steps) decoded at ×200, 100 rows from the
// middle, with each detail scale against the exact decode (every pixel
// queried). It reports the PSNR (RGB, dB) and the time of each:
//
//	go test -run '^$' -bench DecodeDetail -benchtime 1x ./models
func BenchmarkDecodeDetail(b *testing.B) {
	s, err := SR("")
	if err != nil {
		b.Fatal(err)
	}
	lr := chelseaCrop(b, 60, 30, 64, 64)
	lats, err := s.Latents(context.Background(), lr, srOpts(func(o *diffusion.SampleOptions) { o.Steps, o.Sampler = 5, diffusion.SamplerDPM }))
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.Decoder(lats[0])
	if err != nil {
		b.Fatal(err)
	}
	const side, y0, y1 = 64 * 200, 6000, 6100
	clamp := func(v []float32) []float32 {
		for i, x := range v {
			v[i] = min(max(x, 0), 1)
		}
		return v
	}
	start := time.Now()
	exact := clamp(d.Window(side, side, y0, y1, 0, side))
	b.ReportMetric(time.Since(start).Seconds(), "exact-s")
	for _, detail := range []float64{16, 24, 32, 48} {
		if err := d.SetDetailScale(detail); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		got := clamp(d.Rows(side, side, y0, y1))
		b.ReportMetric(time.Since(start).Seconds(), fmt.Sprintf("detail%g-s", detail))
		b.ReportMetric(metrics.PSNR(exact, got, 1), fmt.Sprintf("detail%g-dB", detail))
	}
}
