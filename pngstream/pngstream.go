// Package pngstream encodes PNG files row by row (RGB or grey, with or
// without alpha, 8 or 16 bits, optionally with an ICC profile), so that
// an image far larger than memory (a 12,800×12,800 upscale is 2 GB as
// float32) can be written as its rows are produced: only the current and the
// previous row are held, plus a few compression segments. The segments are
// compressed on every core (see parallelZlib).
//
// The standard library's image/png needs the whole image.Image up front,
// and the float32 → 8-bit NRGBA copy it would be handed doubles the peak
// memory of a server answering with a large image.
package pngstream

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// MaxSide is the largest width or height the PNG format allows (2³¹−1).
const MaxSide = 1<<31 - 1

// idatSize is the payload size of each IDAT chunk. Decoders do not care;
// 64 KiB keeps the per-chunk overhead (12 bytes) negligible while bounding
// the buffer.
const idatSize = 64 << 10

// Writer streams one PNG image. Create it with NewWriter, call WriteRows
// until every row has been given, then Close. A Writer is not safe for
// concurrent use.
//
// Nothing is written to the underlying writer before the first WriteRows
// (or Close), so a caller that fails before producing any row can still
// answer with something else (an HTTP error, say).
type Writer struct {
	out           io.Writer
	width, height int
	channels      int // values a pixel in WriteRows: 3 (RGB) or 4 (RGBA)
	samples       int // samples a pixel in the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
	bytes         int // bytes a sample: 1 or 2
	level         int
	opt           Options

	started bool
	rows    int // rows written so far
	err     error

	// prev and cur are the raw (unfiltered) bytes of the previous and the
	// current row; filtered holds each filter's output for the current row,
	// with the filter type byte first, so the chosen one is written as is.
	prev, cur []byte
	filtered  [5][]byte

	zw   *parallelZlib
	idat chunkWriter
}

// Options selects what a Writer stores beyond 8-bit RGB. The zero value is
// 8-bit RGB without a profile.
type Options struct {
	// Alpha stores an alpha channel; WriteRows then takes R, G, B, A a
	// pixel instead of R, G, B.
	Alpha bool
	// Gray stores one grey channel (colour type 0, or 4 with alpha): the R
	// value of every pixel, which is the grey of an image with R = G = B,
	// as imageio stores grey images. WriteRows still takes RGB(A).
	Gray bool
	// Bits16 stores 16 bits a sample, rounded as imageio.To16 rounds.
	Bits16 bool
	// ICC, when not empty, is an ICC colour profile written, compressed,
	// in an iCCP chunk after IHDR.
	ICC []byte
	// EXIF, when not empty, is an EXIF block (at most imageio.MaxEXIF
	// bytes) written in an eXIf chunk after the profile.
	EXIF []byte
}

// NewWriter returns a Writer for a width×height image with alpha (RGBA)
// or without (RGB), at zlib's default compression level. An invalid size is
// reported by the first WriteRows or Close, not here, so the constructor
// can be used inline.
func NewWriter(out io.Writer, width, height int, hasAlpha bool) *Writer {
	return NewWriterLevel(out, width, height, hasAlpha, zlib.DefaultCompression)
}

// NewWriterLevel is NewWriter with a zlib compression level
// (zlib.BestSpeed … zlib.BestCompression, zlib.DefaultCompression or
// zlib.NoCompression). BestSpeed is about three times faster than the
// default for photographs at a cost of some 10–20 % in size, the better
// trade for a server answering interactively.
func NewWriterLevel(out io.Writer, width, height int, hasAlpha bool, level int) *Writer {
	return NewWriterOptions(out, width, height, level, Options{Alpha: hasAlpha})
}

// NewWriterOptions returns a Writer for a width×height image stored as opt
// says, at a zlib compression level (see NewWriterLevel).
func NewWriterOptions(out io.Writer, width, height, level int, opt Options) *Writer {
	w := &Writer{out: out, width: width, height: height, channels: 3, samples: 3, bytes: 1, level: level, opt: opt}
	if opt.Alpha {
		w.channels, w.samples = 4, 4
	}
	if opt.Gray {
		w.samples -= 2
	}
	if opt.Bits16 {
		w.bytes = 2
	}
	switch {
	case width <= 0 || height <= 0 || width > MaxSide || height > MaxSide:
		w.err = fmt.Errorf("pngstream: invalid size %dx%d", width, height)
	case len(opt.ICC) > imageio.MaxICC:
		w.err = fmt.Errorf("pngstream: ICC profile of %d bytes is over the limit of %d", len(opt.ICC), imageio.MaxICC)
	case len(opt.EXIF) > imageio.MaxEXIF:
		w.err = fmt.Errorf("pngstream: EXIF block of %d bytes is over the limit of %d", len(opt.EXIF), imageio.MaxEXIF)
	case int64(width)*int64(max(w.channels, w.samples*w.bytes)) > math.MaxInt32:
		// A row must fit in memory and in an int on every platform.
		w.err = fmt.Errorf("pngstream: rows of %d pixels are too wide", width)
	case level < zlib.HuffmanOnly || level > zlib.BestCompression:
		w.err = fmt.Errorf("pngstream: invalid compression level %d", level)
	}
	return w
}

