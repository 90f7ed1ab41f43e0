package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// flat is a w×h image of grey v.
func flat(w, h int, v float32) *imageio.Image {
	m := imageio.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = v
	}
	return m
}

func TestY(t *testing.T) {
	m := &imageio.Image{W: 5, H: 1, Pix: []float32{0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}}
	want := []float64{16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966}
	for i, y := range Y(m) {
		if !near(float64(y), want[i], 1e-4) {
			t.Errorf("Y[%d] = %v, want %v", i, y, want[i])
		}
	}
	g := &imageio.Image{W: 2, H: 1, Gray: true, Pix: []float32{0.5, 0.5, 0.5, 1, 1, 1}}
	if y := Y(g); !near(float64(y[0]), 127.5, 1e-4) || !near(float64(y[1]), 255, 1e-4) {
		t.Errorf("grey Y = %v, want [127.5 255]", y)
	}
}

func TestPSNR(t *testing.T) {
	// MSE 1 at peak 255: 20·log10(255).
	if got := PSNR([]float32{0, 0, 0, 0}, []float32{0, 0, 0, 2}, 255); !near(got, 48.1308036086791, 1e-9) {
		t.Errorf("PSNR = %v", got)
	}
	// MSE 0.01 at peak 1: 20 dB.
	if got := PSNR([]float32{0.5, 0.5}, []float32{0.6, 0.4}, 1); !near(got, 20, 1e-5) {
		t.Errorf("PSNR = %v, want 20", got)
	}
	if got := PSNR([]float32{1, 2}, []float32{1, 2}, 1); !math.IsInf(got, 1) {
		t.Errorf("PSNR of equal inputs = %v, want +Inf", got)
	}
}

func TestShave(t *testing.T) {
	pix := make([]float32, 5*4)
	for i := range pix {
		pix[i] = float32(i)
	}
	got, w, h, err := Shave(pix, 5, 4, 1, 1)
	if err != nil || w != 3 || h != 2 {
		t.Fatalf("Shave: %v %dx%d", err, w, h)
	}
	want := []float32{6, 7, 8, 11, 12, 13}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Shave = %v, want %v", got, want)
		}
	}
	if _, _, _, err := Shave(pix, 5, 4, 1, 2); err == nil {
		t.Error("shaving everything succeeded")
	}
}

// bruteSSIM is ssim_index.m transcribed literally: a full 11×11 window
// built from the 2-D Gaussian and normalised, statistics at every valid
// position.
func bruteSSIM(a, b []float32, w, h int) float64 {
	var win [11][11]float64
	var s float64
	for i := range win {
		for j := range win[i] {
			x, y := float64(j-5), float64(i-5)
			win[i][j] = math.Exp(-(x*x + y*y) / (2 * 1.5 * 1.5))
			s += win[i][j]
		}
	}
	c1, c2 := math.Pow(0.01*255, 2), math.Pow(0.03*255, 2)
	var sum float64
	for y := 0; y+11 <= h; y++ {
		for x := 0; x+11 <= w; x++ {
			var m1, m2, e11, e22, e12 float64
			for i := 0; i < 11; i++ {
				for j := 0; j < 11; j++ {
					g := win[i][j] / s
					p, q := float64(a[(y+i)*w+x+j]), float64(b[(y+i)*w+x+j])
					m1 += g * p
					m2 += g * q
					e11 += g * p * p
					e22 += g * q * q
					e12 += g * p * q
				}
			}
			v1, v2, cv := e11-m1*m1, e22-m2*m2, e12-m1*m2
			sum += (2*m1*m2 + c1) * (2*cv + c2) / ((m1*m1 + m2*m2 + c1) * (v1 + v2 + c2))
		}
	}
	return sum / float64((w-10)*(h-10))
}

