package anim

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"time"

	"github.com/zoomdiff/zoomdiff/atomicfile"
)

// pngSignature starts every PNG file.
var pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

// maxChunkData bounds the data of one IDAT or fdAT chunk; large frames are
// spread over several, as encoders customarily do.
const maxChunkData = 1 << 20

// WriteAPNG writes frames as an animated PNG at path, atomically, in 8-bit
// RGB, or RGBA when any frame has transparency. Frames must share one
// size; each replaces the previous one whole.
func WriteAPNG(path string, frames []image.Image, opt Options) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return EncodeAPNG(w, frames, opt) }); err != nil {
		return fmt.Errorf("apng %s: %w", path, err)
	}
	return nil
}

// EncodeAPNG is WriteAPNG to a writer.
//
// The file is IHDR, acTL, then for the first frame fcTL and IDAT (so it is
// also the still image a plain PNG decoder shows), and for each later
// frame fcTL and fdAT, then IEND. fcTL and fdAT chunks share one sequence
// counter starting at 0, as the APNG specification requires. The
// image/png encoder cannot be reused for the frames: it picks the colour
// type per image, and every frame of an APNG must have the header's.
func EncodeAPNG(w io.Writer, frames []image.Image, opt Options) error {
	delays, err := opt.delays(len(frames))
	if err != nil {
		return err
	}
	fs, err := toNRGBA(frames)
	if err != nil {
		return err
	}
	size := fs[0].Rect.Size()
	if uint64(size.X) > 1<<31-1 || uint64(size.Y) > 1<<31-1 {
		return fmt.Errorf("frames of %dx%d are too large for PNG", size.X, size.Y)
	}
	alpha := !opaque(fs)
	cw := &chunkWriter{w: w}
	cw.raw(pngSignature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(size.X))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(size.Y))
	ihdr[8] = 8 // bit depth
	ihdr[9] = 2 // colour type: RGB
	if alpha {
		ihdr[9] = 6 // RGBA
	}
	// Compression, filter and interlace methods are all 0.
	cw.chunk("IHDR", ihdr)
	actl := make([]byte, 8)
	binary.BigEndian.PutUint32(actl[0:], uint32(len(fs)))
	binary.BigEndian.PutUint32(actl[4:], uint32(opt.Plays))
	cw.chunk("acTL", actl)
	seq := uint32(0)
	for i, f := range fs {
		num, den := apngDelay(delays[i])
		fctl := make([]byte, 26)
		binary.BigEndian.PutUint32(fctl[0:], seq)
		binary.BigEndian.PutUint32(fctl[4:], uint32(size.X))
		binary.BigEndian.PutUint32(fctl[8:], uint32(size.Y))
		// x and y offsets stay 0: every frame covers the whole canvas.
		binary.BigEndian.PutUint16(fctl[20:], num)
		binary.BigEndian.PutUint16(fctl[22:], den)
		fctl[24] = 0 // dispose_op NONE: the next frame overwrites anyway
		fctl[25] = 0 // blend_op SOURCE: replace, do not composite over the last frame
		cw.chunk("fcTL", fctl)
		seq++
		data, err := compressFrame(f, alpha)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		for len(data) > 0 {
			part := data[:min(len(data), maxChunkData)]
			data = data[len(part):]
			if i == 0 {
				cw.chunk("IDAT", part)
				continue
			}
			fdat := make([]byte, 4+len(part))
			binary.BigEndian.PutUint32(fdat, seq)
			copy(fdat[4:], part)
			cw.chunk("fdAT", fdat)
			seq++
		}
	}
	cw.chunk("IEND", nil)
	return cw.err
}

// apngDelay expresses d as a fraction of a second with 16-bit terms:
// milliseconds when they fit, else hundredths, else whole seconds.
func apngDelay(d time.Duration) (num, den uint16) {
	ms := (d + time.Millisecond/2) / time.Millisecond
	switch {
	case ms <= 65535:
		return uint16(ms), 1000
	case ms/10 <= 65535:
		return uint16((ms + 5) / 10), 100
	}
	return uint16(min((ms+500)/1000, 65535)), 1
}

// chunkWriter writes PNG chunks, keeping the first error.
type chunkWriter struct {
	w   io.Writer
	err error
}

func (c *chunkWriter) raw(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// chunk writes length, type, data and the CRC of type and data.
func (c *chunkWriter) chunk(typ string, data []byte) {
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(data)))
	copy(head[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(head[4:])
	crc.Write(data)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc.Sum32())
	c.raw(head[:])
	c.raw(data)
	c.raw(tail[:])
}

// compressFrame filters each row (choosing, per row, the PNG filter with
// the smallest sum of absolute values, the heuristic libpng uses) and
// deflates the result.
func compressFrame(f *image.NRGBA, alpha bool) ([]byte, error) {
	bpp := 3
	if alpha {
		bpp = 4
	}
	w, h := f.Rect.Dx(), f.Rect.Dy()
	stride := w * bpp
	prev := make([]byte, stride) // the row above the first is zeros
	cur := make([]byte, stride)
	var cand [5][]byte
	for i := range cand {
		cand[i] = make([]byte, 1+stride)
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	for y := 0; y < h; y++ {
		src := f.Pix[y*f.Stride:]
		if alpha {
			copy(cur, src[:stride])
		} else {
			for x := 0; x < w; x++ {
				copy(cur[3*x:3*x+3], src[4*x:4*x+3])
			}
		}
		best, bestSum := 0, -1
		for ft := range cand {
			out := cand[ft]
			out[0] = byte(ft)
			filterRow(ft, out[1:], cur, prev, bpp)
			s := 0
			for _, v := range out[1:] {
				s += int(absSigned(v))
			}
			if bestSum < 0 || s < bestSum {
				best, bestSum = ft, s
			}
		}
		if _, err := zw.Write(cand[best]); err != nil {
			return nil, err
		}
		prev, cur = cur, prev
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// absSigned is |v| with v read as a signed byte: small residuals either
// side of zero both count as small.
func absSigned(v byte) byte {
	if v >= 128 {
		return byte(256 - int(v))
	}
	return v
}

// filterRow applies PNG filter type ft (0 None, 1 Sub, 2 Up, 3 Average,
// 4 Paeth) to row cur with the previous row prev.
func filterRow(ft int, out, cur, prev []byte, bpp int) {
	for i := range cur {
		var a, c byte
		if i >= bpp {
			a, c = cur[i-bpp], prev[i-bpp]
		}
		b := prev[i]
		switch ft {
		case 0:
			out[i] = cur[i]
		case 1:
			out[i] = cur[i] - a
		case 2:
			out[i] = cur[i] - b
		case 3:
			out[i] = cur[i] - byte((int(a)+int(b))/2)
		case 4:
			out[i] = cur[i] - paeth(a, b, c)
		}
	}
}

// paeth is the PNG Paeth predictor.
func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
