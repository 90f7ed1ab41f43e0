package metrics

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image
// quality analyzer", IEEE SPL 2013) scores how far an image's local
// statistics are from those of pristine natural photos: lower is more
// natural. It needs no reference, so it can judge detail that a diffusion
// model invents, which PSNR punishes and cannot tell from noise.
//
// This follows MATLAB's niqe and BasicSR's calculate_niqe (convert_to 'y'):
// the BT.601 luma rounded to integers, 96×96 blocks without overlap, MSCN
// coefficients from the 7×7 Gaussian window (edges replicated), 18
// generalised-Gaussian features a block at the image's scale and again
// after MATLAB bicubic ÷2, and the Mahalanobis-like distance between the
// blocks' Gaussian and the pristine one.

// niqeParams is the pristine model of the official release (as BasicSR
// ships it in niqe_pris_params.npz): mu (36), cov (36×36, row-major) and
// the 7×7 Gaussian window, float64 little-endian, written by
// metrics/internal/niqegen.
//
//go:embed niqe_params.bin
var niqeParams []byte

const (
	niqeFeatures = 36
	niqeBlock    = 96
)

var niqeMu, niqeCov, niqeWindow = func() (mu, cov, win []float64) {
	v := make([]float64, len(niqeParams)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(niqeParams[8*i:]))
	}
	n := niqeFeatures
	return v[:n], v[n : n+n*n], v[n+n*n:]
}()

// NIQE returns the NIQE of img on its luma, as the published tables
// compute it (colour images: MATLAB's rgb2ycbcr Y; grey ones: the grey
// value). The image needs at least two 96×96 blocks; smaller ones are an
// error, since one block gives no covariance.
func NIQE(img *imageio.Image) (float64, error) {
	y := Y(img)
	plane := make([]float64, len(y))
	for i, v := range y {
		plane[i] = math.Round(float64(v))
	}
	return NIQEPlane(plane, img.W, img.H)
}

// NIQEPlane is NIQE of a grey plane of w×h values on the 0–255 scale,
// used as given (NIQE rounds the luma first).
func NIQEPlane(y []float64, w, h int) (float64, error) {
	bw, bh := w/niqeBlock, h/niqeBlock
	if bw*bh < 2 {
		return math.NaN(), fmt.Errorf("NIQE of a %dx%d image: it needs at least two %d-pixel blocks", w, h, niqeBlock)
	}
	// Crop to whole blocks, as the official code does.
	cw, ch := bw*niqeBlock, bh*niqeBlock
	img := make([]float64, cw*ch)
	for r := range ch {
		copy(img[r*cw:(r+1)*cw], y[r*w:r*w+cw])
	}
	feats := make([][]float64, bw*bh)
	for i := range feats {
		feats[i] = make([]float64, 0, niqeFeatures)
	}
	for scale := 1; scale <= 2; scale++ {
		n := mscn(img, cw, ch)
		bs := niqeBlock / scale
		blk := make([]float64, bs*bs)
		for bx := range bw {
			for by := range bh {
				for r := range bs {
					copy(blk[r*bs:(r+1)*bs], n[(by*bs+r)*cw+bx*bs:])
				}
				feats[bx*bh+by] = append(feats[bx*bh+by], blockFeatures(blk, bs)...)
			}
		}
		if scale == 1 {
			// MATLAB imresize(img, 0.5): bicubic with antialiasing, on [0, 1].
			f := make([]float32, len(img))
			for i, v := range img {
				f[i] = float32(v / 255)
			}
			half, err := resample.Resize(f, cw, ch, 1, cw/2, ch/2, resample.Options{Method: resample.Bicubic})
			if err != nil {
				return math.NaN(), fmt.Errorf("NIQE: %w", err)
			}
			cw, ch = cw/2, ch/2
			img = img[:cw*ch]
			for i, v := range half {
				img[i] = float64(v) * 255
			}
		}
	}
	return niqeDistance(feats)
}

// mscn returns the mean-subtracted contrast-normalised coefficients
// (x − μ)/(σ + 1), μ and σ from the Gaussian window with the edges
// replicated.
func mscn(img []float64, w, h int) []float64 {
	const k = 3 // the window is 7×7
	out := make([]float64, len(img))
	for y := range h {
		for x := range w {
			var mu, sq float64
			for dy := -k; dy <= k; dy++ {
				row := min(max(y+dy, 0), h-1) * w
				for dx := -k; dx <= k; dx++ {
					v := img[row+min(max(x+dx, 0), w-1)]
					g := niqeWindow[(dy+k)*7+dx+k]
					mu += g * v
					sq += g * v * v
				}
			}
			sigma := math.Sqrt(math.Abs(sq - mu*mu))
			out[y*w+x] = (img[y*w+x] - mu) / (sigma + 1)
		}
	}
	return out
}

