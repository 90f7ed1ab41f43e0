package pngstream

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"hash"
	"hash/adler32"
	"io"
	"runtime"
)

// segmentSize is how many filtered bytes each compressor gets. Segments
// are compressed independently (no shared window), which costs some 0.1 %
// of the size on photographs at 1 MiB, and let the cores share the
// compression that bounded huge outputs: at ×200 (164 MP) deflate was half
// the CPU time, all of it on one core.
const segmentSize = 1 << 20

// parallelZlib writes one zlib stream whose deflate data is compressed
// segment by segment on several goroutines, as pigz does: each segment is
// a run of non-final deflate blocks ending in a sync flush (so it ends on
// a byte boundary and needs nothing from its neighbours), the segments are
// written in order, and Close appends an empty final block and the
// Adler-32 of everything written. The output does not depend on how the
// goroutines are scheduled. Its memory is a few compressors (one more than
// the cores), each a segment, its output and a flate.Writer, reused from
// segment to segment: it does not grow with the image.
type parallelZlib struct {
	out     io.Writer
	level   int
	cur     *compressor // filling
	free    []*compressor
	pending []*compressor // compressing or done, in stream order
	adler   hash.Hash32
	started bool
	err     error
}

// compressor is one segment's buffers and the flate.Writer that
// compresses it.
type compressor struct {
	seg  []byte
	out  bytes.Buffer
	fw   *flate.Writer
	done chan struct{}
}

// maxPending bounds the segments in flight: one more than the cores, so a
// core is never left without one.
func maxPending() int { return runtime.GOMAXPROCS(0) + 1 }

func newParallelZlib(out io.Writer, level int) (*parallelZlib, error) {
	// Checked here so that the compressors need not: flate accepts the
	// same levels as zlib.
	if _, err := flate.NewWriter(io.Discard, level); err != nil {
		return nil, err
	}
	return &parallelZlib{out: out, level: level, adler: adler32.New()}, nil
}

// header writes the two zlib header bytes as compress/zlib does: deflate
// with a 32 KiB window, the level's FLEVEL, and the check bits.
func (z *parallelZlib) header() error {
	const cmf = 0x78
	var flevel byte
	switch z.level {
	case zlib.NoCompression, zlib.HuffmanOnly, zlib.BestSpeed:
		flevel = 0
	case 2, 3, 4, 5:
		flevel = 1
	case 6, zlib.DefaultCompression:
		flevel = 2
	default:
		flevel = 3
	}
	flg := flevel << 6
	flg += byte(31 - (uint(cmf)<<8+uint(flg))%31)
	_, err := z.out.Write([]byte{cmf, flg})
	return err
}

// Write appends p to the stream.
func (z *parallelZlib) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	z.adler.Write(p)
	for len(p) > 0 {
		if z.cur == nil {
			if z.err = z.take(); z.err != nil {
				return 0, z.err
			}
		}
		k := min(len(p), segmentSize-len(z.cur.seg))
		z.cur.seg = append(z.cur.seg, p[:k]...)
		p = p[k:]
		if len(z.cur.seg) == segmentSize {
			z.submit()
		}
	}
	return n, nil
}

// take makes z.cur an empty compressor: a free one, a new one, or, while
// too many are in flight, the oldest once its output is written.
func (z *parallelZlib) take() error {
	if !z.started {
		z.started = true
		if err := z.header(); err != nil {
			return err
		}
	}
	for len(z.free) == 0 && len(z.pending) >= maxPending() {
		if err := z.emitOldest(); err != nil {
			return err
		}
	}
	if n := len(z.free); n > 0 {
		z.cur, z.free = z.free[n-1], z.free[:n-1]
		z.cur.seg = z.cur.seg[:0]
		return nil
	}
	fw, _ := flate.NewWriter(nil, z.level) // the level was checked
	z.cur = &compressor{seg: make([]byte, 0, segmentSize), fw: fw}
	return nil
}

// submit starts compressing z.cur.
func (z *parallelZlib) submit() {
	c := z.cur
	z.cur = nil
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		c.out.Reset()
		c.fw.Reset(&c.out)
		c.fw.Write(c.seg) // a bytes.Buffer does not fail
		c.fw.Flush()
	}()
	z.pending = append(z.pending, c)
}

// emitOldest waits for the oldest segment, writes it and frees its
// compressor.
func (z *parallelZlib) emitOldest() error {
	c := z.pending[0]
	<-c.done
	z.pending = z.pending[1:]
	_, err := z.out.Write(c.out.Bytes())
	z.free = append(z.free, c)
	return err
}

// Close compresses what is left, writes every segment, the final block
// and the checksum.
func (z *parallelZlib) Close() error {
	if z.err != nil {
		return z.err
	}
	if z.cur == nil && !z.started {
		if z.err = z.take(); z.err != nil {
			return z.err
		}
	}
	if z.cur != nil {
		z.submit()
	}
	for len(z.pending) > 0 {
		if z.err = z.emitOldest(); z.err != nil {
			return z.err
		}
	}
	// An empty final block, as flate ends a stream, then the checksum.
	c := z.free[0]
	c.out.Reset()
	c.fw.Reset(&c.out)
	c.fw.Close()
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], z.adler.Sum32())
	c.out.Write(sum[:])
	if _, z.err = z.out.Write(c.out.Bytes()); z.err != nil {
		return z.err
	}
	z.err = errClosed
	return nil
}
