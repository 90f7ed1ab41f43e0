package degrade

import (
	"bytes"
	goimage "image"
	"image/jpeg"
	"math"
	"math/rand/v2"

	"fmt"

	"github.com/zoomdiff/zoomdiff/resample"
)

// Kernel returns a size×size blur kernel summing to one: the (generalised)
// Gaussian exp(−½·(xᵀΣ⁻¹x)^β) whose covariance has standard deviations sx
// and sy along axes rotated by theta radians. β = 1 is the Gaussian.
func Kernel(size int, sx, sy, theta, beta float64) []float32 {
	c, s := math.Cos(theta), math.Sin(theta)
	// Σ⁻¹ = R·diag(1/sx², 1/sy²)·Rᵀ.
	a := c*c/(sx*sx) + s*s/(sy*sy)
	b := c * s * (1/(sx*sx) - 1/(sy*sy))
	d := s*s/(sx*sx) + c*c/(sy*sy)
	k := make([]float64, size*size)
	r := size / 2
	sum := 0.0
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			fx, fy := float64(x), float64(y)
			q := a*fx*fx + 2*b*fx*fy + d*fy*fy
			v := math.Exp(-0.5 * math.Pow(q, beta))
			k[(y+r)*size+x+r] = v
			sum += v
		}
	}
	out := make([]float32, len(k))
	for i, v := range k {
		out[i] = float32(v / sum)
	}
	return out
}

// Convolve filters an h×w RGB image with a square odd-sided kernel,
// mirroring the image at its borders as resample does, into a new slice.
func Convolve(pix []float32, w, h int, kernel []float32) []float32 {
	size := int(math.Round(math.Sqrt(float64(len(kernel)))))
	r := size / 2
	out := make([]float32, len(pix))
	xs := make([]int, w+2*r)
	for i := range xs {
		xs[i] = resample.Mirror(i-r, w)
	}
	for y := range h {
		for ky := range size {
			row := pix[resample.Mirror(y+ky-r, h)*w*3:]
			kr := kernel[ky*size : (ky+1)*size]
			o := out[y*w*3 : (y+1)*w*3]
			for x := range w {
				var sr, sg, sb float32
				for kx, kv := range kr {
					p := row[xs[x+kx]*3:]
					sr += kv * p[0]
					sg += kv * p[1]
					sb += kv * p[2]
				}
				o[3*x] += sr
				o[3*x+1] += sg
				o[3*x+2] += sb
			}
		}
	}
	return out
}

// AddGaussian adds zero-mean Gaussian noise of standard deviation sigma (in
// [0, 1] units) to pix, RGB interleaved; grey noise is the same in the
// three channels of a pixel.
func AddGaussian(rng *rand.Rand, pix []float32, sigma float64, grey bool) {
	for i := 0; i < len(pix); i += 3 {
		n := rng.NormFloat64() * sigma
		for c := range 3 {
			if !grey && c > 0 {
				n = rng.NormFloat64() * sigma
			}
			pix[i+c] += float32(n)
		}
	}
}

// AddPoisson adds shot noise: each value x becomes x + scale·(P/256 − x)
// with P drawn from Poisson(256·x), Real-ESRGAN's model of an 8-bit
// sensor. Grey noise is drawn on the pixel's luma (BT.601) and added to
// the three channels.
func AddPoisson(rng *rand.Rand, pix []float32, scale float64, grey bool) {
	const levels = 256
	shot := func(x float32) float64 {
		lam := float64(max(x, 0)) * levels
		return scale * (poisson(rng, lam)/levels - lam/levels)
	}
	for i := 0; i < len(pix); i += 3 {
		if grey {
			n := float32(shot(0.299*pix[i] + 0.587*pix[i+1] + 0.114*pix[i+2]))
			pix[i] += n
			pix[i+1] += n
			pix[i+2] += n
			continue
		}
		for c := range 3 {
			pix[i+c] += float32(shot(pix[i+c]))
		}
	}
}

