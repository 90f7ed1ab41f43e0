package anim

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// testFrames is a colour gradient with a white square moving across it.
func testFrames(n, w, h int, alpha bool) []image.Image {
	out := make([]image.Image, n)
	for i := range out {
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), uint8(40 * i), 255}
				if x >= 3*i && x < 3*i+6 && y >= 4 && y < 10 {
					c = color.NRGBA{255, 255, 255, 255}
				}
				if alpha && x == 0 {
					c.A = uint8(50 * (y % 5))
				}
				m.SetNRGBA(x, y, c)
			}
		}
		out[i] = m
	}
	return out
}

func TestGIF(t *testing.T) {
	frames := testFrames(5, 40, 30, false)
	path := filepath.Join(t.TempDir(), "a.gif")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteGIF(path, frames, Options{Delay: 120 * time.Millisecond, Plays: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 5 || g.Config.Width != 40 || g.Config.Height != 30 {
		t.Fatalf("%d frames of %dx%d", len(g.Image), g.Config.Width, g.Config.Height)
	}
	if g.LoopCount != 2 { // plays three times
		t.Errorf("loop count %d, want 2", g.LoopCount)
	}
	for i, d := range g.Delay {
		if d != 12 {
			t.Errorf("frame %d delay %d cs, want 12", i, d)
		}
	}
	// Dithering trades per-pixel error for the right local average:
	// compare 5×5 block means. The frames' five separate blue levels are
	// hard on a 256-colour palette (plain median cut scores 3.5 here).
	for i, p := range g.Image {
		var diff float64
		src := frames[i].(*image.NRGBA)
		for by := 0; by < 30; by += 5 {
			for bx := 0; bx < 40; bx += 5 {
				var d [3]float64
				for y := by; y < by+5; y++ {
					for x := bx; x < bx+5; x++ {
						r1, g1, b1, _ := p.At(x, y).RGBA()
						s := src.NRGBAAt(x, y)
						d[0] += float64(r1>>8) - float64(s.R)
						d[1] += float64(g1>>8) - float64(s.G)
						d[2] += float64(b1>>8) - float64(s.B)
					}
				}
				diff += absf(d[0]) + absf(d[1]) + absf(d[2])
			}
		}
		if mean := diff / (3 * 40 * 30); mean > 2.5 {
			t.Errorf("frame %d: block-mean error %.2f levels", i, mean)
		}
	}

	// Plays once, per-frame delays, no dithering, from engine images.
	imgs := []*imageio.Image{imageio.New(8, 8), imageio.New(8, 8)}
	imgs[1].Pix[0] = 1
	fr, err := Frames(imgs)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := EncodeGIF(&b, fr, Options{Delays: []time.Duration{time.Second, 5 * time.Millisecond}, Plays: 1, NoDither: true}); err != nil {
		t.Fatal(err)
	}
	g, err = gif.DecodeAll(&b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Delay[0] != 100 || g.Delay[1] != 2 || g.LoopCount != -1 {
		t.Errorf("delays %v loop %d, want [100 2] and -1", g.Delay, g.LoopCount)
	}
	if r, _, _, _ := g.Image[1].At(0, 0).RGBA(); r != 0xffff {
		t.Errorf("exact colour lost: red %x", r)
	}
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestMedianCut(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	cols := []color.NRGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {10, 10, 10, 255}, {200, 200, 30, 255}}
	for i := 0; i < 100; i++ {
		m.SetNRGBA(i%10, i/10, cols[i%len(cols)])
	}
	pal := MedianCut([]*image.NRGBA{m}, 256)
	if len(pal) != len(cols) {
		t.Fatalf("%d colours, want %d", len(pal), len(cols))
	}
	for _, c := range cols {
		if pal[pal.Index(c)] != c {
			t.Errorf("colour %v not in the palette", c)
		}
	}
	if p := MedianCut([]*image.NRGBA{m}, 2); len(p) != 2 {
		t.Errorf("limit 2: %d colours", len(p))
	}
	big := testFrames(1, 200, 200, false)[0].(*image.NRGBA)
	if p := MedianCut([]*image.NRGBA{big}, 256); len(p) != 256 {
		t.Errorf("gradient: %d colours, want 256", len(p))
	}
}

// chunk is one parsed PNG chunk.
type chunk struct {
	typ  string
	data []byte
}

func parseChunks(t *testing.T, b []byte) []chunk {
	t.Helper()
	if !bytes.HasPrefix(b, pngSignature) {
		t.Fatal("no PNG signature")
	}
	b = b[len(pngSignature):]
	var out []chunk
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d trailing bytes", len(b))
		}
		n := int(binary.BigEndian.Uint32(b))
		typ, data := string(b[4:8]), b[8:8+n]
		if crc := binary.BigEndian.Uint32(b[8+n:]); crc != crc32.ChecksumIEEE(b[4:8+n]) {
			t.Fatalf("%s: bad CRC", typ)
		}
		out = append(out, chunk{typ, data})
		b = b[12+n:]
	}
	return out
}

// standalone rebuilds frame data as a plain PNG that image/png can decode.
func standalone(ihdr []byte, idat []byte) []byte {
	var b bytes.Buffer
	cw := &chunkWriter{w: &b}
	cw.raw(pngSignature)
	cw.chunk("IHDR", ihdr)
	cw.chunk("IDAT", idat)
	cw.chunk("IEND", nil)
	return b.Bytes()
}

func checkAPNG(t *testing.T, frames []image.Image, opt Options, wantType byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.png")
	if err := WriteAPNG(path, frames, opt); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := parseChunks(t, b)
	if cs[0].typ != "IHDR" || cs[1].typ != "acTL" || cs[len(cs)-1].typ != "IEND" {
		t.Fatalf("chunk order %v…", cs[:2])
	}
	if cs[0].data[9] != wantType {
		t.Errorf("colour type %d, want %d", cs[0].data[9], wantType)
	}
	if n := binary.BigEndian.Uint32(cs[1].data); int(n) != len(frames) {
		t.Errorf("acTL: %d frames, want %d", n, len(frames))
	}
	if p := binary.BigEndian.Uint32(cs[1].data[4:]); int(p) != opt.Plays {
		t.Errorf("acTL: %d plays, want %d", p, opt.Plays)
	}
	// Sequence numbers run 0, 1, 2, … across fcTL and fdAT.
	seq := uint32(0)
	var data [][]byte
	for _, c := range cs {
		switch c.typ {
		case "fcTL":
			if s := binary.BigEndian.Uint32(c.data); s != seq {
				t.Errorf("fcTL sequence %d, want %d", s, seq)
			}
			seq++
			num, den := binary.BigEndian.Uint16(c.data[20:]), binary.BigEndian.Uint16(c.data[22:])
			if want := opt.Delay; want > 0 && time.Duration(num)*time.Second/time.Duration(den) != want {
				t.Errorf("delay %d/%d, want %v", num, den, want)
			}
			data = append(data, nil)
		case "fdAT":
			if s := binary.BigEndian.Uint32(c.data); s != seq {
				t.Errorf("fdAT sequence %d, want %d", s, seq)
			}
			seq++
			data[len(data)-1] = append(data[len(data)-1], c.data[4:]...)
		case "IDAT":
			if len(data) != 1 {
				t.Error("IDAT outside the first frame")
			}
			data[0] = append(data[0], c.data...)
		}
	}
	if len(data) != len(frames) {
		t.Fatalf("%d fcTL chunks, want %d", len(data), len(frames))
	}
	first, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("plain PNG decoder: %v", err)
	}
	sameImage(t, "first frame via image/png", first, frames[0])
	for i, d := range data {
		m, err := png.Decode(bytes.NewReader(standalone(cs[0].data, d)))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		sameImage(t, "frame", m, frames[i])
	}
}

