package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPNG8RoundTrip(t *testing.T) {
	m := New(5, 3)
	for i := range m.Pix {
		m.Pix[i] = float32((i*37)%256) / 255
	}
	p := filepath.Join(t.TempDir(), "a.png")
	if err := Write(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.W != 5 || got.H != 3 || got.Alpha != nil || got.Gray {
		t.Fatalf("got %dx%d alpha=%v gray=%v", got.W, got.H, got.Alpha != nil, got.Gray)
	}
	for i := range m.Pix {
		if got.Pix[i] != m.Pix[i] {
			t.Fatalf("pix[%d] = %v, want %v", i, got.Pix[i], m.Pix[i])
		}
	}
}

func TestPNG16RoundTripKeepsPrecision(t *testing.T) {
	m := New(4, 2)
	for i := range m.Pix {
		m.Pix[i] = float32(i*2731+1) / 65535 // not representable in 8 bits
	}
	m.Alpha = []float32{1, 0.5, float32(12345) / 65535, 1, 1, 1, 1, 0.25}
	p := filepath.Join(t.TempDir(), "a16.png")
	if err := WriteWith(p, m, WriteOptions{Bits16: true}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Pix {
		if math.Abs(float64(got.Pix[i]-m.Pix[i])) > 0.5/65535 {
			t.Fatalf("pix[%d] = %v, want %v", i, got.Pix[i], m.Pix[i])
		}
	}
	for i := range m.Alpha {
		if math.Abs(float64(got.Alpha[i]-m.Alpha[i])) > 0.5/65535 {
			t.Fatalf("alpha[%d] = %v, want %v", i, got.Alpha[i], m.Alpha[i])
		}
	}
}

func TestPNGGray8And16(t *testing.T) {
	dir := t.TempDir()
	g8 := image.NewGray(image.Rect(0, 0, 3, 2))
	g8.Pix = []byte{0, 1, 128, 200, 254, 255}
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 1})
	g16.SetGray16(1, 0, color.Gray16{Y: 40000})
	for _, tc := range []struct {
		name string
		img  image.Image
		want []float32
	}{
		{"g8.png", g8, []float32{0, 1.0 / 255, 128.0 / 255, 200.0 / 255, 254.0 / 255, 1}},
		{"g16.png", g16, []float32{1.0 / 65535, 40000.0 / 65535}},
	} {
		m, err := Read(writeFile(t, dir, tc.name, encodePNG(t, tc.img)))
		if err != nil {
			t.Fatal(err)
		}
		if !m.Gray || m.Alpha != nil {
			t.Errorf("%s: gray=%v alpha=%v, want grey and opaque", tc.name, m.Gray, m.Alpha != nil)
		}
		for i, v := range tc.want {
			for c := 0; c < 3; c++ {
				if math.Abs(float64(m.Pix[3*i+c]-v)) > 1e-7 {
					t.Errorf("%s: pixel %d channel %d = %v, want %v", tc.name, i, c, m.Pix[3*i+c], v)
				}
			}
		}
	}
	// A grey image is written back as a grey PNG.
	m, _ := Read(filepath.Join(dir, "g8.png"))
	out := filepath.Join(dir, "out.png")
	if err := Write(out, m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.ColorModel != color.GrayModel {
		t.Errorf("grey round trip wrote colour model %v (err %v), want grey", cfg.ColorModel, err)
	}
}

func TestPNGPaletteWithTransparency(t *testing.T) {
	pal := color.Palette{color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 128}, color.NRGBA{10, 20, 30, 0}}
	p := image.NewPaletted(image.Rect(0, 0, 3, 1), pal)
	p.Pix = []byte{0, 1, 2}
	m, err := Read(writeFile(t, t.TempDir(), "p.png", encodePNG(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Alpha == nil {
		t.Fatal("palette transparency was dropped")
	}
	wantA := []float32{1, 128.0 / 255, 0}
	for i, a := range wantA {
		if math.Abs(float64(m.Alpha[i]-a)) > 1e-6 {
			t.Errorf("alpha[%d] = %v, want %v", i, m.Alpha[i], a)
		}
	}
	// Colour is straight (not premultiplied): the half-transparent blue is
	// still full blue.
	if m.Pix[0] != 1 || m.Pix[1] != 0 || m.Pix[5] != 1 || m.Pix[3] != 0 {
		t.Errorf("colours %v", m.Pix)
	}
}

func TestPNG8AlphaRoundTrip(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.Pix = []byte{10, 20, 30, 255, 200, 100, 50, 60}
	m, err := Read(writeFile(t, t.TempDir(), "a.png", encodePNG(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{10, 20, 30, 200, 100, 50}
	for i, v := range want {
		if m.Pix[i] != v/255 {
			t.Errorf("pix[%d] = %v, want %v", i, m.Pix[i]*255, v)
		}
	}
	if m.Alpha == nil || m.Alpha[0] != 1 || m.Alpha[1] != 60.0/255 {
		t.Fatalf("alpha = %v", m.Alpha)
	}
	out := filepath.Join(t.TempDir(), "b.png")
	if err := Write(out, m); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(bytes.NewReader(must(os.ReadFile(out))))
	if err != nil {
		t.Fatal(err)
	}
	if c := color.NRGBAModel.Convert(back.At(1, 0)).(color.NRGBA); c != (color.NRGBA{200, 100, 50, 60}) {
		t.Errorf("written pixel %v, want {200 100 50 60}", c)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestOrient checks all eight EXIF orientations on a 3×2 image against
// layouts written out by hand from the EXIF definitions (row 0 / column 0
// placement).
func TestOrient(t *testing.T) {
	// stored:  a b c
	//          d e f
	a, b, c, d, e, f := float32(1), float32(2), float32(3), float32(4), float32(5), float32(6)
	m := &Image{W: 3, H: 2, Alpha: []float32{a, b, c, d, e, f}}
	for _, v := range m.Alpha {
		m.Pix = append(m.Pix, v, v, v)
	}
	cases := []struct {
		o    int
		w, h int
		want []float32
	}{
		{1, 3, 2, []float32{a, b, c, d, e, f}},
		{2, 3, 2, []float32{c, b, a, f, e, d}},
		{3, 3, 2, []float32{f, e, d, c, b, a}},
		{4, 3, 2, []float32{d, e, f, a, b, c}},
		{5, 2, 3, []float32{a, d, b, e, c, f}},
		{6, 2, 3, []float32{d, a, e, b, f, c}},
		{7, 2, 3, []float32{f, c, e, b, d, a}},
		{8, 2, 3, []float32{c, f, b, e, a, d}},
	}
	for _, tc := range cases {
		g := Orient(m, tc.o)
		if g.W != tc.w || g.H != tc.h {
			t.Errorf("orientation %d: size %dx%d, want %dx%d", tc.o, g.W, g.H, tc.w, tc.h)
			continue
		}
		for i, v := range tc.want {
			if g.Alpha[i] != v || g.Pix[3*i] != v {
				t.Errorf("orientation %d: got %v, want %v", tc.o, g.Alpha, tc.want)
				break
			}
		}
	}
}

// quadrants is a 32×16 picture: red, green on top, blue, white below.
func quadrants() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := map[[2]bool]color.RGBA{
				{false, false}: {255, 0, 0, 255}, {true, false}: {0, 255, 0, 255},
				{false, true}: {0, 0, 255, 255}, {true, true}: {255, 255, 255, 255},
			}[[2]bool{x >= 16, y >= 8}]
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestJPEGExifOrientation(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, quadrants(), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	type px struct{ x, y int }
	// Expected colours at the centres of the displayed quadrants.
	red, green, blue, white := [3]float32{1, 0, 0}, [3]float32{0, 1, 0}, [3]float32{0, 0, 1}, [3]float32{1, 1, 1}
	cases := []struct {
		o    uint16
		bo   binary.ByteOrder
		w, h int
		want map[px][3]float32
	}{
		{1, binary.BigEndian, 32, 16, map[px][3]float32{{8, 4}: red, {24, 4}: green, {8, 12}: blue, {24, 12}: white}},
		{3, binary.LittleEndian, 32, 16, map[px][3]float32{{8, 4}: white, {24, 4}: blue, {8, 12}: green, {24, 12}: red}},
		// 90° clockwise: the left column (red over blue) becomes the top row, blue on the left.
		{6, binary.BigEndian, 16, 32, map[px][3]float32{{4, 8}: blue, {12, 8}: red, {4, 24}: white, {12, 24}: green}},
		{8, binary.LittleEndian, 16, 32, map[px][3]float32{{4, 8}: green, {12, 8}: white, {4, 24}: red, {12, 24}: blue}},
	}
	for _, tc := range cases {
		data := append([]byte{0xFF, 0xD8}, imagetest.EXIFSegment(tc.o, tc.bo)...)
		data = append(data, plain.Bytes()[2:]...)
		p := writeFile(t, dir, "o.jpg", data)
		m, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.W != tc.w || m.H != tc.h {
			t.Errorf("orientation %d: %dx%d, want %dx%d", tc.o, m.W, m.H, tc.w, tc.h)
			continue
		}
		if w, h, err := Config(p); err != nil || w != tc.w || h != tc.h {
			t.Errorf("orientation %d: Config says %dx%d (%v), want %dx%d", tc.o, w, h, err, tc.w, tc.h)
		}
		for at, c := range tc.want {
			i := 3 * (at.y*m.W + at.x)
			for k := 0; k < 3; k++ {
				if math.Abs(float64(m.Pix[i+k]-c[k])) > 0.05 {
					t.Errorf("orientation %d: pixel %v = %v, want %v", tc.o, at, m.Pix[i:i+3], c)
					break
				}
			}
		}
	}
}

func TestJPEGOrientationIgnoresMalformedExif(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, quadrants(), nil); err != nil {
		t.Fatal(err)
	}
	bad := imagetest.EXIFSegment(6, binary.BigEndian)
	bad[10+4] = 99 // break the TIFF magic number (42)
	data := append(append([]byte{0xFF, 0xD8}, bad...), plain.Bytes()[2:]...)
	m, err := Decode(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 32 || m.H != 16 {
		t.Errorf("malformed EXIF changed the size to %dx%d", m.W, m.H)
	}
}

// Files made with ImageMagick 6.9 / libwebp 1.2.4 for these tests.
const (
	// 4×3 lossless, red with a blue pixel at (1,1) and alpha 0.4 at (3,2).
	webpLossless = "524946462e000000574542505650384c220000002f038000101710f32f2028f27f34814092edfe04871f028100c5c6c234df23fa1fe3"
	// 8×8 lossy, flat grey 128.
	webpLossy = "52494646240000005745425056503820180000005001009d012a0800080000c01225a40004740000fe000000"
)

func TestWebP(t *testing.T) {
	m, err := Decode(must(hex.DecodeString(webpLossless)), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 4 || m.H != 3 || m.Alpha == nil {
		t.Fatalf("%dx%d alpha=%v", m.W, m.H, m.Alpha != nil)
	}
	if got := m.Pix[3*(1*4+1):][:3]; got[0] != 0 || got[2] != 1 {
		t.Errorf("blue pixel = %v", got)
	}
	if m.Pix[0] != 1 || m.Alpha[0] != 1 || m.Alpha[11] != 102.0/255 {
		t.Errorf("red %v alpha %v", m.Pix[:3], m.Alpha)
	}
	l, err := Decode(must(hex.DecodeString(webpLossy)), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.W != 8 || l.H != 8 || math.Abs(float64(l.Pix[27])-128.0/255) > 2.0/255 {
		t.Errorf("lossy: %dx%d pixel %v", l.W, l.H, l.Pix[27]*255)
	}
}

func TestBadFilesGiveErrorsNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	img := quadrants()
	pngData := encodePNG(t, img)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, nil); err != nil {
		t.Fatal(err)
	}
	webpData := must(hex.DecodeString(webpLossless))
	cases := map[string][]byte{
		"garbage.png":   []byte("this is not an image at all"),
		"empty.jpg":     nil,
		"trunc.png":     pngData[:len(pngData)/2],
		"header.png":    pngData[:20],
		"trunc.jpg":     jpg.Bytes()[:jpg.Len()/2],
		"trunc.webp":    webpData[:len(webpData)-10],
		"bmp.bmp":       append([]byte("BM"), make([]byte, 60)...),
		"empty.gif":     append([]byte("GIF89a"), make([]byte, 60)...),
		"soi-only.jpeg": {0xFF, 0xD8, 0xFF},
	}
	for name, data := range cases {
		p := writeFile(t, dir, name, data)
		m, err := Read(p)
		if err == nil {
			t.Errorf("%s: decoded a %dx%d image from a bad file", name, m.W, m.H)
			continue
		}
		if !strings.HasPrefix(err.Error(), "decode "+p+": ") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		// The standard decoders name their format themselves: once is enough.
		if f := strings.TrimPrefix(filepath.Ext(name), "."); strings.HasPrefix(strings.TrimPrefix(err.Error(), "decode "+p+": "), f+": "+f+":") {
			t.Errorf("%s: error %q names the format twice", name, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	psd := writeFile(t, dir, "layers.psd", append([]byte("8BPS"), make([]byte, 60)...))
	if _, err := Read(psd); !errors.Is(err, ErrUnsupported) {
		t.Errorf("psd: %v, want ErrUnsupported", err)
	}
	if _, err := Read(writeFile(t, dir, "empty.png", nil)); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty file: %v, want an error saying so", err)
	}
}

// TestDecompressionBomb hands the reader a PNG whose header announces
// 100000×100000 pixels; it must be refused from the header alone.
func TestDecompressionBomb(t *testing.T) {
	data := encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type); its CRC
	// covers type and data and sits after the 13 data bytes.
	binary.BigEndian.PutUint32(data[16:], 100000)
	binary.BigEndian.PutUint32(data[20:], 100000)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	if _, err := Decode(data, ReadOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bomb: %v, want ErrTooLarge", err)
	}
	small := encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	if _, err := Decode(small, ReadOptions{MaxPixels: 15}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("4x4 with limit 15: %v, want ErrTooLarge", err)
	}
	if _, err := Decode(small, ReadOptions{MaxPixels: 16}); err != nil {
		t.Errorf("4x4 with limit 16: %v", err)
	}
}

func TestWriteFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keep.png")
	good := New(2, 2)
	if err := Write(p, good); err != nil {
		t.Fatal(err)
	}
	before := must(os.ReadFile(p))
	bad := New(2, 2)
	bad.Pix[3] = float32(math.NaN())
	if err := Write(p, bad); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("NaN image: %v, want an error naming the file", err)
	}
	if after := must(os.ReadFile(p)); !bytes.Equal(before, after) {
		t.Error("a failed write changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := Write(filepath.Join(dir, "x.gif"), good); err == nil {
		t.Error("wrote an unsupported extension")
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir.png"), good); err == nil {
		t.Error("wrote into a missing directory")
	}
	if err := Write(filepath.Join(dir, "short.png"), &Image{W: 2, H: 2, Pix: make([]float32, 5)}); err == nil {
		t.Error("wrote an image whose Pix does not match its size")
	}
}

func TestJPEGWrite(t *testing.T) {
	m := New(16, 16)
	for i := range m.Pix {
		m.Pix[i] = 0.5
	}
	m.Alpha = make([]float32, 256) // ignored by JPEG
	p := filepath.Join(t.TempDir(), "x.JPG")
	if err := WriteWith(p, m, WriteOptions{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	g, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if g.Alpha != nil || math.Abs(float64(g.Pix[100])-0.5) > 2.0/255 {
		t.Errorf("JPEG round trip: alpha %v, value %v", g.Alpha != nil, g.Pix[100])
	}
	if err := WriteWith(p, m, WriteOptions{Quality: 101}); err == nil {
		t.Error("accepted quality 101")
	}
}

func TestCropAndQuantize(t *testing.T) {
	m := New(4, 3)
	for i := range m.Pix {
		m.Pix[i] = float32(i) / 100
	}
	m.Alpha = make([]float32, 12)
	m.Alpha[6] = 0.7
	c, err := m.Crop(1, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Pixel (2,1) of m is index 6: colour 18,19,20 hundredths, alpha 0.7.
	if c.Pix[3] != 0.18 || c.Pix[5] != 0.20 || c.Alpha[1] != 0.7 {
		t.Errorf("crop = %v alpha %v", c.Pix, c.Alpha)
	}
	if _, err := m.Crop(3, 0, 2, 1); err == nil {
		t.Error("crop past the edge succeeded")
	}
	q := New(1, 1)
	q.Pix = []float32{0.5 / 255, 1.2, -0.1}
	q.Quantize8()
	if q.Pix[0] != 1.0/255 || q.Pix[1] != 1 || q.Pix[2] != 0 {
		t.Errorf("Quantize8 = %v", q.Pix)
	}
}

// greyAlphaPNG builds a PNG of colour type 4 (grey + alpha, 8-bit), which
// Go's encoder never writes: signature, IHDR, one zlib IDAT with unfiltered
// rows, IEND.
func greyAlphaPNG(t *testing.T, w, h int, ga []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&out, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		out.Write(body)
		_ = binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 4
	chunk("IHDR", ihdr)
	var raw, z bytes.Buffer
	for y := 0; y < h; y++ {
		raw.WriteByte(0) // filter: none
		raw.Write(ga[y*w*2 : (y+1)*w*2])
	}
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

func TestPNGGreyAlpha(t *testing.T) {
	data := greyAlphaPNG(t, 2, 1, []byte{100, 255, 200, 50})
	m, err := Decode(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Gray || m.Alpha == nil || m.Alpha[1] != 50.0/255 {
		t.Fatalf("grey=%v alpha=%v", m.Gray, m.Alpha)
	}
	for c := 0; c < 3; c++ {
		if m.Pix[c] != 100.0/255 || m.Pix[3+c] != 200.0/255 {
			t.Fatalf("pix = %v", m.Pix)
		}
	}
}
