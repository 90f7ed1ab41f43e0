// Package resample resizes float32 images by any real factor with the
// separable filters of MATLAB's imresize: bicubic (the benchmark protocol's
// degradation and baseline), bilinear, nearest and Lanczos-3.
//
// Compatibility with imresize is the point of the package, because the
// super-resolution literature defines its low-resolution inputs and its
// bicubic baseline by that function. So the package follows it exactly:
// the kernel is widened by 1/scale when shrinking (antialiasing), sample
// positions map as u = x/scale + ½(1 − 1/scale), borders are handled by
// mirror-symmetric index padding, weights are normalised to sum to one, and
// the dimension with the smaller scale factor is resized first. Values are
// never rounded or clamped; callers quantise where a stored file would.
package resample

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// Method is an interpolation kernel.
type Method int

// The supported kernels.
const (
	// Bicubic is Keys' cubic convolution with a = −0.5, as in imresize.
	Bicubic Method = iota
	// Bilinear is the triangle kernel.
	Bilinear
	// Nearest picks one source pixel; it is never antialiased, as in imresize.
	Nearest
	// Lanczos3 is the 3-lobed windowed sinc.
	Lanczos3
	// Area is imresize's box kernel: when shrinking, each output pixel is
	// the average of the input area it covers (OpenCV's INTER_AREA); when
	// enlarging, it repeats pixels as Nearest does.
	Area
)

var methodNames = []string{"bicubic", "bilinear", "nearest", "lanczos3", "area"}

// String returns the name ParseMethod accepts.
func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// MethodNames lists the accepted method names.
func MethodNames() []string { return append([]string(nil), methodNames...) }

