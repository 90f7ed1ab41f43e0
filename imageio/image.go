// Package imageio reads and writes the image files zoomdiff works on (PNG,
// JPEG, WebP, BMP, TIFF, GIF in; PNG, JPEG, TIFF out) and holds them as float32 pixels.
//
// The in-memory layout, RGB interleaved row-major, is exactly the engine's
// NHWC tensor with batch 1, so the networks read Image.Pix without copying.
// Every file, whatever its bit depth or colour type, becomes the same
// representation: grey is expanded to RGB, 16-bit samples keep their
// precision, and alpha is kept in its own plane so that colour processing
// never has to know about it.
package imageio

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Image is a decoded picture in float32.
type Image struct {
	// W and H are the width and height in pixels.
	W, H int
	// Pix holds R, G, B interleaved, row-major, H*W*3 values nominally in
	// [0, 1]. Processing may leave values slightly outside that range
	// (bicubic overshoot); writers clamp.
	Pix []float32
	// Alpha is the straight (not premultiplied) opacity, H*W values in
	// [0, 1], or nil when the image is fully opaque.
	Alpha []float32
	// Gray records that the source had a single colour channel (so R = G = B).
	// The benchmark protocol measures such images on the grey value itself
	// rather than on BT.601 luma, and writers store them as grey again.
	Gray bool
	// Depth is the number of bits per sample of the source file: 16 for
	// 16-bit PNGs and TIFFs, 8 for everything else. The zero value (an image built in
	// memory) means 8. Pix keeps the full precision either way; callers
	// that want a 16-bit source to give a 16-bit file ask for it with
	// WriteOptions.Bits16 (zoomdiff upscale does so for PNG output).
	Depth int
	// ICC is the source's embedded ICC colour profile (PNG iCCP, JPEG APP2,
	// WebP ICCP, TIFF tag 34675), nil when it has none or its colour space
	// is neither RGB nor grey (a CMYK JPEG's, whose pixels the decoder
	// converted to RGB). Pix holds the samples as stored, in
	// that profile's colour space, and Encode embeds the profile again in
	// PNG and JPEG output so that the colours mean the same thing.
	ICC []byte
	// EXIF is the source's EXIF block (a TIFF structure: capture time,
	// camera, GPS…) from a JPEG, PNG or WebP, with its orientation set to
	// 1 since Pix is upright; nil when it has none. Encode writes it again
	// into PNG (eXIf) and JPEG (APP1) output; TIFF output leaves it out.
	EXIF []byte
	// JPEGQuality is the quality a JPEG source was most likely saved at
	// (Info.JPEGQuality); 0 for other sources.
	JPEGQuality int
}

// New returns an opaque black w×h image. It panics on negative sizes,
// which are programming errors.
func New(w, h int) *Image {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("imageio.New: negative size %dx%d", w, h))
	}
	return &Image{W: w, H: h, Pix: make([]float32, w*h*3)}
}

// Clone returns a deep copy of m.
func (m *Image) Clone() *Image {
	c := &Image{W: m.W, H: m.H, Gray: m.Gray, Depth: m.Depth, JPEGQuality: m.JPEGQuality, Pix: append([]float32(nil), m.Pix...)}
	if m.ICC != nil {
		c.ICC = append([]byte(nil), m.ICC...)
	}
	if m.EXIF != nil {
		c.EXIF = append([]byte(nil), m.EXIF...)
	}
	if m.Alpha != nil {
		c.Alpha = append([]float32(nil), m.Alpha...)
	}
	return c
}

