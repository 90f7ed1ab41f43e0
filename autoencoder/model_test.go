package autoencoder

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/resample"
)

func tinyConfig(skip bool) Config {
	return Config{Channels: 4, ChMult: []int{1, 2}, NumResBlocks: 1, LatentCh: 4, Attention: true,
		MLP: []int{8}, GlobalSkip: skip, QueryBatch: 7}
}

func randImage(rng *rand.Rand, n, h, w int) *tensor.Tensor {
	x := tensor.New(n, h, w, 3)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// perturbedModel is New(cfg, seed) with noise of deviation std from rng
// added to every parameter, so that the zero-initialised layers (the
// head's among them) contribute.
func perturbedModel(t *testing.T, cfg Config, seed uint64, rng *rand.Rand, std float32) *Model {
	t.Helper()
	m, err := New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params.List() {
		for i := range p.T.Data {
			p.T.Data[i] += std * float32(rng.NormFloat64())
		}
	}
	return m
}

func TestShapes(t *testing.T) {
	for _, cfg := range []Config{tinyConfig(true), tinyConfig(false), {Channels: 4, ChMult: []int{1, 1, 2}, NumResBlocks: 2, LatentCh: 3, MLP: []int{8, 8}, Unfold: true}, {Channels: 4, ChMult: []int{1, 2}, LatentCh: 3, MLP: []int{8}, MLPOnly: true}} {
		m, err := New(cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		f := cfg.Factor()
		x := randImage(rand.New(rand.NewPCG(1, 1)), 2, 4*f, 3*f)
		z := m.Encode(nil, x)
		if want := []int{2, 4, 3, cfg.LatentCh}; !tensor.SameShape(z.Shape, want) {
			t.Fatalf("%+v: latent %v, want %v", cfg, z.Shape, want)
		}
		feat := m.Features(nil, z)
		ys := []float32{-0.5, 0.2, 0.9, 0, -0.9, 0.3}
		xs := []float32{0.1, -0.7, 0.4, 0, 0.8, -0.2}
		out := m.Query(nil, z, feat, ys, xs, 0.1, 0.1)
		if !tensor.SameShape(out.Shape, []int{6, 3}) || !out.AllFinite() {
			t.Fatalf("%+v: query output %v finite=%v", cfg, out.Shape, out.AllFinite())
		}
	}
}

// With the global skip and fresh (zero) residual layers, encoding is the
// area down-sample and decoding at the latent's own size returns it.
func TestGlobalSkipStartsAsResampling(t *testing.T) {
	m, err := New(tinyConfig(true), 3)
	if err != nil {
		t.Fatal(err)
	}
	x := randImage(rand.New(rand.NewPCG(2, 2)), 1, 8, 8)
	z := m.Encode(nil, x)
	for y := 0; y < 4; y++ {
		for xx := 0; xx < 4; xx++ {
			var want float64
			for dy := 0; dy < 2; dy++ {
				for dx := 0; dx < 2; dx++ {
					want += float64(x.Data[((2*y+dy)*8+2*xx+dx)*3]) / 4
				}
			}
			if got := z.Data[(y*4+xx)*4]; math.Abs(float64(got)-want) > 1e-6 {
				t.Fatalf("latent (%d,%d) = %g, want area mean %g", y, xx, got, want)
			}
		}
	}
	d, err := m.NewDecoder(z)
	if err != nil {
		t.Fatal(err)
	}
	img := d.Render(4, 4)
	for p := 0; p < 16; p++ {
		for c := 0; c < 3; c++ {
			if math.Abs(float64(img[p*3+c]-z.Data[p*4+c])) > 1e-5 {
				t.Fatalf("pixel %d channel %d: %g, latent %g", p, c, img[p*3+c], z.Data[p*4+c])
			}
		}
	}
}

func TestDecodeBatchingAndDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := perturbedModel(t, tinyConfig(true), 4, rng, 0.05)
	z := m.Encode(nil, randImage(rng, 1, 8, 12))
	render := func(batch int) []float32 {
		m.Config.QueryBatch = batch
		d, err := m.NewDecoder(z)
		if err != nil {
			t.Fatal(err)
		}
		return d.Render(13, 17)
	}
	ref := render(1 << 20)
	for _, b := range []int{1, 7, 64, 221} {
		got := render(b)
		for i := range ref {
			if got[i] != ref[i] {
				t.Fatalf("query batch %d: value %d = %g, one batch gives %g", b, i, got[i], ref[i])
			}
		}
	}
	// Rows renders the same values as the whole image.
	d, _ := m.NewDecoder(z)
	band := d.Rows(13, 17, 5, 9)
	for i := range band {
		if band[i] != ref[5*17*3+i] {
			t.Fatalf("band value %d differs", i)
		}
	}
	// So does a window of rows 5–8 and columns 3–10.
	win := d.Window(13, 17, 5, 9, 3, 11)
	for y := range 4 {
		for x := range 8 {
			for c := range 3 {
				if got, want := win[(y*8+x)*3+c], ref[((5+y)*17+3+x)*3+c]; got != want {
					t.Fatalf("window (%d,%d,%d) = %g, whole image %g", y, x, c, got, want)
				}
			}
		}
	}
}

func TestEndToEndGradients(t *testing.T) {
	cfg := tinyConfig(true)
	cfg.Attention = false
	rng := rand.New(rand.NewPCG(4, 4))
	m := perturbedModel(t, cfg, 5, rng, 0.1)
	x := randImage(rng, 2, 4, 4)
	ys := []float32{-0.6, 0.3, 0.1, 0.8}
	xs := []float32{0.2, -0.4, 0.7, -0.9}
	loss := func(tp *tensor.Tape) *tensor.Tensor {
		z := m.Encode(tp, x)
		return tp.Sum(m.Query(tp, z, m.Features(tp, z), ys, xs, 0.3, 0.3))
	}
	// The first, middle and last element of every fifth parameter tensor,
	// spread over encoder, decoder and head. The LIIF MLP's ReLUs make the
	// loss piecewise smooth: a step can cross a kink and spoil one
	// difference quotient, so three steps are tried.
	var params []*tensor.Tensor
	for pi, p := range m.Params.List() {
		if pi%5 == 0 {
			params = append(params, p.T)
		}
	}
	c := tensor.DefaultGradCheck()
	c.Eps, c.Tol, c.FloorAbs = []float64{1e-2, 3e-3, 1e-3}, 1e-2, 1
	c.Pick = func(_, n int) []int { return []int{0, n / 2, n - 1} }
	r, err := c.Run(params, loss)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked %d parameter gradients, max error %.2e", r.Checked, r.MaxErr)
}

// Above the detail scale, Rows resizes a rendering at that scale: the
// same pixels as resample.Resize of the exact rendering at that size,
// taken in bands or whole, close to the exact output at the full size, and
// exact again when the scale is unbounded.
func TestDecoderDetailScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m := perturbedModel(t, tinyConfig(true), 4, rng, 0.05)
	z := m.Encode(nil, randImage(rng, 1, 8, 12)) // a 4×6 latent
	d, err := m.NewDecoder(z)
	if err != nil {
		t.Fatal(err)
	}
	const oh, ow = 4 * 40, 6 * 40 // ×40 a cell
	exact := d.Window(oh, ow, 0, oh, 0, ow)
	if err := d.SetDetailScale(10); err != nil {
		t.Fatal(err)
	}
	mid := d.Window(4*10, 6*10, 0, 40, 0, 60)
	want, err := resample.Resize(mid, 60, 40, 3, ow, oh, resample.Options{Method: resample.Bicubic})
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	for y := 0; y < oh; y += 37 {
		got = append(got, d.Rows(oh, ow, y, min(y+37, oh))...)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("value %d: %g, resized rendering %g", i, got[i], want[i])
		}
	}
	if p := metrics.PSNR(exact, got, 1); p < 40 {
		t.Fatalf("detail scale 10 at ×40: %.1f dB from the exact rendering, want ≥ 40", p)
	}
	// Below the detail scale, and with none, every pixel is queried.
	if err := d.SetDetailScale(math.Inf(1)); err != nil {
		t.Fatal(err)
	}
	for i, v := range d.Rows(oh, ow, 0, oh) {
		if v != exact[i] {
			t.Fatalf("unbounded detail scale: value %d differs from Window", i)
		}
	}
	for _, bad := range []float64{0, 0.5, -1, math.NaN()} {
		if err := d.SetDetailScale(bad); err == nil {
			t.Fatalf("detail scale %v: want an error", bad)
		}
	}
}