// blockFeatures returns a block's 18 features: the generalised Gaussian
// fit of its coefficients (shape, scale) and, for the products of each
// coefficient with its neighbour right, below, below-right and below-left
// (the block wrapping around, as numpy's roll), the asymmetric fit (shape,
// mean, left and right scales).
func blockFeatures(b []float64, n int) []float64 {
	alpha, l, r := aggdFit(b)
	f := []float64{alpha, (l + r) / 2}
	prod := make([]float64, len(b))
	for _, s := range [][2]int{{0, 1}, {1, 0}, {1, 1}, {1, -1}} {
		for y := range n {
			for x := range n {
				sy, sx := (y-s[0]+n)%n, (x-s[1]+n)%n
				prod[y*n+x] = b[y*n+x] * b[sy*n+sx]
			}
		}
		alpha, l, r := aggdFit(prod)
		mean := (r - l) * math.Gamma(2/alpha) / math.Gamma(1/alpha)
		f = append(f, alpha, mean, l, r)
	}
	return f
}

// aggdGrid is the shape grid 0.2, 0.201, …, 10 of the official fit, with
// ρ(α) = Γ(2/α)² / (Γ(1/α) Γ(3/α)) for each.
var aggdGrid, aggdRho = func() (g, rho []float64) {
	for i := 0; i <= 9800; i++ {
		a := 0.2 + float64(i)*0.001
		g = append(g, a)
		rho = append(rho, math.Pow(math.Gamma(2/a), 2)/(math.Gamma(1/a)*math.Gamma(3/a)))
	}
	return g, rho
}()

// aggdFit estimates an asymmetric generalised Gaussian by moment matching
// on the grid: the shape α and the left and right scales. A block without
// values on one side gives NaN scales (and the grid's first shape), as
// the reference code does; such blocks drop out of the covariance.
func aggdFit(b []float64) (alpha, left, right float64) {
	var ls, rs, abs, sq float64
	var nl, nr int
	for _, v := range b {
		switch {
		case v < 0:
			ls += v * v
			nl++
		case v > 0:
			rs += v * v
			nr++
		}
		abs += math.Abs(v)
		sq += v * v
	}
	n := float64(len(b))
	lstd, rstd := math.Sqrt(ls/float64(nl)), math.Sqrt(rs/float64(nr))
	g := lstd / rstd
	rhat := (abs / n) * (abs / n) / (sq / n)
	norm := rhat * (g*g*g + 1) * (g + 1) / ((g*g + 1) * (g*g + 1))
	best, at := math.Inf(1), 0
	for i, r := range aggdRho {
		if d := (r - norm) * (r - norm); d < best {
			best, at = d, i
		}
	}
	alpha = aggdGrid[at]
	k := math.Sqrt(math.Gamma(1/alpha) / math.Gamma(3/alpha))
	return alpha, lstd * k, rstd * k
}

// niqeDistance fits a Gaussian to the blocks' features (the mean ignoring
// NaNs, the covariance over the blocks with none) and returns
// sqrt((μp − μ)ᵀ ((Σp + Σ)/2)⁺ (μp − μ)) against the pristine model.
func niqeDistance(feats [][]float64) (float64, error) {
	d := niqeFeatures
	mu := make([]float64, d)
	for j := range d {
		var s float64
		var n int
		for _, f := range feats {
			if !math.IsNaN(f[j]) {
				s += f[j]
				n++
			}
		}
		mu[j] = s / float64(n)
	}
	var clean []float64
	rows := 0
	for _, f := range feats {
		ok := true
		for _, v := range f {
			ok = ok && !math.IsNaN(v)
		}
		if ok {
			clean = append(clean, f...)
			rows++
		}
	}
	if rows < 2 {
		return math.NaN(), errors.New("NIQE: fewer than two blocks with finite features (a flat image?)")
	}
	_, cov, err := FitGaussian(clean, rows, d)
	if err != nil {
		return math.NaN(), fmt.Errorf("NIQE: %w", err)
	}
	m := make([]float64, d*d)
	for i := range m {
		m[i] = (niqeCov[i] + cov[i]) / 2
	}
	inv, err := pinvSym(m, d)
	if err != nil {
		return math.NaN(), fmt.Errorf("NIQE: %w", err)
	}
	diff := make([]float64, d)
	for j := range d {
		diff[j] = niqeMu[j] - mu[j]
	}
	var q float64
	for i := range d {
		for j := range d {
			q += diff[i] * inv[i*d+j] * diff[j]
		}
	}
	return math.Sqrt(q), nil
}

// pinvSym is the Moore–Penrose pseudo-inverse of a symmetric d×d matrix,
// dropping eigenvalues at or below 1e-15 of the largest, as numpy's pinv
// does with its default cut-off.
func pinvSym(a []float64, d int) ([]float64, error) {
	vals, vecs, err := SymEig(a, d, true)
	if err != nil {
		return nil, err
	}
	top := 0.0
	for _, v := range vals {
		top = max(top, math.Abs(v))
	}
	inv := make([]float64, d*d)
	for k, v := range vals {
		if math.Abs(v) <= 1e-15*top {
			continue
		}
		for i := range d {
			for j := range d {
				inv[i*d+j] += vecs[k*d+i] * vecs[k*d+j] / v
			}
		}
	}
	return inv, nil
}