// start writes the signature and IHDR and sets up the compressor.
func (w *Writer) start() error {
	if w.started {
		return nil
	}
	w.started = true
	if _, err := io.WriteString(w.out, "\x89PNG\r\n\x1a\n"); err != nil {
		return err
	}
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w.width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(w.height))
	ihdr[8] = byte(8 * w.bytes) // bit depth
	// Colour type: 0 grey, 4 grey with alpha, 2 truecolour, 6 truecolour
	// with alpha.
	ihdr[9] = [5]byte{1: 0, 2: 4, 3: 2, 4: 6}[w.samples]
	// ihdr[10:13]: compression 0 (deflate), filter method 0, no interlace.
	if err := WriteChunk(w.out, "IHDR", ihdr[:]); err != nil {
		return err
	}
	if len(w.opt.ICC) > 0 {
		iccp, err := imageio.ICCPChunk(w.opt.ICC)
		if err != nil {
			return err
		}
		if _, err := w.out.Write(iccp); err != nil {
			return err
		}
	}
	if len(w.opt.EXIF) > 0 {
		if err := WriteChunk(w.out, "eXIf", w.opt.EXIF); err != nil {
			return err
		}
	}
	n := w.width * w.samples * w.bytes
	w.prev = make([]byte, n) // the row above the first is all zeros by definition
	w.cur = make([]byte, n)
	for i := range w.filtered {
		w.filtered[i] = make([]byte, n+1)
	}
	w.idat = chunkWriter{out: w.out, buf: make([]byte, 0, idatSize)}
	zw, err := newParallelZlib(&w.idat, w.level)
	if err != nil {
		return err
	}
	w.zw = zw
	return nil
}

// WriteRows appends n rows. pix holds them as interleaved R, G, B (and A
// when the Writer has alpha) values in [0, 1], exactly n·width·channels of
// them. Values are rounded to 8 (or 16) bits as imageio does (half up,
// clamped), so a streamed file holds the samples imageio.Encode would
// store.
// NaN and infinite values are refused, as imageio refuses them, rather than
// silently stored as black. After an error every later call fails.
func (w *Writer) WriteRows(pix []float32, n int) error {
	if w.err != nil {
		return w.err
	}
	if n < 0 || n > w.height-w.rows {
		w.err = fmt.Errorf("pngstream: %d more rows given after %d of %d", n, w.rows, w.height)
		return w.err
	}
	stride := w.width * w.channels
	if len(pix) != n*stride {
		w.err = fmt.Errorf("pngstream: %d values for %d rows of %d×%d, want %d", len(pix), n, w.width, w.channels, n*stride)
		return w.err
	}
	if w.err = w.start(); w.err != nil {
		return w.err
	}
	for r := range n {
		src := pix[r*stride : (r+1)*stride]
		for i, v := range src {
			// One comparison pair rejects NaN (all comparisons false) and
			// both infinities.
			if !(v >= -math.MaxFloat32 && v <= math.MaxFloat32) {
				w.err = fmt.Errorf("pngstream: row %d has a NaN or infinite value at %d", w.rows, i)
				return w.err
			}
		}
		w.pack(src)
		if w.err = w.writeRow(); w.err != nil {
			return w.err
		}
	}
	return nil
}

// pack converts one row of RGB(A) values into the file's samples in w.cur.
func (w *Writer) pack(src []float32) {
	cur, o := w.cur, 0
	put := func(v float32) {
		if w.bytes == 1 {
			cur[o] = imageio.To8(v)
			o++
			return
		}
		s := imageio.To16(v)
		cur[o], cur[o+1] = byte(s>>8), byte(s)
		o += 2
	}
	if w.samples == w.channels && w.bytes == 1 {
		for i, v := range src { // the common case, kept a plain loop
			cur[i] = imageio.To8(v)
		}
		return
	}
	for p := 0; p < len(src); p += w.channels {
		if w.opt.Gray {
			put(src[p])
		} else {
			put(src[p])
			put(src[p+1])
			put(src[p+2])
		}
		if w.channels == 4 {
			put(src[p+3])
		}
	}
}