func TestSSIM(t *testing.T) {
	const w, h = 23, 17
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := make([]float32, w*h), make([]float32, w*h)
	for i := range a {
		a[i] = float32(rng.IntN(256))
		b[i] = min(255, max(0, a[i]+float32(rng.NormFloat64()*20)))
	}
	got, err := SSIM(a, b, w, h, 255)
	if err != nil {
		t.Fatal(err)
	}
	if want := bruteSSIM(a, b, w, h); !near(got, want, 1e-12) || got > 0.99 || got < 0.5 {
		t.Errorf("SSIM = %v, brute force %v", got, want)
	}
	if s, _ := SSIM(a, a, w, h, 255); !near(s, 1, 1e-12) {
		t.Errorf("SSIM(a, a) = %v", s)
	}
	// Flat images: variances vanish and SSIM is the luminance term
	// (2·100·110 + C1)/(100² + 110² + C1) with C1 = (0.01·255)² = 6.5025.
	fa, fb := make([]float32, 12*12), make([]float32, 12*12)
	for i := range fa {
		fa[i], fb[i] = 100, 110
	}
	if s, _ := SSIM(fa, fb, 12, 12, 255); !near(s, 22006.5025/22106.5025, 1e-12) {
		t.Errorf("flat SSIM = %v", s)
	}
	if _, err := SSIM(fa[:100], fb[:100], 10, 10, 255); err == nil {
		t.Error("SSIM of a 10×10 image succeeded")
	}
}

func TestImagePairMetrics(t *testing.T) {
	ref := flat(16, 16, 0.5)
	out := ref.Clone()
	// Disturb only the border: shaving 1 pixel must hide it.
	for x := 0; x < 16; x++ {
		out.Pix[3*x] = 0
	}
	if p, err := PSNRY(ref, out, 1); err != nil || !math.IsInf(p, 1) {
		t.Errorf("PSNRY with the damage shaved = %v, %v", p, err)
	}
	p, err := PSNRRGB(ref, out, 0)
	// 16 of 768 values off by 0.5: MSE = 16·0.25/768.
	if want := 10 * math.Log10(768/(16*0.25)); err != nil || !near(p, want, 1e-4) {
		t.Errorf("PSNRRGB = %v, want %v (%v)", p, want, err)
	}
	if s, err := SSIMY(ref, out, 1); err != nil || !near(s, 1, 1e-12) {
		t.Errorf("SSIMY = %v, %v", s, err)
	}
	if _, err := PSNRY(ref, imageio.New(15, 16), 1); err == nil {
		t.Error("compared images of different sizes")
	}
}

func TestLRConsistency(t *testing.T) {
	lr, sr := flat(8, 8, 0.25), flat(32, 32, 0.25)
	if p, err := LRConsistency(sr, lr); err != nil || !math.IsInf(p, 1) {
		t.Errorf("flat LR consistency = %v, %v", p, err)
	}
	sr.Pix[0] = 0.35 // a local change survives shrinking only partly
	p, err := LRConsistency(sr, lr)
	if err != nil || math.IsInf(p, 0) || p < 40 {
		t.Errorf("LR consistency after a one-pixel change = %v, %v", p, err)
	}
}

func TestDiversity(t *testing.T) {
	var s []*imageio.Image
	for _, v := range []float32{0, 0.1, 0.2} {
		s = append(s, flat(3, 2, v))
	}
	d, err := Diversity(s)
	if err != nil {
		t.Fatal(err)
	}
	// std of {0, .1, .2} = √(0.02/3); pairwise PSNRs 20, 20, 20·log10(5)… of 1/0.2.
	if want := 255 * math.Sqrt(0.02/3); !near(d.MeanStd, want, 1e-4) {
		t.Errorf("MeanStd = %v, want %v", d.MeanStd, want)
	}
	if want := (20 + 20 + 20*math.Log10(5)) / 3; !near(d.MeanPairPSNR, want, 1e-4) {
		t.Errorf("MeanPairPSNR = %v, want %v", d.MeanPairPSNR, want)
	}
	if _, err := Diversity(s[:1]); err == nil {
		t.Error("diversity of one sample succeeded")
	}
}

