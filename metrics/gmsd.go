package metrics

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// GMSD (Xue, Zhang, Mou and Bovik, "Gradient magnitude similarity
// deviation: a highly efficient perceptual image quality index", IEEE TIP
// 2014) is a full-reference perceptual metric with no learned weights:
// the standard deviation, over the image, of the local similarity of the
// two images' gradient magnitudes. 0 means the same structure everywhere;
// distortions that are uneven across the image (blur on edges, invented
// texture in flat areas) raise it, which is what a viewer notices. Lower
// is better.
//
// This follows the authors' MATLAB GMSD.m on grey values 0–255: a 2×2 box
// average kept at every second pixel (conv2 'same', zeros past the last
// row and column), Prewitt gradients ([1 0 −1]/3 over three rows, conv2
// 'same' with zero padding), the similarity (2·g1·g2 + T)/(g1² + g2² + T)
// with T = 170, and its sample standard deviation (std2).

// gmsdT is the authors' stability constant for 0–255 values.
const gmsdT = 170

// GMSD returns the GMSD between a reference and an output of the same
// size, on luma as PSNRY uses it, with border pixels shaved first.
func GMSD(ref, out *imageio.Image, shave int) (float64, error) {
	a, b, w, h, err := shavedY(ref, out, shave)
	if err != nil {
		return math.NaN(), err
	}
	return GMSDPlane(a, b, w, h)
}

// GMSDPlane is GMSD of two grey planes of w×h values on the 0–255 scale.
func GMSDPlane(ref, out []float32, w, h int) (float64, error) {
	if len(ref) != w*h || len(out) != w*h {
		return math.NaN(), fmt.Errorf("GMSD: planes of %d and %d values for %dx%d", len(ref), len(out), w, h)
	}
	if w < 2 || h < 2 {
		return math.NaN(), fmt.Errorf("GMSD of a %dx%d image: it needs at least 2x2 pixels", w, h)
	}
	g1, dw, dh := gradientMagnitude(ref, w, h)
	g2, _, _ := gradientMagnitude(out, w, h)
	if dw*dh < 2 {
		return 0, nil // one similarity value: no deviation
	}
	var sum, sq float64
	q := make([]float64, len(g1))
	for i := range q {
		q[i] = (2*g1[i]*g2[i] + gmsdT) / (g1[i]*g1[i] + g2[i]*g2[i] + gmsdT)
		sum += q[i]
	}
	mean := sum / float64(len(q))
	for _, v := range q {
		sq += (v - mean) * (v - mean)
	}
	return math.Sqrt(sq / float64(dw*dh-1)), nil
}

// gradientMagnitude halves the plane (2×2 mean at even positions, zeros
// beyond the edge) and returns its Prewitt gradient magnitude and size.
func gradientMagnitude(p []float32, w, h int) ([]float64, int, int) {
	at := func(x, y int) float64 {
		if x >= w || y >= h {
			return 0
		}
		return float64(p[y*w+x])
	}
	dw, dh := (w+1)/2, (h+1)/2
	half := make([]float64, dw*dh)
	for y := range dh {
		for x := range dw {
			half[y*dw+x] = (at(2*x, 2*y) + at(2*x+1, 2*y) + at(2*x, 2*y+1) + at(2*x+1, 2*y+1)) / 4
		}
	}
	hv := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= dw || y >= dh {
			return 0
		}
		return half[y*dw+x]
	}
	g := make([]float64, dw*dh)
	for y := range dh {
		for x := range dw {
			var gx, gy float64
			for k := -1; k <= 1; k++ {
				gx += hv(x+1, y+k) - hv(x-1, y+k)
				gy += hv(x+k, y+1) - hv(x+k, y-1)
			}
			gx, gy = gx/3, gy/3
			g[y*dw+x] = math.Sqrt(gx*gx + gy*gy)
		}
	}
	return g, dw, dh
}
