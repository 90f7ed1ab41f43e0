package degrade

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/resample"
)

// photo is a smooth w×h test image with edges, values in [0, 1].
func photo(w, h int) []float32 {
	pix := make([]float32, w*h*3)
	for y := range h {
		for x := range w {
			i := (y*w + x) * 3
			pix[i] = float32(0.5 + 0.4*math.Sin(float64(x)/5)*math.Cos(float64(y)/7))
			pix[i+1] = float32(x) / float32(w)
			pix[i+2] = 0.2
			if (x/8+y/8)%2 == 0 {
				pix[i+2] = 0.8
			}
		}
	}
	return pix
}

func flat(n int, v float32) []float32 {
	pix := make([]float32, n*3)
	for i := range pix {
		pix[i] = v
	}
	return pix
}

func meanStd(v []float32) (mean, std float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func TestJPEGQualityRecovered(t *testing.T) {
	pix := photo(40, 24)
	for _, q := range []int{10, 30, 40, 60, 80, 95, 100} {
		data, err := EncodeJPEG(pix, 40, 24, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := JPEGQuality(data); got != q {
			t.Errorf("quality %d estimated as %d", q, got)
		}
	}
	if JPEGQuality([]byte("not a jpeg")) != 0 {
		t.Error("quality of garbage should be 0")
	}
	if _, err := EncodeJPEG(pix, 40, 24, 0); err == nil {
		t.Error("quality 0 accepted")
	}
}

func TestCompressJPEGLosesMoreAtLowQuality(t *testing.T) {
	src := photo(48, 32)
	rmse := func(q int) float64 {
		pix := slices.Clone(src)
		if err := CompressJPEG(pix, 48, 32, q); err != nil {
			t.Fatal(err)
		}
		e := 0.0
		for i := range pix {
			e += float64((pix[i] - src[i]) * (pix[i] - src[i]))
		}
		return math.Sqrt(e / float64(len(pix)))
	}
	lo, mid, hi := rmse(30), rmse(60), rmse(95)
	if !(lo > mid && mid > hi && hi > 0 && lo < 0.1) {
		t.Errorf("JPEG RMSE at q30/60/95 = %.4f/%.4f/%.4f: want decreasing, positive, below 0.1", lo, mid, hi)
	}
}

func TestGaussianNoiseSigma(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, grey := range []bool{false, true} {
		pix := flat(128*128, 0.5)
		AddGaussian(rng, pix, 10.0/255, grey)
		mean, std := meanStd(pix)
		if math.Abs(mean-0.5) > 0.001 || math.Abs(std*255-10) > 0.15 {
			t.Errorf("grey=%v: mean %.4f, σ %.3f levels; want 0.5, 10", grey, mean, std*255)
		}
		same := pix[0] == pix[1] && pix[1] == pix[2] && pix[3] == pix[4]
		if same != grey {
			t.Errorf("grey=%v but channels equal: %v", grey, same)
		}
	}
}

func TestPoissonNoiseVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, x := range []float32{0.05, 0.5} { // Knuth's branch and the normal one
		pix := flat(128*128, x)
		AddPoisson(rng, pix, 2, false)
		mean, std := meanStd(pix)
		want := 2 * math.Sqrt(float64(x)/256) // scale · √(λ)/256
		if math.Abs(mean-float64(x)) > 0.002 || math.Abs(std/want-1) > 0.03 {
			t.Errorf("x=%v: mean %.4f σ %.5f; want %v, %.5f", x, mean, std, x, want)
		}
	}
}

func TestKernel(t *testing.T) {
	moments := func(k []float32, size int) (sum, vx, vy, cxy float64) {
		r := size / 2
		for y := range size {
			for x := range size {
				v, fx, fy := float64(k[y*size+x]), float64(x-r), float64(y-r)
				sum += v
				vx += v * fx * fx
				vy += v * fy * fy
				cxy += v * fx * fy
			}
		}
		return
	}
	sum, vx, vy, cxy := moments(Kernel(41, 2, 2, 0, 1), 41)
	if math.Abs(sum-1) > 1e-5 || math.Abs(vx-4) > 1e-3 || math.Abs(vy-4) > 1e-3 || math.Abs(cxy) > 1e-6 {
		t.Errorf("isotropic σ 2: sum %v, variances %v %v, covariance %v", sum, vx, vy, cxy)
	}
	// σ 3 along x and 1 along y, turned a quarter: 1 along x, 3 along y.
	_, vx, vy, _ = moments(Kernel(41, 3, 1, math.Pi/2, 1), 41)
	if math.Abs(vx-1) > 1e-3 || math.Abs(vy-9) > 1e-3 {
		t.Errorf("rotated anisotropic: variances %v %v, want 1 9", vx, vy)
	}
	// At 45° the covariance is (9−1)/2 = 4.
	_, _, _, cxy = moments(Kernel(41, 3, 1, math.Pi/4, 1), 41)
	if math.Abs(cxy-4) > 1e-3 {
		t.Errorf("45° covariance %v, want 4", cxy)
	}
	// A flat-topped generalised Gaussian spreads less into its tails.
	g, f := Kernel(21, 2, 2, 0, 1), Kernel(21, 2, 2, 0, 4)
	centre, near, tail := 10*21+10, 10*21+11, 10*21 // (10,10), (11,10), (0,10)
	if !(f[near]/f[centre] > g[near]/g[centre] && f[tail] < g[tail]) {
		t.Error("β = 4 should be flatter at the centre and lighter in the tails")
	}
}

func TestConvolveIdentityAndMean(t *testing.T) {
	src := photo(20, 15)
	delta := make([]float32, 9)
	delta[4] = 1
	if got := Convolve(src, 20, 15, delta); !slices.Equal(got, src) {
		t.Error("a delta kernel changed the image")
	}
	blurred := Convolve(flat(20*15, 0.3), 20, 15, Kernel(7, 1.5, 1, 0.4, 1))
	for _, v := range blurred {
		if math.Abs(float64(v)-0.3) > 1e-6 {
			t.Fatalf("a flat image blurred to %v", v)
		}
	}
}

func TestChainDeterministicAndQuantised(t *testing.T) {
	c := Default()
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	src := photo(64, 64)
	run := func(seed uint64) []float32 {
		lr, err := c.Apply(rand.New(rand.NewPCG(seed, 0)), src, 64, 64, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(lr) != 16*16*3 {
			t.Fatalf("%d values for 16×16", len(lr))
		}
		return lr
	}
	bicubic, _ := resample.Resize(src, 64, 64, 3, 16, 16, resample.Options{})
	distinct := 0
	for seed := range uint64(20) {
		a, b := run(seed), run(seed)
		if !slices.Equal(a, b) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		if slices.Equal(a, bicubic) {
			continue // the clean share
		}
		distinct++
		for _, v := range a {
			if v < 0 || v > 1 || v*255 != float32(math.Round(float64(v*255))) {
				t.Fatalf("seed %d: %v is not an 8-bit level in [0, 1]", seed, v)
			}
		}
	}
	if distinct < 15 {
		t.Errorf("only %d of 20 seeds degraded beyond bicubic (clean share %g)", distinct, Default().Clean)
	}
	clean := Chain{Clean: 1}
	lr, err := clean.Apply(rand.New(rand.NewPCG(0, 0)), src, 64, 64, 16, 16)
	if err != nil || !slices.Equal(lr, bicubic) {
		t.Errorf("a clean chain should be the bicubic resize (err %v)", err)
	}
	// A direct pair skips the first two rounds: with a final round of a
	// bicubic resize alone it is the bicubic resize in 8 bits, however
	// strong the skipped rounds are.
	direct := Default()
	direct.Clean, direct.Direct = 0, 1
	direct.Final = Round{Resize: Resize{Methods: []resample.Method{resample.Bicubic}}}
	lr, err = direct.Apply(rand.New(rand.NewPCG(0, 0)), src, 64, 64, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range bicubic {
		if want := float32(math.Round(float64(min(max(v, 0), 1)*255))) / 255; lr[i] != want {
			t.Fatalf("direct pair value %d: %v, want the quantised bicubic %v", i, lr[i], want)
		}
	}
}

func TestChainErrors(t *testing.T) {
	c := Default()
	c.Clean, c.Direct = 0.6, 0.5
	if c.Check() == nil {
		t.Error("clean and direct shares over 1 accepted")
	}
	c = Default()
	c.First.JPEG.Quality = Range{30, 120}
	if c.Check() == nil {
		t.Error("quality 120 accepted")
	}
	c = Default()
	c.Final.Resize.Methods = nil
	if c.Check() == nil {
		t.Error("a final resize without methods accepted")
	}
	if _, err := Default().Apply(rand.New(rand.NewPCG(0, 0)), make([]float32, 5), 4, 4, 1, 1); err == nil {
		t.Error("a short image accepted")
	}
}

func TestInput(t *testing.T) {
	for _, s := range []string{"jpeg:60", "noise:10", "noise:2.5,jpeg:80"} {
		in, err := ParseInput(s)
		if err != nil || in.String() != s {
			t.Errorf("ParseInput(%q) = %+v, %v; String %q", s, in, err, in.String())
		}
	}
	for _, s := range []string{"jpeg", "jpeg:101", "noise:-1", "blur:2", "noise:x"} {
		if _, err := ParseInput(s); err == nil {
			t.Errorf("ParseInput(%q) accepted", s)
		}
	}
	if in, err := ParseInput("none"); err != nil || in != (Input{}) {
		t.Errorf("none: %+v, %v", in, err)
	}
	// An Input holds one of each kind: a kind given twice would have all but
	// its last ignored, so it is refused, saying which. The order written
	// does not matter (noise is always added first).
	for s, want := range map[string]string{
		"jpeg:50,jpeg:60":          "jpeg is given twice",
		"noise:5,noise:10":         "noise is given twice",
		"noise:5,jpeg:80,noise:10": "noise is given twice",
	} {
		if _, err := ParseInput(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseInput(%q): %v, want an error saying %q", s, err, want)
		}
	}
	if in, err := ParseInput("jpeg:80,noise:10"); err != nil || in != (Input{NoiseSigma: 10, JPEGQuality: 80}) {
		t.Errorf("ParseInput(jpeg:80,noise:10) = %+v, %v", in, err)
	}
	// Noise is seeded by the name: the same name, the same image; the
	// JPEG that follows is quality 60 by its tables.
	src := photo(32, 32)
	a, b, c := slices.Clone(src), slices.Clone(src), slices.Clone(src)
	in := Input{NoiseSigma: 10}
	for i, p := range [][]float32{a, b, c} {
		name := "x.png"
		if i == 2 {
			name = "y.png"
		}
		if err := in.Apply(p, 32, 32, name); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("noise should repeat for a name and differ between names")
	}
	if err := (Input{}).Apply(make([]float32, 3), 2, 2, "z"); err == nil {
		t.Error("a short image accepted")
	}
}
