package anim

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"math"
	"time"

	"github.com/zoomdiff/zoomdiff/pngstream"
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
	return writeFile("apng", path, func(w io.Writer) error { return EncodeAPNG(w, frames, opt) })
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
	fs, delays, err := prepare(frames, opt)
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

// chunk writes one chunk: length, type, data and the CRC of type and data.
func (c *chunkWriter) chunk(typ string, data []byte) {
	if c.err == nil {
		c.err = pngstream.WriteChunk(c.w, typ, data)
	}
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
		// Types are tried in numeric order and the first of equal cost
		// wins. pngstream.Writer tries them in another order, which would
		// break ties differently and change the files.
		best, bestSum := 0, math.MaxInt
		for ft := range cand {
			out := cand[ft]
			out[0] = byte(ft)
			if s := pngstream.FilterRow(ft, out[1:], cur, prev, bpp, bestSum); s < bestSum {
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