func sameImage(t *testing.T, what string, got, want image.Image) {
	t.Helper()
	if got.Bounds().Size() != want.Bounds().Size() {
		t.Fatalf("%s: size %v, want %v", what, got.Bounds().Size(), want.Bounds().Size())
	}
	gm, wm := got.Bounds().Min, want.Bounds().Min
	for y := 0; y < want.Bounds().Dy(); y++ {
		for x := 0; x < want.Bounds().Dx(); x++ {
			g := color.NRGBAModel.Convert(got.At(gm.X+x, gm.Y+y)).(color.NRGBA)
			w := color.NRGBAModel.Convert(want.At(wm.X+x, wm.Y+y)).(color.NRGBA)
			if g != w {
				t.Fatalf("%s: pixel (%d,%d) %v, want %v", what, x, y, g, w)
			}
		}
	}
}

func TestAPNG(t *testing.T) {
	checkAPNG(t, testFrames(4, 37, 21, false), Options{Delay: 40 * time.Millisecond}, 2)
	checkAPNG(t, testFrames(3, 16, 16, true), Options{Plays: 2}, 6)
	checkAPNG(t, testFrames(1, 5, 5, false), Options{}, 2)
	// Frames not at the origin, and grey frames, are converted.
	sub := testFrames(2, 30, 30, false)
	sub[0] = sub[0].(*image.NRGBA).SubImage(image.Rect(5, 5, 25, 25))
	g := image.NewGray(image.Rect(0, 0, 20, 20))
	g.Pix[7] = 200
	checkAPNG(t, []image.Image{sub[0], g}, Options{}, 2)
	// A frame big enough to need several fdAT chunks.
	big := make([]image.Image, 2)
	for i := range big {
		m := image.NewNRGBA(image.Rect(0, 0, 700, 700))
		seed := uint32(i + 1)
		for j := range m.Pix {
			seed = seed*1664525 + 1013904223 // noise does not compress
			m.Pix[j] = byte(seed >> 24)
			if j%4 == 3 {
				m.Pix[j] = 255
			}
		}
		big[i] = m
	}
	checkAPNG(t, big, Options{}, 2)
}