// ParseMethod turns a name such as "bicubic" into a Method.
func ParseMethod(s string) (Method, error) {
	for i, n := range methodNames {
		if strings.EqualFold(s, n) {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("unknown resampling method %q (want one of %s)", s, strings.Join(methodNames, ", "))
}

// kernel returns the filter and its support width in source pixels at scale 1.
func (m Method) kernel() (func(float64) float64, float64) {
	switch m {
	case Bilinear:
		return triangle, 2
	case Nearest:
		return box, 1
	case Lanczos3:
		return lanczos3, 6
	case Area:
		return box, 1
	}
	return cubic, 4
}

func cubic(x float64) float64 {
	x = math.Abs(x)
	x2, x3 := x*x, x*x*x
	switch {
	case x <= 1:
		return 1.5*x3 - 2.5*x2 + 1
	case x <= 2:
		return -0.5*x3 + 2.5*x2 - 4*x + 2
	}
	return 0
}

func triangle(x float64) float64 {
	switch {
	case -1 <= x && x < 0:
		return x + 1
	case 0 <= x && x <= 1:
		return 1 - x
	}
	return 0
}

// box is half-open so that a sample exactly between two pixels picks one of
// them, not both.
func box(x float64) float64 {
	if -0.5 <= x && x < 0.5 {
		return 1
	}
	return 0
}

func lanczos3(x float64) float64 {
	if x == 0 {
		return 1
	}
	if math.Abs(x) >= 3 {
		return 0
	}
	return math.Sin(math.Pi*x) * math.Sin(math.Pi*x/3) / (math.Pi * math.Pi * x * x / 3)
}

// Options selects the kernel and, optionally, the scale the kernel is
// built for.
type Options struct {
	// Method is the interpolation kernel.
	Method Method
	// ScaleX and ScaleY are the scale factors the weights are computed for,
	// as imresize's scale argument. Zero means the size ratio (output/input),
	// which is what imresize uses when given an output size. They differ
	// only when a scaled size had to be rounded.
	ScaleX, ScaleY float64
	// NoAntialias keeps the kernel at its unit width when shrinking
	// (imresize's 'Antialiasing', false).
	NoAntialias bool
}

// axis holds the precomputed weights for resizing one dimension: output
// coordinate o reads source indices idx[o*taps:(o+1)*taps] with weights
// w[o*taps:(o+1)*taps]. Every output has the same number of taps (padded
// with zero weights) so the inner loops have a fixed trip count.
type axis struct {
	in, out, taps int
	idx           []int32
	w             []float32
	identity      bool
}

// contributions computes the weights of one dimension as imresize's function
// of the same name does, in float64, then stores them as float32.
func contributions(in, out int, scale float64, m Method, antialias bool) axis {
	if in == out && scale == 1 {
		return axis{in: in, out: out, identity: true}
	}
	f, width := m.kernel()
	h := f
	if scale < 1 && antialias && m != Nearest {
		h = func(x float64) float64 { return scale * f(scale*x) }
		width /= scale
	}
	p := int(math.Ceil(width)) + 2
	type span struct {
		idx []int
		w   []float64
	}
	spans := make([]span, out)
	taps := 1
	ws := make([]float64, p)
	for o := range out {
		// 1-based coordinates, as in imresize, so that the arithmetic and
		// hence the rounding are the same.
		u := float64(o+1)/scale + 0.5*(1-1/scale)
		left := math.Floor(u - width/2)
		sum := 0.0
		for j := range p {
			ws[j] = h(u - (left + float64(j)))
			sum += ws[j]
		}
		first, last := -1, -1
		for j := range p {
			if ws[j] != 0 {
				if first < 0 {
					first = j
				}
				last = j
			}
		}
		if first < 0 { // cannot happen for these kernels; keep the nearest pixel rather than divide by zero
			first, last, sum = p/2, p/2, 1
			ws[p/2] = 1
		}
		s := span{}
		for j := first; j <= last; j++ {
			s.idx = append(s.idx, Mirror(int(left)+j-1, in))
			s.w = append(s.w, ws[j]/sum)
		}
		spans[o] = s
		taps = max(taps, len(s.idx))
	}
	a := axis{in: in, out: out, taps: taps, idx: make([]int32, out*taps), w: make([]float32, out*taps)}
	for o, s := range spans {
		for j := range taps {
			k := min(j, len(s.idx)-1) // padding repeats a valid index with weight 0
			a.idx[o*taps+j] = int32(s.idx[k])
			if j < len(s.idx) {
				a.w[o*taps+j] = float32(s.w[j])
			}
		}
	}
	return a
}

// Mirror maps any integer index onto [0, n) by symmetric reflection with the
// edge pixel repeated (… 1 0 | 0 1 … n−1 | n−1 n−2 …), imresize's padding.
func Mirror(i, n int) int {
	m := i % (2 * n)
	if m < 0 {
		m += 2 * n
	}
	if m >= n {
		m = 2*n - 1 - m
	}
	return m
}

// ScaledSize is the output length imresize gives for scaling n by s:
// ceil(n·s). A product within 1e-9 (relative) of an integer counts as that
// integer, so that e.g. 100 × 1.1 gives 110 and not 111 because of binary
// floating point.
func ScaledSize(n int, s float64) int {
	v := float64(n) * s
	if r := math.Round(v); math.Abs(v-r) <= 1e-9*math.Max(1, v) {
		return max(1, int(r))
	}
	return max(1, int(math.Ceil(v)))
}

// Plan is a precomputed resize from one size to another for a given number
// of interleaved channels. Building the weights is the only setup cost, so a
// plan pays off when many images of the same size are resized. Apply is safe
// for concurrent use.
type Plan struct {
	w, h, c, dw, dh int
	x, y            axis
	rowsFirst       bool
	scratch         sync.Pool
}

// NewPlan prepares resizing w×h images with c interleaved channels to dw×dh.
func NewPlan(w, h, c, dw, dh int, opt Options) (*Plan, error) {
	if w <= 0 || h <= 0 || dw <= 0 || dh <= 0 || c <= 0 {
		return nil, fmt.Errorf("resample: cannot resize %dx%d×%d to %dx%d", w, h, c, dw, dh)
	}
	if opt.Method < 0 || int(opt.Method) >= len(methodNames) {
		return nil, fmt.Errorf("resample: unknown method %d", int(opt.Method))
	}
	sx, sy := opt.ScaleX, opt.ScaleY
	if sx == 0 {
		sx = float64(dw) / float64(w)
	}
	if sy == 0 {
		sy = float64(dh) / float64(h)
	}
	for _, s := range []float64{sx, sy} {
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("resample: scale %v is not a positive finite number", s)
		}
	}
	aa := !opt.NoAntialias
	return &Plan{
		w: w, h: h, c: c, dw: dw, dh: dh,
		x: contributions(w, dw, sx, opt.Method, aa),
		y: contributions(h, dh, sy, opt.Method, aa),
		// imresize sorts the scales and resizes along the smaller first (ties:
		// rows first). The order matters for cost and, slightly, rounding.
		rowsFirst: sy <= sx,
	}, nil
}

// Size returns the output width and height.
func (p *Plan) Size() (w, h int) { return p.dw, p.dh }

// Apply resizes src (h×w×c) into dst (dh×dw×c).
func (p *Plan) Apply(dst, src []float32) error {
	if len(src) != p.w*p.h*p.c || len(dst) != p.dw*p.dh*p.c {
		return fmt.Errorf("resample: buffers of %d and %d values for %dx%d×%d → %dx%d", len(src), len(dst), p.w, p.h, p.c, p.dw, p.dh)
	}
	switch {
	case p.x.identity && p.y.identity:
		copy(dst, src)
	case p.x.identity:
		vertical(dst, src, p.w*p.c, p.y)
	case p.y.identity:
		horizontal(dst, src, p.h, p.c, p.x)
	default:
		var mid []float32
		n := p.dw * p.h * p.c
		if p.rowsFirst {
			n = p.w * p.dh * p.c
		}
		if b, _ := p.scratch.Get().(*[]float32); b != nil && cap(*b) >= n {
			mid = (*b)[:n]
		} else {
			mid = make([]float32, n)
		}
		if p.rowsFirst {
			vertical(mid, src, p.w*p.c, p.y)
			horizontal(dst, mid, p.dh, p.c, p.x)
		} else {
			horizontal(mid, src, p.h, p.c, p.x)
			vertical(dst, mid, p.dw*p.c, p.y)
		}
		p.scratch.Put(&mid)
	}
	return nil
}

// Resize resizes src (h×w×c interleaved) to dw×dh in a new slice.
func Resize(src []float32, w, h, c, dw, dh int, opt Options) ([]float32, error) {
	p, err := NewPlan(w, h, c, dw, dh, opt)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, dw*dh*c)
	return dst, p.Apply(dst, src)
}

