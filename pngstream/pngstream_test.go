package pngstream

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

// testPix returns w×h×c values mixing smooth gradients, flat areas and
// noise, so that every filter type gets chosen somewhere, plus values just
// outside [0, 1] that must be clamped.
func testPix(w, h, c int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	pix := make([]float32, w*h*c)
	for y := range h {
		for x := range w {
			for k := range c {
				var v float32
				switch {
				case y < h/4: // flat
					v = float32(k) / 4
				case y < h/2: // horizontal gradient
					v = float32(x) / float32(w)
				case y < 3*h/4: // diagonal gradient with channel offsets
					v = float32(x+y+7*k) / float32(w+h)
				default: // noise, overshooting the range
					v = r.Float32()*1.2 - 0.1
				}
				pix[(y*w+x)*c+k] = v
			}
		}
	}
	return pix
}

// decodeCheck decodes a PNG with the standard library and compares it with
// pix quantised as imageio.To8 does.
func decodeCheck(t *testing.T, data []byte, pix []float32, w, h, c int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/png rejects the stream: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("decoded %v, want %dx%d", b, w, h)
	}
	var got []byte
	stride := 0
	switch m := img.(type) {
	case *image.RGBA: // image/png decodes opaque truecolour to RGBA
		if c != 3 {
			t.Fatalf("RGBA image decoded as %T", img)
		}
		got, stride = m.Pix, m.Stride
	case *image.NRGBA:
		if c != 4 {
			t.Fatalf("RGB image decoded as %T", img)
		}
		got, stride = m.Pix, m.Stride
	default:
		t.Fatalf("decoded as %T", img)
	}
	for y := range h {
		for x := range w {
			for k := range c {
				want := imageio.To8(pix[(y*w+x)*c+k])
				if g := got[y*stride+4*x+k]; g != want {
					t.Fatalf("pixel (%d,%d) channel %d = %d, want %d", x, y, k, g, want)
				}
			}
			if c == 3 && got[y*stride+4*x+3] != 255 {
				t.Fatalf("pixel (%d,%d) of an RGB image is not opaque", x, y)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		w, h, band int
		alpha      bool
		level      int
	}{
		{1, 1, 1, false, zlib.DefaultCompression},
		{37, 23, 1, false, zlib.DefaultCompression},
		{37, 23, 5, true, zlib.DefaultCompression},
		{64, 48, 48, false, zlib.BestSpeed},
		{64, 48, 7, true, zlib.BestCompression},
		{33, 9, 4, true, zlib.NoCompression},
		{300, 200, 16, false, zlib.HuffmanOnly},
	} {
		ch := 3
		if c.alpha {
			ch = 4
		}
		pix := testPix(c.w, c.h, ch, uint64(c.w))
		var buf bytes.Buffer
		w := NewWriterLevel(&buf, c.w, c.h, c.alpha, c.level)
		for y := 0; y < c.h; y += c.band {
			n := min(c.band, c.h-y)
			if err := w.WriteRows(pix[y*c.w*ch:(y+n)*c.w*ch], n); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		decodeCheck(t, buf.Bytes(), pix, c.w, c.h, ch)
	}
}

// TestMatchesImageio checks that EncodeImage stores exactly what imageio's
// encoder does, with and without alpha.
func TestMatchesImageio(t *testing.T) {
	for _, alpha := range []bool{false, true} {
		m := imageio.New(41, 29)
		copy(m.Pix, testPix(41, 29, 3, 5))
		if alpha {
			m.Alpha = testPix(41, 29, 1, 6)
			for i, v := range m.Alpha {
				m.Alpha[i] = min(max(v, 0), 1)
			}
		}
		var ours, theirs bytes.Buffer
		if err := EncodeImage(&ours, m, zlib.BestSpeed); err != nil {
			t.Fatal(err)
		}
		if err := imageio.Encode(&theirs, m, imageio.PNG, imageio.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		a, err := imageio.Decode(ours.Bytes(), imageio.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := imageio.Decode(theirs.Bytes(), imageio.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sameSamples(t, fmt.Sprintf("alpha %v", alpha), a, b)
	}
}

// sameSamples requires the decoded image a to hold exactly the colour and
// alpha values of b, decoded from imageio's encoding; name is the case.
func sameSamples(t *testing.T, name string, a, b *imageio.Image) {
	t.Helper()
	if (a.Alpha == nil) != (b.Alpha == nil) {
		t.Fatalf("%s: alpha planes differ in presence", name)
	}
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			t.Fatalf("%s: value %d: %v vs imageio's %v", name, i, a.Pix[i], b.Pix[i])
		}
	}
	for i := range a.Alpha {
		if a.Alpha[i] != b.Alpha[i] {
			t.Fatalf("%s: alpha %d: %v vs imageio's %v", name, i, a.Alpha[i], b.Alpha[i])
		}
	}
}

func TestErrors(t *testing.T) {
	row := make([]float32, 4*3)
	for _, c := range []struct {
		name string
		run  func(w *Writer) error
		want string
	}{
		{"too many rows", func(w *Writer) error {
			w.WriteRows(append(row, row...), 2)
			return w.WriteRows(row, 1)
		}, "1 more rows given after 2 of 2"},
		{"too few rows", func(w *Writer) error {
			w.WriteRows(row, 1)
			return w.Close()
		}, "closed after 1 of 2 rows"},
		{"no rows", func(w *Writer) error { return w.Close() }, "closed after 0 of 2 rows"},
		{"short slice", func(w *Writer) error { return w.WriteRows(row[:5], 1) }, "5 values for 1 rows"},
		{"negative count", func(w *Writer) error { return w.WriteRows(nil, -1) }, "-1 more rows"},
		{"NaN", func(w *Writer) error {
			r := append([]float32(nil), row...)
			r[7] = float32(math.NaN())
			return w.WriteRows(r, 1)
		}, "NaN or infinite value at 7"},
		{"Inf", func(w *Writer) error {
			r := append([]float32(nil), row...)
			r[0] = float32(math.Inf(-1))
			return w.WriteRows(r, 1)
		}, "row 0 has a NaN"},
		{"sticky", func(w *Writer) error {
			w.WriteRows(row[:1], 1)
			return w.Close()
		}, "1 values"},
		{"after close", func(w *Writer) error {
			w.WriteRows(append(row, row...), 2)
			if err := w.Close(); err != nil {
				return err
			}
			return w.WriteRows(nil, 0)
		}, "closed"},
	} {
		err := c.run(NewWriter(io.Discard, 4, 2, false))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	for _, s := range [][2]int{{0, 1}, {1, 0}, {-5, 3}, {1 << 31, 1}} {
		err := NewWriter(io.Discard, s[0], s[1], true).Close()
		if err == nil || !strings.Contains(err.Error(), "invalid size") {
			t.Errorf("size %v: error %v, want invalid size", s, err)
		}
	}
	if err := NewWriterLevel(io.Discard, 1, 1, false, 42).Close(); err == nil || !strings.Contains(err.Error(), "level") {
		t.Errorf("level 42: error %v", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestNothingBeforeRows checks the promise that lets a server still send an
// error status when the work fails before the first row, and that write
// errors surface.
func TestNothingBeforeRows(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 8, 8, false)
	if buf.Len() != 0 {
		t.Fatalf("NewWriter wrote %d bytes", buf.Len())
	}
	if err := w.WriteRows(nil, 0); err != nil || buf.Len() == 0 {
		t.Fatalf("WriteRows(0) = %v and wrote %d bytes; want the header", err, buf.Len())
	}
	pix := testPix(300, 300, 3, 9)
	w = NewWriterLevel(&failWriter{after: 5000}, 300, 300, false, zlib.NoCompression)
	var err error
	for y := 0; y < 300 && err == nil; y++ {
		err = w.WriteRows(pix[y*900:(y+1)*900], 1)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v, want the writer's", err)
	}
}

// TestBoundedMemory streams a 4000×3000 RGB image (36 MB as bytes, 144 MB
// as float32) in bands of 16 rows and checks that the encoder's own
// allocations stay small: they must not grow with the image (the image's
// 35 segments share the compressors of the first few).
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 12 megapixels")
	}
	const w, h, band = 4000, 3000, 16
	buf := make([]float32, band*w*3)
	var n countWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pw := NewWriterLevel(&n, w, h, false, zlib.BestSpeed)
	for y := 0; y < h; y += band {
		// A cheap synthetic band, different per band so the compressor works.
		for i := range buf {
			buf[i] = float32((i*7+y*13)%256) / 255
		}
		k := min(band, h-y)
		if err := pw.WriteRows(buf[:k*w*3], k); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("4000×3000 RGB: %d bytes of PNG, %.2f MiB allocated by the encoder (the image is %.0f MiB as 8-bit RGB)",
		n, float64(alloc)/(1<<20), float64(w*h*3)/(1<<20))
	// The compressors (one more than the cores) each hold a segment, its
	// output and a flate.Writer's state (under a segment's size); the rest
	// of the encoder is a few rows.
	if limit := 4<<20 + maxPending()*3*segmentSize; alloc > uint64(limit) {
		t.Errorf("encoder allocated %d bytes; want under %d whatever the image size", alloc, limit)
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func BenchmarkEncodeImage(b *testing.B) {
	m := imageio.New(1024, 768)
	copy(m.Pix, testPix(1024, 768, 3, 1))
	b.SetBytes(int64(m.W * m.H * 3)) // as 8-bit RGB
	b.ReportAllocs()
	for b.Loop() {
		if err := EncodeImage(io.Discard, m, zlib.BestSpeed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImagePNG is the standard library's encoder on the same image
// after imageio's float → NRGBA conversion, for comparison.
func BenchmarkImagePNG(b *testing.B) {
	m := imageio.New(1024, 768)
	copy(m.Pix, testPix(1024, 768, 3, 1))
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	b.SetBytes(int64(m.W * m.H * 3)) // as 8-bit RGB
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(io.Discard, m.ToImage(false)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOptionsMatchImageio streams grey and colour, with and without alpha,
// at 8 and 16 bits, with a colour profile, and checks that the file holds
// exactly what imageio's encoder stores for the same image: the same
// samples, the same kind (grey, depth) and the same profile.
func TestOptionsMatchImageio(t *testing.T) {
	const w, h = 23, 17
	prof := imagetest.FakeICC(300)                              // an RGB profile: Decode drops one for other pixels
	exif := imagetest.EXIFSegment(1, binary.LittleEndian)[4+6:] // the TIFF structure of an APP1 segment
	for _, gray := range []bool{false, true} {
		for _, alpha := range []bool{false, true} {
			for _, bits16 := range []bool{false, true} {
				m := imageio.New(w, h)
				m.Gray = gray
				copy(m.Pix, testPix(w, h, 3, 9))
				for i := range m.Pix {
					m.Pix[i] = min(max(m.Pix[i], 0), 1)
					if gray {
						m.Pix[i] = m.Pix[i-i%3]
					}
				}
				ch := 3
				if alpha {
					ch = 4
					m.Alpha = testPix(w, h, 1, 10)
					for i, v := range m.Alpha {
						m.Alpha[i] = min(max(v, 0), 1)
					}
				}
				pix := make([]float32, 0, w*h*ch)
				for i := range w * h {
					pix = append(pix, m.Pix[3*i:3*i+3]...)
					if alpha {
						pix = append(pix, m.Alpha[i])
					}
				}
				name := fmt.Sprintf("gray %v alpha %v 16-bit %v", gray, alpha, bits16)
				var ours, theirs bytes.Buffer
				sw := NewWriterOptions(&ours, w, h, zlib.BestSpeed, Options{Alpha: alpha, Gray: gray, Bits16: bits16, ICC: prof, EXIF: exif})
				for y := 0; y < h; y += 5 {
					n := min(5, h-y)
					if err := sw.WriteRows(pix[y*w*ch:(y+n)*w*ch], n); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				}
				if err := sw.Close(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := imageio.Encode(&theirs, m, imageio.PNG, imageio.WriteOptions{Bits16: bits16, ICC: prof, EXIF: exif}); err != nil {
					t.Fatal(err)
				}
				a, err := imageio.Decode(ours.Bytes(), imageio.ReadOptions{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				b, err := imageio.Decode(theirs.Bytes(), imageio.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if a.Gray != gray || a.Depth != b.Depth || (a.Depth == 16) != bits16 || !bytes.Equal(a.ICC, prof) || (a.Alpha == nil) != (b.Alpha == nil) ||
					!bytes.Equal(a.EXIF, exif) || !bytes.Equal(b.EXIF, exif) {
					t.Errorf("%s: streamed grey %v depth %d profile %q alpha %v EXIF %x; imageio's depth %d alpha %v EXIF %x",
						name, a.Gray, a.Depth, a.ICC, a.Alpha != nil, a.EXIF, b.Depth, b.Alpha != nil, b.EXIF)
					continue
				}
				sameSamples(t, name, a, b)
			}
		}
	}
}

// TestSegmentsRoundTrip streams an image of several compression segments
// at every level and decodes it with image/png, which checks the deflate
// blocks' joins and the Adler-32 over all of them.
func TestSegmentsRoundTrip(t *testing.T) {
	const w, h = 700, 1100 // 2.3 MB of filtered rows: three segments
	pix := make([]float32, w*h*3)
	for i := range pix {
		pix[i] = float32((i*i/7+i/3)%251) / 250
	}
	for _, level := range []int{zlib.NoCompression, zlib.HuffmanOnly, zlib.BestSpeed, zlib.DefaultCompression, zlib.BestCompression} {
		var buf bytes.Buffer
		pw := NewWriterLevel(&buf, w, h, false, level)
		if err := pw.WriteRows(pix, h); err != nil {
			t.Fatal(err)
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		for _, p := range [][2]int{{0, 0}, {w - 1, 0}, {123, 456}, {w - 1, h - 1}, {350, 1099}} {
			r, g, b, _ := img.At(p[0], p[1]).RGBA()
			i := (p[1]*w + p[0]) * 3
			want := [3]uint8{imageio.To8(pix[i]), imageio.To8(pix[i+1]), imageio.To8(pix[i+2])}
			if got := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}; got != want {
				t.Fatalf("level %d, pixel %v: %v, want %v", level, p, got, want)
			}
		}
	}
}

// TestFilterRowInverts undoes every filter type by the PNG specification's
// reconstruction rules, written here independently, for several pixel
// sizes: FilterRow must give back the row, and a sum that is the filtered
// bytes' cost when no limit stops it.
func TestFilterRowInverts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	paeth := func(a, b, c int) int {
		p := a + b - c
		pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
		switch {
		case pa <= pb && pa <= pc:
			return a
		case pb <= pc:
			return b
		}
		return c
	}
	for _, bpp := range []int{1, 3, 4, 6, 8} {
		n := 7 * bpp
		cur, prev, out := make([]byte, n), make([]byte, n), make([]byte, n)
		for i := range cur {
			cur[i], prev[i] = byte(rng.IntN(256)), byte(rng.IntN(256))
		}
		for ft := 0; ft <= 4; ft++ {
			sum := FilterRow(ft, out, cur, prev, bpp, math.MaxInt)
			back, cost := make([]byte, n), 0
			for i := range out {
				left, upLeft := 0, 0
				if i >= bpp {
					left, upLeft = int(back[i-bpp]), int(prev[i-bpp])
				}
				up := int(prev[i])
				pred := [5]int{0, left, up, (left + up) / 2, paeth(left, up, upLeft)}[ft]
				back[i] = out[i] + byte(pred)
				cost += abs(int(int8(out[i])))
			}
			if !bytes.Equal(back, cur) {
				t.Errorf("bpp %d, filter %d: reconstruction differs from the row", bpp, ft)
			}
			if sum != cost {
				t.Errorf("bpp %d, filter %d: sum %d, want %d", bpp, ft, sum, cost)
			}
			if got := FilterRow(ft, out, cur, prev, bpp, 1); cost >= 1 && got < 1 {
				t.Errorf("bpp %d, filter %d: limit 1 returned %d, want at least the limit", bpp, ft, got)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