// writeRow filters w.cur against w.prev, compresses it and advances.
func (w *Writer) writeRow() error {
	best := w.filter()
	if _, err := w.zw.Write(w.filtered[best]); err != nil {
		return fmt.Errorf("pngstream: row %d: %w", w.rows, err)
	}
	w.prev, w.cur = w.cur, w.prev
	w.rows++
	return nil
}

// filterOrder is the order filter tries the PNG filter types in: how often
// each wins on photographs, so that the early stops cut the most work.
var filterOrder = [5]int{2, 4, 0, 1, 3} // Up, Paeth, None, Sub, Average

// filter computes the PNG filters of the current row and returns the index
// of the one whose output has the smallest sum of absolute values (bytes
// read as signed). That is the heuristic the PNG specification recommends
// and libpng and image/png use: it picks Paeth or Sub on photographs and
// None on flat synthetic images, where it matters. Filters are tried in
// filterOrder, and each one stops as soon as its sum cannot beat the best
// so far, which keeps the choice cheap next to deflate.
func (w *Writer) filter() int {
	if w.level == zlib.NoCompression {
		// Filtering only helps the compressor; without one, keep bytes raw.
		w.filtered[0][0] = 0
		copy(w.filtered[0][1:], w.cur)
		return 0
	}
	// bpp is the bytes of a whole pixel, what the filters look back by.
	bpp := w.samples * w.bytes
	best, bestSum := -1, math.MaxInt
	for _, f := range filterOrder {
		out := w.filtered[f]
		out[0] = byte(f)
		if sum := FilterRow(f, out[1:], w.cur, w.prev, bpp, bestSum); sum < bestSum {
			best, bestSum = f, sum
		}
	}
	return best
}

// FilterRow writes PNG filter type ft (0 None, 1 Sub, 2 Up, 3 Average,
// 4 Paeth) of row cur, whose row above is prev and whose pixels are bpp
// bytes, to out (len(cur) bytes), and returns the sum of the output bytes'
// absolute values read as signed, the cost the usual filter heuristic
// minimises. Once that sum reaches limit it stops and returns it, out left
// incomplete: the row can no longer beat a filter whose sum was limit.
// Encoders that assemble PNG data themselves (package anim's APNG frames)
// share it with Writer.
func FilterRow(ft int, out, cur, prev []byte, bpp, limit int) int {
	switch ft {
	case 0:
		return filterNone(out, cur, limit)
	case 1:
		return filterSub(out, cur, bpp, limit)
	case 2:
		return filterUp(out, cur, prev, limit)
	case 3:
		return filterAverage(out, cur, prev, bpp, limit)
	case 4:
		return filterPaeth(out, cur, prev, bpp, limit)
	}
	panic(fmt.Sprintf("pngstream: PNG filter type %d does not exist", ft))
}

// filterNone is FilterRow's type 0: the bytes as they are.
func filterNone(out, cur []byte, limit int) int {
	sum := 0
	for i := range cur {
		out[i] = cur[i]
		if sum += abs8(out[i]); sum >= limit {
			return sum
		}
	}
	return sum
}

// filterSub is FilterRow's type 1: each byte less the one a pixel to its
// left.
func filterSub(out, cur []byte, bpp, limit int) int {
	sum := filterNone(out[:bpp], cur[:bpp], limit) // the first pixel has no left neighbour
	for i := bpp; i < len(cur); i++ {
		out[i] = cur[i] - cur[i-bpp]
		if sum += abs8(out[i]); sum >= limit {
			return sum
		}
	}
	return sum
}

// filterUp is FilterRow's type 2: each byte less the one above it.
func filterUp(out, cur, prev []byte, limit int) int {
	sum := 0
	for i := range cur {
		out[i] = cur[i] - prev[i]
		if sum += abs8(out[i]); sum >= limit {
			return sum
		}
	}
	return sum
}

// filterAverage is FilterRow's type 3: each byte less the mean of the ones
// to its left and above it.
func filterAverage(out, cur, prev []byte, bpp, limit int) int {
	sum := 0
	for i := 0; i < bpp; i++ {
		out[i] = cur[i] - prev[i]/2
		sum += abs8(out[i])
	}
	for i := bpp; i < len(cur); i++ {
		out[i] = cur[i] - byte((int(cur[i-bpp])+int(prev[i]))/2)
		if sum += abs8(out[i]); sum >= limit {
			return sum
		}
	}
	return sum
}

// filterPaeth is FilterRow's type 4: each byte less the Paeth predictor
// of its left, upper and upper-left neighbours.
func filterPaeth(out, cur, prev []byte, bpp, limit int) int {
	// The first pixel's left and upper-left neighbours are zero, so the
	// predictor is the upper byte: Up's difference.
	sum := filterUp(out[:bpp], cur[:bpp], prev[:bpp], limit)
	for i := bpp; i < len(cur); i++ {
		out[i] = cur[i] - paethPredictor(cur[i-bpp], prev[i], prev[i-bpp])
		if sum += abs8(out[i]); sum >= limit {
			return sum
		}
	}
	return sum
}