// Check reports whether the slices agree with the size, so that callers
// handed an Image built by hand fail with an error instead of an index panic.
func (m *Image) Check() error {
	if m == nil {
		return fmt.Errorf("image is nil")
	}
	if m.W <= 0 || m.H <= 0 {
		return fmt.Errorf("image has empty size %dx%d", m.W, m.H)
	}
	if len(m.Pix) != m.W*m.H*3 {
		return fmt.Errorf("image %dx%d has %d colour values, want %d", m.W, m.H, len(m.Pix), m.W*m.H*3)
	}
	if m.Alpha != nil && len(m.Alpha) != m.W*m.H {
		return fmt.Errorf("image %dx%d has %d alpha values, want %d", m.W, m.H, len(m.Alpha), m.W*m.H)
	}
	return nil
}

// Crop returns the w×h sub-image whose top-left corner is (x0, y0), copied.
func (m *Image) Crop(x0, y0, w, h int) (*Image, error) {
	if x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0+w > m.W || y0+h > m.H {
		return nil, fmt.Errorf("crop %dx%d+%d+%d outside a %dx%d image", w, h, x0, y0, m.W, m.H)
	}
	c := &Image{W: w, H: h, Gray: m.Gray, Depth: m.Depth, ICC: append([]byte(nil), m.ICC...), EXIF: append([]byte(nil), m.EXIF...), Pix: make([]float32, w*h*3)}
	for y := 0; y < h; y++ {
		copy(c.Pix[y*w*3:(y+1)*w*3], m.Pix[((y0+y)*m.W+x0)*3:])
	}
	if m.Alpha != nil {
		c.Alpha = make([]float32, w*h)
		for y := 0; y < h; y++ {
			copy(c.Alpha[y*w:(y+1)*w], m.Alpha[(y0+y)*m.W+x0:])
		}
	}
	return c, nil
}

// Quantize8 rounds every value to the nearest of the 256 levels an 8-bit
// file can store (clamping to [0, 1]), in place. Evaluations call it where a
// real pipeline would store an 8-bit file, so that scores match tools that
// measure saved files.
func (m *Image) Quantize8() {
	quantize8(m.Pix)
	quantize8(m.Alpha)
}

func quantize8(v []float32) {
	for i, x := range v {
		v[i] = float32(To8(x)) / 255
	}
}

// To8 maps a [0, 1] value to 8 bits, rounding half up and clamping, which is
// what MATLAB's uint8() does to the protocol's non-negative values.
func To8(v float32) uint8 {
	f := float64(v)*255 + 0.5
	if !(f >= 0) { // also catches NaN
		return 0
	}
	if f >= 255 {
		return 255
	}
	return uint8(f)
}

// To16 maps a [0, 1] value to 16 bits, rounding and clamping.
func To16(v float32) uint16 {
	f := float64(v)*65535 + 0.5
	if !(f >= 0) {
		return 0
	}
	if f >= 65535 {
		return 65535
	}
	return uint16(f)
}

// FromImage converts any image.Image to an Image. Common decoder outputs
// take fast paths that keep their exact precision; anything else goes
// through 16-bit non-premultiplied colour, which loses nothing for 8-bit
// sources.
func FromImage(src image.Image) *Image {
	b := src.Bounds()
	m := New(b.Dx(), b.Dy())
	// Every path fills alpha whole; it is kept only if some pixel is not
	// opaque.
	alpha := make([]float32, m.W*m.H)
	switch s := src.(type) {
	case *image.Gray:
		m.Gray = true
		fromGray(m, s)
		fill(alpha, 1)
	case *image.Gray16:
		m.Gray = true
		fromGray16(m, s)
		fill(alpha, 1)
	case *image.NRGBA:
		fromRGBA8(m, alpha, s.Pix, s.Stride, false)
	case *image.RGBA:
		fromRGBA8(m, alpha, s.Pix, s.Stride, true)
	case *image.NRGBA64:
		fromRGBA16(m, alpha, s.Pix, s.Stride, false)
	case *image.RGBA64:
		fromRGBA16(m, alpha, s.Pix, s.Stride, true)
	case *image.Paletted:
		fromPaletted(m, alpha, s)
	case *image.YCbCr:
		fromYCbCr(m, s, b.Min)
		fill(alpha, 1)
	case *image.NYCbCrA:
		fromYCbCr(m, &s.YCbCr, b.Min)
		for y := 0; y < m.H; y++ {
			for x := 0; x < m.W; x++ {
				alpha[y*m.W+x] = lut8[s.A[s.AOffset(b.Min.X+x, b.Min.Y+y)]]
			}
		}
	default:
		fromAny(m, alpha, src)
	}
	for _, a := range alpha {
		if a != 1 {
			m.Alpha = alpha
			break
		}
	}
	return m
}