// poisson draws from Poisson(lam): by Knuth's product of uniforms for
// small lam, and from the normal approximation, rounded, above 30, where
// its error is far below the 8-bit quantisation that follows.
func poisson(rng *rand.Rand, lam float64) float64 {
	if lam <= 0 {
		return 0
	}
	if lam > 30 {
		return max(0, math.Round(lam+math.Sqrt(lam)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-lam), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// CompressJPEG replaces pix (h×w RGB in [0, 1]) by what a JPEG file of the
// given quality holds: encoded with the standard library's baseline
// encoder (4:2:0 chroma, the IJG tables) and decoded again.
func CompressJPEG(pix []float32, w, h, quality int) error {
	data, err := EncodeJPEG(pix, w, h, quality)
	if err != nil {
		return err
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("degrade: decoding our own JPEG: %w", err)
	}
	ycc, ok := m.(*goimage.YCbCr)
	if !ok {
		return fmt.Errorf("degrade: JPEG decoded as %T, want YCbCr", m)
	}
	for y := range h {
		for x := range w {
			yi, ci := ycc.YOffset(x, y), ycc.COffset(x, y)
			r, g, b := ycbcrToRGB(ycc.Y[yi], ycc.Cb[ci], ycc.Cr[ci])
			i := (y*w + x) * 3
			pix[i], pix[i+1], pix[i+2] = r, g, b
		}
	}
	return nil
}

// ycbcrToRGB is the JFIF conversion in float, without the standard
// library's 8-bit rounding of the result (which is applied later, once).
func ycbcrToRGB(y, cb, cr uint8) (r, g, b float32) {
	fy, fb, fr := float32(y), float32(cb)-128, float32(cr)-128
	return (fy + 1.402*fr) / 255, (fy - 0.344136*fb - 0.714136*fr) / 255, (fy + 1.772*fb) / 255
}

// EncodeJPEG encodes pix (h×w RGB in [0, 1], clamped and rounded to 8 bits)
// as a baseline JPEG of the given quality.
func EncodeJPEG(pix []float32, w, h, quality int) ([]byte, error) {
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("degrade: JPEG quality %d: want 1-100", quality)
	}
	m := goimage.NewNRGBA(goimage.Rect(0, 0, w, h))
	for i := range w * h {
		for c := range 3 {
			m.Pix[4*i+c] = uint8(math.Round(float64(min(max(pix[3*i+c], 0), 1)) * 255))
		}
		m.Pix[4*i+3] = 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("degrade: JPEG encode: %w", err)
	}
	return buf.Bytes(), nil
}

// JPEGQuality estimates the IJG quality factor a baseline JPEG was saved
// with from its luminance quantisation table (the first DQT table): the
// quality whose scaled standard table is closest to it. It returns 0 when
// the data holds no 8-bit quantisation table.
func JPEGQuality(data []byte) int {
	table := firstDQT(data)
	if table == nil {
		return 0
	}
	best, bestErr := 0, math.Inf(1)
	for q := 1; q <= 100; q++ {
		scale := 5000 / q
		if q >= 50 {
			scale = 200 - 2*q
		}
		e := 0.0
		for i, base := range stdLuminance {
			v := min(max((base*scale+50)/100, 1), 255)
			d := float64(v - int(table[i]))
			e += d * d
		}
		if e < bestErr {
			best, bestErr = q, e
		}
	}
	return best
}

// firstDQT returns the 64 values of the first 8-bit quantisation table in
// a JPEG stream (in zig-zag order, as the standard table below).
func firstDQT(data []byte) []byte {
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return nil
		}
		marker, n := data[i+1], int(data[i+2])<<8|int(data[i+3])
		if marker == 0xdb && i+4+65 <= len(data) && data[i+4]>>4 == 0 {
			return data[i+5 : i+5+64]
		}
		if marker == 0xda {
			return nil
		}
		i += 2 + n
	}
	return nil
}

// stdLuminance is the JPEG standard's (Annex K) luminance table in zig-zag
// order, the base the IJG quality factor scales.
var stdLuminance = [64]int{
	16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
	26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
	56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
	95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
}