func TestSelfSSIM(t *testing.T) {
	ramp := func(w, h int) *imageio.Image {
		m := imageio.New(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(0.5 + 0.4*math.Sin(float64(x)/float64(w)*3)*math.Cos(float64(y)/float64(h)*2))
				m.Pix[3*(y*w+x)], m.Pix[3*(y*w+x)+1], m.Pix[3*(y*w+x)+2] = v, v, v
			}
		}
		return m
	}
	s, err := SelfSSIM([]*imageio.Image{ramp(32, 32), ramp(48, 48), ramp(64, 64)}, 0, 0)
	if err != nil || s < 0.99 || s > 1 {
		t.Errorf("SelfSSIM of one smooth picture at three sizes = %v, %v", s, err)
	}
	noisy := ramp(48, 48)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range noisy.Pix {
		noisy.Pix[i] += float32(rng.NormFloat64() * 0.2)
	}
	s2, err := SelfSSIM([]*imageio.Image{ramp(32, 32), noisy}, 32, 32)
	if err != nil || s2 > s-0.1 {
		t.Errorf("SelfSSIM with a noisy rendering = %v (clean %v), %v", s2, s, err)
	}
	// The pairs are resized with the package's bicubic to 32×32, so SelfSSIM
	// of two renderings equals SSIM of their resized lumas.
	a, _ := resample.Image(ramp(64, 64), 32, 32, resample.Options{})
	want, _ := SSIM(Y(a), Y(ramp(32, 32)), 32, 32, 255)
	if got, _ := SelfSSIM([]*imageio.Image{ramp(64, 64), ramp(32, 32)}, 0, 0); !near(got, want, 1e-12) {
		t.Errorf("SelfSSIM = %v, want %v", got, want)
	}
}

func TestFitGaussian(t *testing.T) {
	mean, cov, err := FitGaussian([]float64{0, 0, 2, 0, 0, 2, 2, 2}, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if mean[0] != 1 || mean[1] != 1 || !near(cov[0], 4.0/3, 1e-15) || cov[1] != 0 || cov[2] != 0 || !near(cov[3], 4.0/3, 1e-15) {
		t.Errorf("mean %v cov %v", mean, cov)
	}
}

func randSym(rng *rand.Rand, d int, psd bool) []float64 {
	b := make([]float64, d*d)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	a := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			var s float64
			if psd { // B·Bᵀ
				for k := 0; k < d; k++ {
					s += b[i*d+k] * b[j*d+k]
				}
			} else {
				s = b[i*d+j] + b[j*d+i]
			}
			a[i*d+j] = s
		}
	}
	return a
}

func TestSymEig(t *testing.T) {
	vals, vecs, err := SymEig([]float64{2, 1, 1, 2}, 2, true)
	if err != nil || !near(vals[0], 1, 1e-14) || !near(vals[1], 3, 1e-14) {
		t.Errorf("eig [[2 1][1 2]] = %v, %v", vals, err)
	}
	if !near(math.Abs(vecs[0]), math.Sqrt(0.5), 1e-14) || !near(vecs[0], -vecs[1], 1e-14) {
		t.Errorf("eigenvector for 1 = %v, want ±(1, −1)/√2", vecs[:2])
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, d := range []int{1, 3, 17, 60} {
		a := randSym(rng, d, false)
		vals, vecs, err := SymEig(a, d, true)
		if err != nil {
			t.Fatal(err)
		}
		var worst, tr float64
		for k := 0; k < d; k++ {
			v := vecs[k*d : (k+1)*d]
			for i := 0; i < d; i++ { // (A v − λ v)_i
				var s float64
				for j := 0; j < d; j++ {
					s += a[i*d+j] * v[j]
				}
				worst = max(worst, math.Abs(s-vals[k]*v[i]))
			}
			for l := 0; l < d; l++ { // orthonormality
				var dot float64
				for i := range v {
					dot += v[i] * vecs[l*d+i]
				}
				if k == l {
					dot--
				}
				worst = max(worst, math.Abs(dot))
			}
			if k > 0 && vals[k] < vals[k-1] {
				t.Errorf("d=%d: eigenvalues not ascending", d)
			}
			tr += vals[k] - a[k*d+k]
		}
		if worst > 1e-10 || math.Abs(tr) > 1e-10 {
			t.Errorf("d=%d: residual %g, trace error %g", d, worst, tr)
		}
	}
	// Repeated eigenvalues and an already diagonal matrix.
	id := make([]float64, 16)
	for i := 0; i < 4; i++ {
		id[i*4+i] = 3
	}
	if vals, _, err := SymEig(id, 4, false); err != nil || vals[0] != 3 || vals[3] != 3 {
		t.Errorf("eig 3I = %v, %v", vals, err)
	}
	if _, _, err := SymEig([]float64{math.NaN()}, 1, false); err == nil {
		t.Error("accepted NaN")
	}
}

func TestFrechet(t *testing.T) {
	// Diagonal covariances commute: the distance is
	// ‖Δμ‖² + Σ (√a − √b)².
	mu1, mu2 := []float64{0, 1, 2}, []float64{1, 1, 0}
	a, b := []float64{4, 1, 9}, []float64{1, 1, 4}
	c1, c2 := make([]float64, 9), make([]float64, 9)
	for i := range a {
		c1[i*3+i], c2[i*3+i] = a[i], b[i]
	}
	want := 1.0 + 0 + 4 + (2-1)*(2-1) + 0 + (3-2)*(3-2)
	got, err := Frechet(mu1, c1, mu2, c2, 3)
	if err != nil || !near(got, want, 1e-10) {
		t.Errorf("Frechet = %v, want %v (%v)", got, want, err)
	}
	// A common rotation of both covariances leaves the distance unchanged:
	// R = exp of a skew matrix is awkward, so use the eigenvectors of a
	// random symmetric matrix as R.
	rng := rand.New(rand.NewPCG(9, 10))
	_, r, _ := SymEig(randSym(rng, 3, false), 3, true)
	rot := func(c []float64) []float64 { // R·C·Rᵀ
		var rt [9]float64
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				rt[i*3+j] = r[j*3+i]
			}
		}
		return mul(mul(r, c, 3), rt[:], 3)
	}
	if got, err := Frechet(mu1, rot(c1), mu2, rot(c2), 3); err != nil || !near(got, want, 1e-9) {
		t.Errorf("rotated Frechet = %v, want %v (%v)", got, want, err)
	}
	// Identical Gaussians (full, random covariance) are at distance 0, and
	// cov2 = k²·cov1 gives (1 − k)²·tr(cov1).
	c := randSym(rng, 20, true)
	mu := make([]float64, 20)
	if got, _ := Frechet(mu, c, mu, c, 20); !near(got, 0, 1e-8) {
		t.Errorf("Frechet of identical Gaussians = %v", got)
	}
	c4 := make([]float64, len(c))
	var tr float64
	for i, v := range c {
		c4[i] = 4 * v
	}
	for i := 0; i < 20; i++ {
		tr += c[i*20+i]
	}
	if got, _ := Frechet(mu, c, mu, c4, 20); !near(got, tr, 1e-8*tr) {
		t.Errorf("Frechet(C, 4C) = %v, want tr C = %v", got, tr)
	}
}