// fromGray fills m's colour from an 8-bit grey image of m's size.
func fromGray(m *Image, s *image.Gray) {
	for y := 0; y < m.H; y++ {
		row := s.Pix[y*s.Stride:]
		for x := 0; x < m.W; x++ {
			v := lut8[row[x]]
			setRGB(m.Pix, y*m.W+x, v, v, v)
		}
	}
}

// fromGray16 fills m's colour from a 16-bit grey image of m's size.
func fromGray16(m *Image, s *image.Gray16) {
	for y := 0; y < m.H; y++ {
		row := s.Pix[y*s.Stride:]
		for x := 0; x < m.W; x++ {
			v := be16(row[2*x:]) / 65535
			setRGB(m.Pix, y*m.W+x, v, v, v)
		}
	}
}

// fromRGBA8 fills m's colour and alpha from the pixels of an image.NRGBA
// or, premultiplied, an image.RGBA: 4 bytes a pixel, rows stride bytes
// apart.
func fromRGBA8(m *Image, alpha []float32, pix []byte, stride int, premultiplied bool) {
	for y := 0; y < m.H; y++ {
		row := pix[y*stride:]
		for x := 0; x < m.W; x++ {
			p := row[4*x:]
			if !premultiplied || p[3] == 255 { // the common opaque case, exact like the other 8-bit paths
				setRGB(m.Pix, y*m.W+x, lut8[p[0]], lut8[p[1]], lut8[p[2]])
			} else {
				a := float32(p[3])
				setRGB(m.Pix, y*m.W+x, unpremul(float32(p[0]), a), unpremul(float32(p[1]), a), unpremul(float32(p[2]), a))
			}
			alpha[y*m.W+x] = lut8[p[3]]
		}
	}
}

// fromRGBA16 is fromRGBA8 for image.NRGBA64 and image.RGBA64: 8 bytes a
// pixel, big-endian samples.
func fromRGBA16(m *Image, alpha []float32, pix []byte, stride int, premultiplied bool) {
	for y := 0; y < m.H; y++ {
		row := pix[y*stride:]
		for x := 0; x < m.W; x++ {
			p := row[8*x:]
			a := be16(p[6:])
			if premultiplied {
				setRGB(m.Pix, y*m.W+x, unpremul(be16(p[0:]), a), unpremul(be16(p[2:]), a), unpremul(be16(p[4:]), a))
			} else {
				setRGB(m.Pix, y*m.W+x, be16(p[0:])/65535, be16(p[2:])/65535, be16(p[4:])/65535)
			}
			alpha[y*m.W+x] = a / 65535
		}
	}
}

// fromPaletted fills m's colour and alpha from a paletted image.
func fromPaletted(m *Image, alpha []float32, s *image.Paletted) {
	// Palette entries are converted once, not per pixel.
	pal := make([][4]float32, len(s.Palette))
	for i, c := range s.Palette {
		n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
		pal[i] = [4]float32{float32(n.R) / 65535, float32(n.G) / 65535, float32(n.B) / 65535, float32(n.A) / 65535}
	}
	for y := 0; y < m.H; y++ {
		row := s.Pix[y*s.Stride:]
		for x := 0; x < m.W; x++ {
			var c [4]float32 // an index past the palette is transparent black, as image.Paletted.At says
			if int(row[x]) < len(pal) {
				c = pal[row[x]]
			}
			setRGB(m.Pix, y*m.W+x, c[0], c[1], c[2])
			alpha[y*m.W+x] = c[3]
		}
	}
}