// Image resizes img to dw×dh. Alpha is resized as its own plane, and the
// colour is weighted by alpha while resampling (premultiplied), so that the
// arbitrary colour of invisible pixels does not bleed into visible ones;
// where alpha is present the results are clamped to [0, 1]. Opaque images
// are resized exactly as Resize does, without clamping.
func Image(img *imageio.Image, dw, dh int, opt Options) (*imageio.Image, error) {
	if err := img.Check(); err != nil {
		return nil, fmt.Errorf("resample: %w", err)
	}
	if img.Alpha == nil {
		pix, err := Resize(img.Pix, img.W, img.H, 3, dw, dh, opt)
		if err != nil {
			return nil, err
		}
		return &imageio.Image{W: dw, H: dh, Pix: pix, Gray: img.Gray}, nil
	}
	pre := make([]float32, len(img.Pix))
	for i, a := range img.Alpha {
		pre[3*i], pre[3*i+1], pre[3*i+2] = img.Pix[3*i]*a, img.Pix[3*i+1]*a, img.Pix[3*i+2]*a
	}
	pix, err := Resize(pre, img.W, img.H, 3, dw, dh, opt)
	if err != nil {
		return nil, err
	}
	alpha, err := Resize(img.Alpha, img.W, img.H, 1, dw, dh, opt)
	if err != nil {
		return nil, err
	}
	for i, a := range alpha {
		a = min(max(a, 0), 1)
		alpha[i] = a
		for k := 3 * i; k < 3*i+3; k++ {
			if a > 0 {
				pix[k] = min(max(pix[k]/a, 0), 1)
			} else {
				pix[k] = 0
			}
		}
	}
	return &imageio.Image{W: dw, H: dh, Pix: pix, Alpha: alpha, Gray: img.Gray}, nil
}

// Scale resizes img by factor s (output ceil(W·s)×ceil(H·s), see
// ScaledSize), building the kernel for s itself as imresize(img, s) does.
func Scale(img *imageio.Image, s float64, m Method) (*imageio.Image, error) {
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("resample: scale %v is not a positive finite number", s)
	}
	return Image(img, ScaledSize(img.W, s), ScaledSize(img.H, s), Options{Method: m, ScaleX: s, ScaleY: s})
}

// grain returns a loop grain so that each goroutine gets at least ~64k
// multiply-adds: below that, spawning costs more than it saves.
func grain(workPerItem int) int { return max(1, (1<<16)/max(1, workPerItem)) }

// horizontal resizes each of rows rows of src (a.in×c values) along x.
func horizontal(dst, src []float32, rows, c int, a axis) {
	in, out, taps := a.in*c, a.out*c, a.taps
	par.For(rows, grain(a.out*c*taps), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			s := src[y*in : (y+1)*in]
			d := dst[y*out : (y+1)*out]
			switch {
			case c == 3 && taps == 4:
				// Bicubic enlargement, the common case: unrolled, four taps.
				for o := 0; o < a.out; o++ {
					ix, w := a.idx[4*o:4*o+4:4*o+4], a.w[4*o:4*o+4:4*o+4]
					j0, j1, j2, j3 := 3*int(ix[0]), 3*int(ix[1]), 3*int(ix[2]), 3*int(ix[3])
					p0, p1, p2, p3 := s[j0:j0+3:j0+3], s[j1:j1+3:j1+3], s[j2:j2+3:j2+3], s[j3:j3+3:j3+3]
					dp := d[3*o : 3*o+3 : 3*o+3]
					dp[0] = w[0]*p0[0] + w[1]*p1[0] + w[2]*p2[0] + w[3]*p3[0]
					dp[1] = w[0]*p0[1] + w[1]*p1[1] + w[2]*p2[1] + w[3]*p3[1]
					dp[2] = w[0]*p0[2] + w[1]*p1[2] + w[2]*p2[2] + w[3]*p3[2]
				}
			case c == 3:
				for o := 0; o < a.out; o++ {
					idx, w := a.idx[o*taps:(o+1)*taps], a.w[o*taps:(o+1)*taps]
					var r, g, b float32
					for k, wk := range w {
						j := int(idx[k]) * 3
						px := s[j : j+3 : j+3]
						r += wk * px[0]
						g += wk * px[1]
						b += wk * px[2]
					}
					d[3*o], d[3*o+1], d[3*o+2] = r, g, b
				}
			case c == 1:
				for o := 0; o < a.out; o++ {
					idx, w := a.idx[o*taps:(o+1)*taps], a.w[o*taps:(o+1)*taps]
					var v float32
					for k, wk := range w {
						v += wk * s[idx[k]]
					}
					d[o] = v
				}
			default:
				for o := 0; o < a.out; o++ {
					idx, w := a.idx[o*taps:(o+1)*taps], a.w[o*taps:(o+1)*taps]
					dp := d[o*c : (o+1)*c]
					clear(dp)
					for k, wk := range w {
						j := int(idx[k]) * c
						for ch, v := range s[j : j+c] {
							dp[ch] += wk * v
						}
					}
				}
			}
		}
	})
}