func TestAPNGDelay(t *testing.T) {
	for _, c := range []struct {
		d        time.Duration
		num, den uint16
	}{
		{40 * time.Millisecond, 40, 1000},
		{0, 0, 1000},
		{70 * time.Second, 7000, 100},
		{2 * time.Hour, 7200, 1},
		{100 * time.Hour, 65535, 1},
	} {
		if n, d := apngDelay(c.d); n != c.num || d != c.den {
			t.Errorf("%v: %d/%d, want %d/%d", c.d, n, d, c.num, c.den)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	fr := testFrames(2, 10, 10, false)
	odd := []image.Image{fr[0], testFrames(1, 11, 10, false)[0]}
	for name, write := range map[string]func(string, []image.Image, Options) error{"gif": WriteGIF, "apng": WriteAPNG} {
		if err := write(filepath.Join(dir, "x"), nil, Options{}); err == nil {
			t.Errorf("%s: no frames: no error", name)
		}
		if err := write(filepath.Join(dir, "x"), odd, Options{}); err == nil {
			t.Errorf("%s: mixed sizes: no error", name)
		}
		if err := write(filepath.Join(dir, "x"), fr, Options{Delays: []time.Duration{time.Second}}); err == nil {
			t.Errorf("%s: delay count: no error", name)
		}
		if err := write(filepath.Join(dir, "x"), fr, Options{Plays: -1}); err == nil {
			t.Errorf("%s: negative plays: no error", name)
		}
		if err := write(filepath.Join(dir, "x"), []image.Image{fr[0], nil}, Options{}); err == nil {
			t.Errorf("%s: nil frame: no error", name)
		}
		if err := write(filepath.Join(dir, "missing", "x"), fr, Options{}); err == nil {
			t.Errorf("%s: missing folder: no error", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
			t.Errorf("%s: a failed write left a file", name)
		}
	}
	if _, err := Frames([]*imageio.Image{{W: 2, H: 2}}); err == nil {
		t.Error("malformed engine image: no error")
	}
}