// fromYCbCr fills m's colour from JPEG's and lossy WebP's Y'CbCr, whose
// bounds start at origin. It converts with the 8-bit formula so results agree
// with other tools that decode to 8-bit RGB.
func fromYCbCr(m *Image, s *image.YCbCr, origin image.Point) {
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			yi, ci := s.YOffset(origin.X+x, origin.Y+y), s.COffset(origin.X+x, origin.Y+y)
			r, g, bl := color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
			setRGB(m.Pix, y*m.W+x, lut8[r], lut8[g], lut8[bl])
		}
	}
}

// fromAny fills m's colour and alpha from any other image through 16-bit
// non-premultiplied colour, one At call a pixel.
func fromAny(m *Image, alpha []float32, src image.Image) {
	b := src.Bounds()
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			n := color.NRGBA64Model.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			setRGB(m.Pix, y*m.W+x, float32(n.R)/65535, float32(n.G)/65535, float32(n.B)/65535)
			alpha[y*m.W+x] = float32(n.A) / 65535
		}
	}
}

// lut8 maps 8-bit samples to float32 by correctly rounded division, so that
// every decoding path gives bit-identical values for the same sample.
var lut8 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// be16 reads a big-endian 16-bit sample, the byte order of image.*64 types.
func be16(p []byte) float32 { return float32(uint16(p[0])<<8 | uint16(p[1])) }

// unpremul turns a premultiplied sample into a straight one in [0, 1].
// Fully transparent pixels have no colour; black is as good as any.
func unpremul(c, a float32) float32 {
	if a == 0 {
		return 0
	}
	return min(c/a, 1)
}

func setRGB(pix []float32, i int, r, g, b float32) {
	pix[3*i], pix[3*i+1], pix[3*i+2] = r, g, b
}

func fill(v []float32, x float32) {
	for i := range v {
		v[i] = x
	}
}

// ToImage converts m to a standard library image for encoding: grey
// sources become image.Gray or image.Gray16, the rest image.NRGBA or
// image.NRGBA64 (with alpha 1 when m is opaque). bits16 selects 16 bits
// per sample.
func (m *Image) ToImage(bits16 bool) image.Image {
	r := image.Rect(0, 0, m.W, m.H)
	n := m.W * m.H
	if m.Gray && m.Alpha == nil {
		if bits16 {
			g := image.NewGray16(r)
			for i := 0; i < n; i++ {
				v := To16(m.Pix[3*i])
				g.Pix[2*i], g.Pix[2*i+1] = byte(v>>8), byte(v)
			}
			return g
		}
		g := image.NewGray(r)
		for i := 0; i < n; i++ {
			g.Pix[i] = To8(m.Pix[3*i])
		}
		return g
	}
	if bits16 {
		o := image.NewNRGBA64(r)
		for i := 0; i < n; i++ {
			a := uint16(65535)
			if m.Alpha != nil {
				a = To16(m.Alpha[i])
			}
			p := o.Pix[8*i:]
			for c, v := range [4]uint16{To16(m.Pix[3*i]), To16(m.Pix[3*i+1]), To16(m.Pix[3*i+2]), a} {
				p[2*c], p[2*c+1] = byte(v>>8), byte(v)
			}
		}
		return o
	}
	o := image.NewNRGBA(r)
	for i := 0; i < n; i++ {
		a := uint8(255)
		if m.Alpha != nil {
			a = To8(m.Alpha[i])
		}
		o.Pix[4*i], o.Pix[4*i+1], o.Pix[4*i+2], o.Pix[4*i+3] = To8(m.Pix[3*i]), To8(m.Pix[3*i+1]), To8(m.Pix[3*i+2]), a
	}
	return o
}

// Finite reports whether every value is a finite number; writers refuse
// NaN and Inf rather than silently storing black.
func Finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
