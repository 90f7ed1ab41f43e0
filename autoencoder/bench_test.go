package autoencoder

import (
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// syntheticSet is a few random photos, so benchmarks need no data folder.
func syntheticSet(n, w, h int) *dataset.Set {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &dataset.Set{}
	for i := 0; i < n; i++ {
		p := dataset.Photo{W: w, H: h, Pix: make([]uint8, w*h*3)}
		for j := range p.Pix {
			p.Pix[j] = uint8(rng.IntN(256))
		}
		s.Photos = append(s.Photos, p)
	}
	return s
}

// nearestResize is a stand-in target maker for tests and benchmarks.
func nearestResize(pix []float32, w, h, ow, oh int) []float32 {
	out := make([]float32, ow*oh*3)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			copy(out[(y*ow+x)*3:(y*ow+x+1)*3], pix[((y*h/oh)*w+x*w/ow)*3:][:3])
		}
	}
	return out
}

// BenchmarkTrainStepAE is one stage-1 step of the default model at the
// default batch (8 crops of 64×64, 2304 queries each).
func BenchmarkTrainStepAE(b *testing.B) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(m, syntheticSet(4, 128, 128), func() TrainOptions { o := DefaultTrainOptions(); o.LatentProb = 0; return o }(), nearestResize)
	if err != nil {
		b.Fatal(err)
	}
	tp := tensor.NewTape()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.TrainStep(tp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode4x renders a 64×64 latent of the default model at 4× its
// size (256×256, the HR size of a 256×256 input) and reports output
// megapixels per second. Peak memory at 4096×4096 is measured on the
// command line (bench/README.md), as it needs a process of its own.
func BenchmarkDecode4x(b *testing.B) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	x := randImage(rand.New(rand.NewPCG(5, 5)), 1, 256, 256)
	d, err := m.NewDecoder(m.Encode(nil, x))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Render(256, 256)
	}
	b.ReportMetric(float64(256*256*b.N)/1e6/b.Elapsed().Seconds(), "MP/s")
}

// BenchmarkEncodeWindow encodes one window of the SR model's condition
// with the default model: 464×464 pixels, the default 96-latent-pixel
// window and its 10-pixel margins at f = 4 (diffusion.DefaultEncodeTile).
// Encoding is about half of a 1-step upscale; it reports input megapixels
// per second.
func BenchmarkEncodeWindow(b *testing.B) {
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	x := randImage(rand.New(rand.NewPCG(6, 6)), 1, 464, 464)
	m.Encode(nil, x) // first-touch of the feature maps' memory
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Encode(nil, x)
	}
	b.ReportMetric(float64(464*464*b.N)/1e6/b.Elapsed().Seconds(), "MP/s")
}
