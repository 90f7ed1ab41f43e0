package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// DefaultMaxPixels bounds the images Read decodes when ReadOptions leaves
// MaxPixels at zero: 2²⁸ pixels (e.g. 16384×16384), about 4 GiB as float32
// RGBA, well past any real photo but small enough that a crafted header
// cannot make us allocate the machine's memory.
const DefaultMaxPixels = 1 << 28

// FormatNames lists the formats Read decodes, for messages.
const FormatNames = "PNG, JPEG, WebP, BMP, TIFF or GIF"

// Extensions are the file name extensions of FormatNames, in lower case:
// what folder walks pick up.
var Extensions = []string{".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

// HasImageExt reports whether name ends in one of Extensions, in any case.
func HasImageExt(name string) bool {
	return slices.Contains(Extensions, strings.ToLower(filepath.Ext(name)))
}

// ErrUnsupported is returned (wrapped) for files in none of FormatNames.
var ErrUnsupported = errors.New("unsupported image format (want " + FormatNames + ")")

// ErrTooLarge is returned (wrapped) when a header announces more pixels than
// the reader allows.
var ErrTooLarge = errors.New("image too large")

// ReadOptions tunes Read and Decode.
type ReadOptions struct {
	// MaxPixels is the largest width×height accepted; 0 means
	// DefaultMaxPixels. It is checked against the header before any pixel
	// memory is allocated, which is what defeats decompression bombs.
	MaxPixels int64
}

// Read decodes the image file at path (one of FormatNames) with default
// options.
func Read(path string) (*Image, error) { return ReadWith(path, ReadOptions{}) }

// ReadWith decodes the file at path. Errors name the file.
func ReadWith(path string, opt ReadOptions) (*Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	m, err := Decode(data, opt)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return m, nil
}

type format struct {
	name   string
	magic  func([]byte) bool
	config func([]byte) (image.Config, error)
	decode func([]byte) (image.Image, error)
}

// formats is an explicit table rather than image.RegisterFormat so that
// importing this package does not change what image.Decode accepts elsewhere
// and so that the set we promise is exactly the set we decode.
var formats = []format{
	{"png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) },
		func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }},
	{"jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8}) },
		func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }},
	// BMP because classic SR training sets (T91) ship as BMP files.
	{"bmp", func(b []byte) bool { return bytes.HasPrefix(b, []byte("BM")) },
		func(b []byte) (image.Config, error) { return bmp.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return bmp.Decode(bytes.NewReader(b)) }},
	{"webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	},
		func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }},
	// TIFF because photographers keep 16-bit work in it.
	{"tiff", isTIFF, tiffConfig, tiffDecode},
	// GIF because images saved from the web are; stills only.
	{"gif", isGIF, gifConfig, gifDecode},
}

// Decode decodes an in-memory image file (one of FormatNames). The
// orientation a JPEG's EXIF or a TIFF's own tag records is applied, so the
// result is the picture as a viewer shows it. The source bit depth, any
// embedded ICC colour profile and the EXIF block of a JPEG, PNG or WebP
// (upright) are kept in the Image (Depth, ICC, EXIF) for the outputs.
func Decode(data []byte, opt ReadOptions) (m *Image, err error) {
	// The decoders are meant not to panic on bad input, but a panic here
	// would take down a whole batch evaluation for one bad file, so turn any
	// that slips through into an error.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	f, w, h, err := header(data)
	if err != nil {
		return nil, err
	}
	limit := opt.MaxPixels
	if limit <= 0 {
		limit = DefaultMaxPixels
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%s header: empty size %dx%d", f.name, w, h)
	}
	if int64(w)*int64(h) > limit {
		return nil, fmt.Errorf("%w: %dx%d is over the limit of %d pixels", ErrTooLarge, w, h, limit)
	}
	img, err := f.decode(data)
	if err != nil {
		if strings.HasPrefix(err.Error(), f.name+":") { // the standard decoders name themselves
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	m = FromImage(img)
	// Go decodes grey+alpha (and grey with a tRNS chunk) PNGs to NRGBA, so
	// the grey origin is read from the header's colour type instead: 0 is
	// grey, 4 grey with alpha.
	// TIFF's photometric interpretation says the same.
	if f.name == "png" && len(data) > 25 && (data[25] == 0 || data[25] == 4) || f.name == "tiff" && tiffGray(data) {
		m.Gray = true
	}
	m.Depth = depthOf(f.name, data)
	m.ICC = iccOf(f.name, data)
	m.EXIF = exifOf(f.name, data)
	m.JPEGQuality = jpegQualityOf(f.name, data)
	return Orient(m, orientationOf(f.name, data)), nil
}

// Config reads only the header of the file at path and returns its width
// and height, so callers can refuse work before decoding.
func Config(path string) (w, h int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("decode %s: %w", path, err)
	}
	defer fh.Close()
	// Headers fit well within 64 KiB except JPEGs with a large EXIF/ICC
	// block before SOF, so read more if that fails; a TIFF's directory may
	// follow its pixels, so a TIFF is read whole.
	second := int64(16 << 20)
	for _, n := range []int64{64 << 10, second} {
		buf := make([]byte, n)
		k, rerr := fh.ReadAt(buf, 0)
		buf = buf[:k]
		if isTIFF(buf) && rerr == nil {
			st, err := fh.Stat()
			if err != nil {
				return 0, 0, fmt.Errorf("decode %s: %w", path, err)
			}
			buf = make([]byte, st.Size())
			k, rerr = fh.ReadAt(buf, 0)
			buf = buf[:k]
		}
		_, w, h, cerr := header(buf)
		if cerr == nil {
			return w, h, nil
		}
		if rerr != nil || isTIFF(buf) || errors.Is(cerr, ErrUnsupported) { // whole file read, or not an image at all
			return 0, 0, fmt.Errorf("decode %s: %w", path, cerr)
		}
	}
	return 0, 0, fmt.Errorf("decode %s: header not found in the first %d MiB", path, second>>20)
}

// header reads a file's format and its size as displayed (orientation
// applied) from its header; ErrUnsupported (wrapped) for none of
// FormatNames.
func header(data []byte) (f *format, w, h int, err error) {
	if len(data) == 0 {
		// Say so rather than "unsupported": an empty file is usually a
		// failed download or copy, not a format to convert.
		return nil, 0, 0, fmt.Errorf("empty file: %w", ErrUnsupported)
	}
	if f = formatOf(data); f == nil {
		return nil, 0, 0, ErrUnsupported
	}
	cfg, err := f.config(data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s header: %w", f.name, err)
	}
	w, h = cfg.Width, cfg.Height
	if o := orientationOf(f.name, data); o >= 5 && o <= 8 {
		w, h = h, w
	}
	return f, w, h, nil
}
