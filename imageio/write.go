package imageio

import (
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
)

// WriteOptions tunes Write.
type WriteOptions struct {
	// Quality is the JPEG quality, 1–100; 0 means 95.
	Quality int
	// Bits16 writes 16 bits per sample to PNG and TIFF, keeping the float
	// precision that 8 bits would round away. JPEG is always 8-bit.
	Bits16 bool
	// ICC is the colour profile to embed (PNG iCCP chunk, JPEG APP2
	// segments, TIFF tag 34675); nil means the image's own, Image.ICC, and an empty
	// non-nil slice means none.
	ICC []byte
	// EXIF is the EXIF block to embed in PNG and JPEG output (at most
	// MaxEXIF bytes); nil means the image's own, Image.EXIF, and an empty
	// non-nil slice means none.
	EXIF []byte
}

// Format is an output file format.
type Format int

// The formats Write can produce.
const (
	PNG Format = iota + 1
	JPEG
	// TIFF is uncompressed baseline TIFF (TIFFWriter), for 16-bit photo
	// workflows.
	TIFF
)

// FormatFor picks the output format from a file name's extension (.png,
// .jpg, .jpeg, .tif, .tiff, any case).
func FormatFor(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return PNG, nil
	case ".jpg", ".jpeg":
		return JPEG, nil
	case ".tif", ".tiff":
		return TIFF, nil
	}
	return 0, fmt.Errorf("cannot tell the output format from %q: use .png, .jpg, .jpeg, .tif or .tiff", filepath.Ext(path))
}

// Write stores m at path as PNG, JPEG or TIFF, chosen by the extension,
// with default options.
func Write(path string, m *Image) error { return WriteWith(path, m, WriteOptions{}) }

// WriteWith stores m at path. The data go to a temporary file in the same
// directory that is renamed over path only once complete, so a failure (full
// disk, a kill) never leaves a truncated image where a good one is expected.
func WriteWith(path string, m *Image, opt WriteOptions) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("encode %s: %w", path, err)
		}
	}()
	f, err := FormatFor(path)
	if err != nil {
		return err
	}
	if err := m.Check(); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, m, f, opt) })
}

// Encode writes m to w in format f. JPEG has no alpha channel, so for JPEG
// the colour is written as is and Alpha is ignored. The ICC profile
// (opt.ICC, else m.ICC) is embedded when there is one; the standard
// library encoders know nothing of profiles, so it is inserted into their
// output as it streams past.
func Encode(w io.Writer, m *Image, f Format, opt WriteOptions) error {
	if err := m.Check(); err != nil {
		return err
	}
	if !Finite(m.Pix) || !Finite(m.Alpha) {
		return errors.New("image contains NaN or infinite values")
	}
	if f == TIFF {
		t, err := NewTIFFWriter(w, m.W, m.H, TIFFOptions{Alpha: m.Alpha != nil, Gray: m.Gray, Bits16: opt.Bits16, ICC: iccFor(m, opt)})
		if err != nil {
			return err
		}
		if err := t.WriteRows(Interleave(m.Pix, m.Alpha), m.H); err != nil {
			return err
		}
		return t.Close()
	}
	if f != PNG && f != JPEG {
		return fmt.Errorf("unknown format %d", f)
	}
	q := opt.Quality
	if q == 0 {
		q = 95
	}
	if f == JPEG && (q < 1 || q > 100) {
		return fmt.Errorf("JPEG quality %d outside 1–100", q)
	}
	exif := opt.EXIF
	if exif == nil {
		exif = m.EXIF
	}
	iw, err := withMeta(w, f, iccFor(m, opt), exif)
	if err != nil {
		return err
	}
	if iw != nil {
		w = iw
	}
	if f == PNG {
		err = png.Encode(w, m.ToImage(opt.Bits16))
	} else {
		opaque := *m
		opaque.Alpha = nil
		err = jpeg.Encode(w, opaque.ToImage(false), &jpeg.Options{Quality: q})
	}
	if err == nil && iw != nil {
		err = iw.finish()
	}
	return err
}

// iccFor is the profile to embed in m's file: opt.ICC, else m's own.
func iccFor(m *Image, opt WriteOptions) []byte {
	if opt.ICC != nil {
		return opt.ICC
	}
	return m.ICC
}

// Interleave returns RGB values with their alpha as RGBA (nil alpha: rgb
// itself), as the row writers take them.
func Interleave(rgb, alpha []float32) []float32 {
	if alpha == nil {
		return rgb
	}
	out := make([]float32, 0, len(alpha)*4)
	for i, a := range alpha {
		out = append(out, rgb[3*i], rgb[3*i+1], rgb[3*i+2], a)
	}
	return out
}