// Check names each bad field and what is wrong with it, rather than
// listing fields that may be fine; every bad field of one config is named.
func TestConfigCheckNamesTheBadField(t *testing.T) {
	with := func(f func(*Config)) Config {
		c := tinyConfig(true)
		f(&c)
		return c
	}
	for _, c := range []struct {
		cfg  Config
		want []string
	}{
		{with(func(c *Config) { c.NumResBlocks = -1 }), []string{"num_res_blocks (num-res) -1: want 0 or more"}},
		{with(func(c *Config) { c.Channels = 0 }), []string{"channels 0: want at least 1"}},
		{with(func(c *Config) { c.ChMult = nil }), []string{"ch_mult (ch-mult) is empty"}},
		{with(func(c *Config) { c.ChMult = []int{1, 0} }), []string{"ch_mult (ch-mult) [1 0]: want every multiplier at least 1"}},
		{with(func(c *Config) { c.LatentCh = 2 }), []string{"latent_channels (latent) 2: the global skip needs at least 3"}},
		{with(func(c *Config) { c.GlobalSkip, c.LatentCh = false, 0 }), []string{"latent_channels (latent) 0: want at least 1"}},
		{with(func(c *Config) { c.MLP = nil }), []string{"mlp is empty"}},
		{with(func(c *Config) { c.MLP = []int{8, 0} }), []string{"mlp [8 0]: want every width at least 1"}},
		{with(func(c *Config) { c.Channels, c.NumResBlocks = -2, -1 }), []string{"channels -2", "num_res_blocks (num-res) -1"}},
	} {
		err := c.cfg.Check()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want an error with %q", c.cfg, err, w)
			}
		}
		if err != nil && len(c.want) == 1 && strings.Count(err.Error(), ";") > 0 {
			t.Errorf("%+v: %v, want only the bad field named", c.cfg, err)
		}
	}
	if err := tinyConfig(true).Check(); err != nil {
		t.Errorf("tiny config: %v", err)
	}
}
