package metrics

import (
	"fmt"
	"math"
)

// SSIM window and constants of Wang et al. 2004 and their ssim_index.m.
const (
	ssimRadius = 5 // 11×11 window
	ssimSigma  = 1.5
	ssimK1     = 0.01
	ssimK2     = 0.03
)

// SSIMMinSide is the fewest pixels a side SSIM can score: one window.
const SSIMMinSide = 2*ssimRadius + 1

// ssimWindow is the normalised 1-D Gaussian whose outer product is
// fspecial('gaussian', 11, 1.5); the 2-D window is separable, so filtering
// costs 22 rather than 121 multiplies per pixel. (fspecial also zeroes
// entries below eps·max, but at σ = 1.5 the smallest is ~1e-5·max, so that
// never triggers.)
var ssimWindow = func() [2*ssimRadius + 1]float64 {
	var g [2*ssimRadius + 1]float64
	var s float64
	for i := range g {
		x := float64(i - ssimRadius)
		g[i] = math.Exp(-x * x / (2 * ssimSigma * ssimSigma))
		s += g[i]
	}
	for i := range g {
		g[i] /= s
	}
	return g
}()

// SSIM is the mean structural similarity of two w×h planes with dynamic
// range peak (255 for 8-bit-scale luma), computed as the reference
// ssim_index.m does: Gaussian-weighted local statistics over 'valid'
// window positions only (no padding, so the map is (w−10)×(h−10)) and no
// downsampling.
func SSIM(a, b []float32, w, h int, peak float64) (float64, error) {
	if len(a) != w*h || len(b) != w*h {
		return 0, fmt.Errorf("SSIM: planes of %d and %d values for %dx%d", len(a), len(b), w, h)
	}
	n := SSIMMinSide
	if w < n || h < n {
		return 0, fmt.Errorf("SSIM needs at least %dx%d pixels, got %dx%d", n, n, w, h)
	}
	c1 := (ssimK1 * peak) * (ssimK1 * peak)
	c2 := (ssimK2 * peak) * (ssimK2 * peak)
	vw, vh := w-n+1, h-n+1
	// Five statistics, filtered horizontally into (vw × h) rows, then
	// vertically into the valid (vw × vh) map.
	var rows [5][]float64
	for k := range rows {
		rows[k] = make([]float64, vw*h)
	}
	g := ssimWindow
	for y := 0; y < h; y++ {
		ra, rb := a[y*w:(y+1)*w], b[y*w:(y+1)*w]
		for x := 0; x < vw; x++ {
			var ma, mb, aa, bb, ab float64
			for k := 0; k < n; k++ {
				va, vb := float64(ra[x+k]), float64(rb[x+k])
				gk := g[k]
				ma += gk * va
				mb += gk * vb
				aa += gk * va * va
				bb += gk * vb * vb
				ab += gk * va * vb
			}
			i := y*vw + x
			rows[0][i], rows[1][i], rows[2][i], rows[3][i], rows[4][i] = ma, mb, aa, bb, ab
		}
	}
	var sum float64
	for y := 0; y < vh; y++ {
		for x := 0; x < vw; x++ {
			var s [5]float64
			for k := 0; k < n; k++ {
				i := (y+k)*vw + x
				for j := range s {
					s[j] += g[k] * rows[j][i]
				}
			}
			mu1, mu2 := s[0], s[1]
			s11, s22, s12 := s[2]-mu1*mu1, s[3]-mu2*mu2, s[4]-mu1*mu2
			sum += ((2*mu1*mu2 + c1) * (2*s12 + c2)) / ((mu1*mu1 + mu2*mu2 + c1) * (s11 + s22 + c2))
		}
	}
	return sum / float64(vw*vh), nil
}
