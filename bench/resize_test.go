package bench

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// resizeInput returns the 2048×2048 RGB image the resize benchmarks use:
// the file named by $ZOOMDIFF_BENCH_IMAGE when set (resize_peer.sh points
// it at the same file it gives ImageMagick), else a deterministic synthetic
// picture so the benchmark runs anywhere. The content does not change the
// work done, only the peer comparison needs the same file.
func resizeInput(b *testing.B) *imageio.Image {
	b.Helper()
	if p := os.Getenv("ZOOMDIFF_BENCH_IMAGE"); p != "" {
		m, err := imageio.Read(p)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	const n = 2048
	m := imageio.New(n, n)
	rng := rand.New(rand.NewPCG(11, 12))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			i := 3 * (y*n + x)
			v := 0.5 + 0.3*math.Sin(float64(x)/37)*math.Cos(float64(y)/23)
			m.Pix[i] = float32(v + 0.1*rng.Float64())
			m.Pix[i+1] = float32(v)
			m.Pix[i+2] = float32(1 - v)
		}
	}
	return m
}

// benchScale times imresize-style bicubic by factor s, allocating the
// output every time as a caller would, and reports output megapixels per
// second.
func benchScale(b *testing.B, s float64) {
	src := resizeInput(b)
	dw, dh := resample.ScaledSize(src.W, s), resample.ScaledSize(src.H, s)
	opt := resample.Options{Method: resample.Bicubic, ScaleX: s, ScaleY: s}
	cpu0 := cpuSeconds()
	for b.Loop() {
		if _, err := resample.Resize(src.Pix, src.W, src.H, 3, dw, dh, opt); err != nil {
			b.Fatal(err)
		}
	}
	report(b, dw*dh, cpu0)
}

// report adds output megapixels per wall-clock second and CPU seconds per
// operation (all threads; see cpuSeconds).
func report(b *testing.B, outPixels int, cpu0 float64) {
	b.ReportMetric(float64(outPixels)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// BenchmarkResizeBicubicDown4 shrinks 2048×2048 to 512×512 (×0.25, kernel
// 16 taps wide because of antialiasing).
func BenchmarkResizeBicubicDown4(b *testing.B) { benchScale(b, 0.25) }

// BenchmarkResizeBicubicUp4 enlarges 2048×2048 to 8192×8192 (×4).
func BenchmarkResizeBicubicUp4(b *testing.B) { benchScale(b, 4) }

// BenchmarkResizeBicubicUp4Plan is ×4 into a reused output with a reused
// plan: the cost of the arithmetic and memory traffic alone, without page
// faults on a fresh 800 MB buffer.
func BenchmarkResizeBicubicUp4Plan(b *testing.B) {
	src := resizeInput(b)
	p, err := resample.NewPlan(src.W, src.H, 3, 4*src.W, 4*src.H, resample.Options{ScaleX: 4, ScaleY: 4})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 16*len(src.Pix))
	cpu0 := cpuSeconds()
	for b.Loop() {
		if err := p.Apply(dst, src.Pix); err != nil {
			b.Fatal(err)
		}
	}
	report(b, 16*src.W*src.H, cpu0)
}
