package imageio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// TIFFWriter writes an uncompressed baseline TIFF row by row, so that an
// output too big to hold never is: the directory and every strip's offset
// are known before the first pixel (uncompressed strips have known
// sizes), and the pixels follow them. Little-endian, 8 or 16 bits a
// sample, RGB, RGBA (unassociated alpha) or grey, the ICC profile in tag
// 34675; no EXIF (it would need an IFD of its own). Grey with alpha is stored as RGBA, since common readers
// (x/image/tiff among them) do not read grey with an extra sample.
type TIFFWriter struct {
	out            io.Writer
	width, height  int
	in, spp, bytes int // floats a pixel given to WriteRows; samples and bytes a sample stored
	gray           bool
	rows           int
	buf            []byte
	err            error
}

// TIFFOptions say what a TIFFWriter stores.
type TIFFOptions struct {
	// Alpha stores an alpha channel; WriteRows then takes R, G, B, A a
	// pixel instead of R, G, B.
	Alpha bool
	// Gray stores one grey sample, the R value of each pixel (without
	// Alpha; with it the image is stored as RGBA).
	Gray bool
	// Bits16 stores 16 bits a sample, rounded as To16 rounds.
	Bits16 bool
	// ICC is a colour profile to embed, when not empty.
	ICC []byte
}

// tiffStripBytes is about how many bytes a strip holds: the TIFF
// specification suggests strips of about 8 KiB, larger ones read as well
// and keep the directory short.
const tiffStripBytes = 64 << 10

// NewTIFFWriter writes the header and directory of a width×height TIFF to
// out; WriteRows then takes its rows top to bottom and Close checks that
// all came. Baseline TIFF addresses its data with 32-bit offsets, so
// images of 4 GiB and more are refused.
func NewTIFFWriter(out io.Writer, width, height int, opt TIFFOptions) (*TIFFWriter, error) {
	t := &TIFFWriter{out: out, width: width, height: height, in: 3, spp: 3, bytes: 1}
	switch {
	case opt.Alpha:
		t.in, t.spp = 4, 4
	case opt.Gray:
		t.spp, t.gray = 1, true
	}
	if opt.Bits16 {
		t.bytes = 2
	}
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("tiff: size %dx%d", width, height)
	}
	rowBytes := width * t.spp * t.bytes
	rowsPerStrip := max(1, tiffStripBytes/rowBytes)
	strips := (height + rowsPerStrip - 1) / rowsPerStrip
	dir, err := tiffDirectory(width, height, t.spp, t.bytes, rowsPerStrip, strips, !t.gray, opt.Alpha, opt.ICC)
	if err != nil {
		return nil, err
	}
	if _, err := out.Write(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// tiffDirectory is a TIFF's header, its one image file directory and the
// directory's long values, laid out so that the pixels start right after.
func tiffDirectory(width, height, spp, bytesPer, rowsPerStrip, strips int, rgb, alpha bool, icc []byte) ([]byte, error) {
	le := binary.LittleEndian
	type entry struct {
		tag, typ uint16
		count    int
		value    []byte
	}
	shorts := func(tag uint16, vs ...int) entry {
		var b []byte
		for _, v := range vs {
			b = le.AppendUint16(b, uint16(v))
		}
		return entry{tag, 3, len(vs), b}
	}
	longs := func(tag uint16, vs ...int) entry {
		var b []byte
		for _, v := range vs {
			b = le.AppendUint32(b, uint32(v))
		}
		return entry{tag, 4, len(vs), b}
	}
	bits := make([]int, spp)
	for i := range bits {
		bits[i] = 8 * bytesPer
	}
	photometric := 1 // grey, black is zero
	if rgb {
		photometric = 2
	}
	offsets, counts := make([]int, strips), make([]int, strips)
	rowBytes := width * spp * bytesPer
	for i := range strips {
		counts[i] = min(rowsPerStrip, height-i*rowsPerStrip) * rowBytes
	}
	es := []entry{longs(256, width), longs(257, height), shorts(258, bits...), shorts(259, 1), shorts(262, photometric),
		longs(273, offsets...), shorts(277, spp), longs(278, rowsPerStrip), longs(279, counts...), shorts(284, 1)}
	if alpha {
		es = append(es, shorts(338, 2)) // unassociated alpha
	}
	if len(icc) > 0 {
		es = append(es, entry{34675, 7, len(icc), icc})
	}
	// Where everything goes: header, directory, long values, pixels.
	dirEnd := 8 + 2 + 12*len(es) + 4
	size := dirEnd
	for _, e := range es {
		if len(e.value) > 4 {
			size += (len(e.value) + 1) &^ 1
		}
	}
	if int64(size)+int64(rowBytes)*int64(height) > math.MaxUint32 {
		return nil, errors.New("tiff: 4 GiB or more of pixels; baseline TIFF cannot address them (write PNG)")
	}
	for i := range offsets {
		offsets[i] = size + i*rowsPerStrip*rowBytes
	}
	es[5] = longs(273, offsets...)
	b := append([]byte("II*\x00"), 8, 0, 0, 0)
	b = le.AppendUint16(b, uint16(len(es)))
	var tail []byte
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, uint32(e.count))
		if len(e.value) <= 4 {
			b = append(b, e.value...)
			b = append(b, make([]byte, 4-len(e.value))...)
			continue
		}
		b = le.AppendUint32(b, uint32(dirEnd+len(tail)))
		tail = append(tail, e.value...)
		if len(tail)%2 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0) // no further directory
	return append(b, tail...), nil
}

// WriteRows stores n rows of RGB (RGBA with Alpha) values in [0, 1],
// clamped.
func (t *TIFFWriter) WriteRows(v []float32, n int) error {
	if t.err != nil {
		return t.err
	}
	if n < 0 || t.rows+n > t.height || len(v) != n*t.width*t.in {
		t.err = fmt.Errorf("tiff: %d values for %d rows of %d (%d of %d rows written)", len(v), n, t.width, t.rows, t.height)
		return t.err
	}
	t.buf = t.buf[:0]
	for p := 0; p < len(v); p += t.in {
		px := v[p : p+t.in]
		if t.gray {
			px = px[:1]
		}
		for _, x := range px {
			if t.bytes == 2 {
				t.buf = binary.LittleEndian.AppendUint16(t.buf, To16(x))
			} else {
				t.buf = append(t.buf, To8(x))
			}
		}
	}
	if _, err := t.out.Write(t.buf); err != nil {
		t.err = err
		return err
	}
	t.rows += n
	return nil
}

// Close checks that every row was written.
func (t *TIFFWriter) Close() error {
	if t.err != nil {
		return t.err
	}
	if t.rows != t.height {
		return fmt.Errorf("tiff: %d of %d rows written", t.rows, t.height)
	}
	return nil
}
