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

// tiffEntry is one field of a TIFF directory: its tag, type, value count
// and value bytes.
type tiffEntry struct {
	tag, typ uint16
	count    int
	value    []byte
}

// tiffShorts and tiffLongs are SHORT and LONG fields (little-endian).
func tiffShorts(tag uint16, vs ...int) tiffEntry {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return tiffEntry{tag, 3, len(vs), b}
}

func tiffLongs(tag uint16, vs ...int) tiffEntry {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return tiffEntry{tag, 4, len(vs), b}
}

// tiffIFDSize is the size of the directory of es with its long values.
func tiffIFDSize(es []tiffEntry) int {
	n := 2 + 12*len(es) + 4
	for _, e := range es {
		if len(e.value) > 4 {
			n += (len(e.value) + 1) &^ 1
		}
	}
	return n
}

// appendTIFFIFD appends the little-endian directory of es (sorted by tag)
// placed at file offset at, its values longer than four bytes right after
// it, and no further directory.
func appendTIFFIFD(b []byte, es []tiffEntry, at int) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, uint16(len(es)))
	values := at + 2 + 12*len(es) + 4
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
		b = le.AppendUint32(b, uint32(values+len(tail)))
		tail = append(tail, e.value...)
		if len(tail)%2 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0)
	return append(b, tail...)
}

// tiffImageEntries are the fields of a baseline image of spp samples of
// 8·bytesPer bits, RGB or grey, alpha unassociated, in strips of
// rowsPerStrip rows at the given offsets.
func tiffImageEntries(width, height, spp, bytesPer, rowsPerStrip int, offsets []int, rgb, alpha bool, icc []byte) []tiffEntry {
	bits := make([]int, spp)
	for i := range bits {
		bits[i] = 8 * bytesPer
	}
	photometric := 1 // grey, black is zero
	if rgb {
		photometric = 2
	}
	rowBytes := width * spp * bytesPer
	counts := make([]int, len(offsets))
	for i := range counts {
		counts[i] = min(rowsPerStrip, height-i*rowsPerStrip) * rowBytes
	}
	es := []tiffEntry{tiffLongs(256, width), tiffLongs(257, height), tiffShorts(258, bits...), tiffShorts(259, 1),
		tiffShorts(262, photometric), tiffLongs(273, offsets...), tiffShorts(277, spp), tiffLongs(278, rowsPerStrip),
		tiffLongs(279, counts...), tiffShorts(284, 1)}
	if alpha {
		es = append(es, tiffShorts(338, 2)) // unassociated alpha
	}
	if len(icc) > 0 {
		es = append(es, tiffEntry{tagICCProfile, 7, len(icc), icc})
	}
	return es
}

// tiffDirectory is a TIFF's header, its one image file directory and the
// directory's long values, laid out so that the pixels start right after.
func tiffDirectory(width, height, spp, bytesPer, rowsPerStrip, strips int, rgb, alpha bool, icc []byte) ([]byte, error) {
	offsets := make([]int, strips)
	size := 8 + tiffIFDSize(tiffImageEntries(width, height, spp, bytesPer, rowsPerStrip, offsets, rgb, alpha, icc))
	rowBytes := width * spp * bytesPer
	if int64(size)+int64(rowBytes)*int64(height) > math.MaxUint32 {
		return nil, errors.New("tiff: 4 GiB or more of pixels; baseline TIFF cannot address them (write PNG)")
	}
	for i := range offsets {
		offsets[i] = size + i*rowsPerStrip*rowBytes
	}
	b := append([]byte("II*\x00"), 8, 0, 0, 0)
	return appendTIFFIFD(b, tiffImageEntries(width, height, spp, bytesPer, rowsPerStrip, offsets, rgb, alpha, icc), 8), nil
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