// vertical resizes along y: each output row is a weighted sum of whole
// source rows of n values, which streams memory row by row.
func vertical(dst, src []float32, n int, a axis) {
	taps := a.taps
	par.For(a.out, grain(n*taps), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			d := dst[o*n : (o+1)*n]
			idx, w := a.idx[o*taps:(o+1)*taps], a.w[o*taps:(o+1)*taps]
			row := func(k int) []float32 { return src[int(idx[k])*n : (int(idx[k])+1)*n] }
			// Four taps per sweep over the row: fewer passes over d than
			// one axpy per tap, which is what limits this loop.
			k := 0
			for ; k+4 <= taps; k += 4 {
				s0, s1, s2, s3 := row(k), row(k+1), row(k+2), row(k+3)
				s0, s1, s2, s3 = s0[:len(d)], s1[:len(d)], s2[:len(d)], s3[:len(d)] // lets the compiler drop bounds checks
				w0, w1, w2, w3 := w[k], w[k+1], w[k+2], w[k+3]
				if k == 0 {
					for i := range d {
						d[i] = w0*s0[i] + w1*s1[i] + w2*s2[i] + w3*s3[i]
					}
				} else {
					for i := range d {
						d[i] += w0*s0[i] + w1*s1[i] + w2*s2[i] + w3*s3[i]
					}
				}
			}
			for ; k < taps; k++ {
				s0, w0 := row(k)[:len(d)], w[k]
				if k == 0 {
					for i := range d {
						d[i] = w0 * s0[i]
					}
				} else {
					for i := range d {
						d[i] += w0 * s0[i]
					}
				}
			}
		}
	})
}

// Alpha resizes a transparency plane the way every learned upscaling method
// does (they model colour only): MATLAB bicubic, clamped to [0, 1]. It
// holds the plane resized along x only, so a streamed output can take its
// alpha band by band with memory for the source height, not the output's.
type Alpha struct {
	y    axis
	cols []float32 // h×dw: the plane resized along x
	dw   int
}

// NewAlpha prepares resizing the w×h plane alpha to dw×dh.
func NewAlpha(alpha []float32, w, h, dw, dh int) (*Alpha, error) {
	if len(alpha) != w*h {
		return nil, fmt.Errorf("resample: %d alpha values for %dx%d", len(alpha), w, h)
	}
	p, err := NewPlan(w, h, 1, dw, dh, Options{Method: Bicubic})
	if err != nil {
		return nil, err
	}
	cols := alpha
	if !p.x.identity {
		cols = make([]float32, h*dw)
		horizontal(cols, alpha, h, 1, p.x)
	}
	return &Alpha{y: p.y, cols: cols, dw: dw}, nil
}

// Rows returns output rows [y0, y1) of the resized plane.
func (a *Alpha) Rows(y0, y1 int) []float32 {
	out := make([]float32, (y1-y0)*a.dw)
	if a.y.identity {
		copy(out, a.cols[y0*a.dw:y1*a.dw])
	} else {
		t := a.y.taps
		band := axis{in: a.y.in, out: y1 - y0, taps: t, idx: a.y.idx[y0*t : y1*t], w: a.y.w[y0*t : y1*t]}
		vertical(out, a.cols, a.dw, band)
	}
	for i, v := range out {
		out[i] = min(max(v, 0), 1)
	}
	return out
}

// ResizeAlpha is NewAlpha's whole plane at once.
func ResizeAlpha(alpha []float32, w, h, dw, dh int) ([]float32, error) {
	a, err := NewAlpha(alpha, w, h, dw, dh)
	if err != nil {
		return nil, err
	}
	return a.Rows(0, dh), nil
}