// TestFrechetFewVectors: covariances fitted to fewer vectors than
// dimensions (eval-gen --n 4 on 128 features) are singular, and the
// product Frechet diagonalises has a long run of eigenvalues at rounding
// level; the distance must still come out, and match the one computed in
// the small space: with cov_k = X_kᵀX_k/(n−1) for the centred n×d data
// X_k, tr((cov1·cov2)^½) is the sum of the singular values of
// X2·X1ᵀ/(n−1).
func TestFrechetFewVectors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 2; n <= 8; n++ {
		frechetFewVectors(t, rng, n)
	}
}

func frechetFewVectors(t *testing.T, rng *rand.Rand, n int) {
	const d = 128
	fit := func() (mu, cov, centred []float64) {
		f := make([]float64, n*d)
		for i := range f {
			f[i] = max(0, rng.NormFloat64()) // ReLU-like features
		}
		mu, cov, err := FitGaussian(f, n, d)
		if err != nil {
			t.Fatal(err)
		}
		for i := range f {
			f[i] -= mu[i%d]
		}
		return mu, cov, f
	}
	mu1, c1, x1 := fit()
	mu2, c2, x2 := fit()
	got, err := Frechet(mu1, c1, mu2, c2, d)
	if err != nil {
		t.Errorf("Frechet of %d vectors in %d dimensions: %v", n, d, err)
		return
	}
	g := make([]float64, n*n) // G = X2·X1ᵀ/(n−1), then GᵀG
	for i := range n {
		for j := range n {
			for k := range d {
				g[i*n+j] += x2[i*d+k] * x1[j*d+k] / float64(n-1)
			}
		}
	}
	gtg := make([]float64, n*n)
	for i := range n {
		for j := range n {
			for k := range n {
				gtg[i*n+j] += g[k*n+i] * g[k*n+j]
			}
		}
	}
	sv, _, err := SymEig(gtg, n, false)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for i := range d {
		want += (mu1[i]-mu2[i])*(mu1[i]-mu2[i]) + c1[i*d+i] + c2[i*d+i]
	}
	for _, v := range sv {
		want -= 2 * math.Sqrt(max(v, 0))
	}
	if !near(got, want, 1e-6*want) {
		t.Errorf("Frechet of %d vectors in %d dimensions = %v, want %v", n, d, got, want)
	}
}