// abs8 is |b| with b read as a signed byte.
func abs8(b byte) int {
	v := int(int8(b))
	if v < 0 {
		return -v
	}
	return v
}

// paethPredictor is the PNG specification's Paeth predictor of a pixel
// from its left (a), upper (b) and upper-left (c) neighbours.
func paethPredictor(a, b, c byte) byte {
	pa := int(b) - int(c) // p - a, where p = a + b - c
	pb := int(a) - int(c) // p - b
	pc := pa + pb         // p - c
	if pa < 0 {
		pa = -pa
	}
	if pb < 0 {
		pb = -pb
	}
	if pc < 0 {
		pc = -pc
	}
	if pa <= pb && pa <= pc {
		return a
	}
	if pb <= pc {
		return b
	}
	return c
}

// Rows returns how many rows have been written so far.
func (w *Writer) Rows() int { return w.rows }

// Close finishes the image: it flushes the compressor and writes the last
// IDAT and the IEND chunk. It fails if fewer rows than declared were
// written, in which case the output is a truncated PNG that decoders reject.
// Close does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.rows != w.height {
		w.err = fmt.Errorf("pngstream: closed after %d of %d rows", w.rows, w.height)
		return w.err
	}
	if err := w.zw.Close(); err != nil {
		w.err = fmt.Errorf("pngstream: %w", err)
		return w.err
	}
	if err := w.idat.flush(); err != nil {
		w.err = fmt.Errorf("pngstream: %w", err)
		return w.err
	}
	if err := WriteChunk(w.out, "IEND", nil); err != nil {
		w.err = fmt.Errorf("pngstream: %w", err)
		return w.err
	}
	w.err = errClosed
	return nil
}

var errClosed = errors.New("pngstream: writer is closed")

// chunkWriter collects compressed bytes and emits them as IDAT chunks of
// idatSize bytes.
type chunkWriter struct {
	out io.Writer
	buf []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(c.buf)-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := WriteChunk(c.out, "IDAT", c.buf)
	c.buf = c.buf[:0]
	return err
}

// WriteChunk writes one PNG chunk: length, type, data, CRC of type+data.
// Writer writes every chunk through it, and so do encoders that assemble
// PNG chunks themselves (package anim's APNG).
func WriteChunk(out io.Writer, typ string, data []byte) error {
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(data)))
	copy(head[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(head[4:])
	crc.Write(data)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc.Sum32())
	// One Write per chunk part; callers that care about syscalls wrap out
	// in a bufio.Writer.
	if _, err := out.Write(head[:]); err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		return err
	}
	_, err := out.Write(tail[:])
	return err
}

// bandRows is how many rows EncodeImage converts at a time: enough to
// amortise the per-call overhead, few enough that the band buffer stays
// small (64 rows of a 12,800-pixel RGBA image are 13 MB as float32).
const bandRows = 16

// EncodeImage writes m as an 8-bit PNG (RGBA when m has alpha, RGB
// otherwise) through a Writer at the given zlib level, converting a few rows
// at a time, so that no second copy of the image is ever made. Grey images
// are stored as RGB.
func EncodeImage(out io.Writer, m *imageio.Image, level int) error {
	if err := m.Check(); err != nil {
		return fmt.Errorf("pngstream: %w", err)
	}
	w := NewWriterLevel(out, m.W, m.H, m.Alpha != nil, level)
	if m.Alpha == nil {
		// Rows of an opaque image are already in the Writer's layout.
		for y := 0; y < m.H; y += bandRows {
			n := min(bandRows, m.H-y)
			if err := w.WriteRows(m.Pix[y*m.W*3:(y+n)*m.W*3], n); err != nil {
				return err
			}
		}
		return w.Close()
	}
	band := make([]float32, min(bandRows, m.H)*m.W*4)
	for y := 0; y < m.H; y += bandRows {
		n := min(bandRows, m.H-y)
		b := band[:n*m.W*4]
		for i := range n * m.W {
			p := y*m.W + i
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = m.Pix[3*p], m.Pix[3*p+1], m.Pix[3*p+2], m.Alpha[p]
		}
		if err := w.WriteRows(b, n); err != nil {
			return err
		}
	}
	return w.Close()
}

// Encode returns m as PNG bytes (see EncodeImage).
func Encode(m *imageio.Image, level int) ([]byte, error) {
	var buf bytes.Buffer
	if err := EncodeImage(&buf, m, level); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
