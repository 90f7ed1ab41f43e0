package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

// A 16-bit RGB TIFF with an orientation tag and an ICC profile, its
// directory after the pixels: decoded at 16 bits, turned as a viewer shows
// it, the profile kept, and Probe, ProbeBytes and Config agree with Decode.
func TestTIFF16OrientationICC(t *testing.T) {
	const w, h = 3, 2
	v := make([]uint16, w*h*3)
	for i := range v {
		v[i] = uint16(i*4099 + 7) // not multiples of 257: 8 bits cannot hold them
	}
	icc := imagetest.FakeICC(300)
	data := testTIFF(w, h, 3, 16, v, tiffShorts(274, 6), tiffEntry{34675, 7, len(icc), icc})
	m, err := Decode(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := New(w, h)
	for i, s := range v {
		stored.Pix[i] = float32(s) / 65535
	}
	want := Orient(stored, 6)
	if m.W != 2 || m.H != 3 || m.Depth != 16 || m.Gray || m.Alpha != nil || !bytes.Equal(m.ICC, icc) {
		t.Fatalf("decoded %dx%d depth %d grey %v alpha %v, profile kept %v; want 2x3, 16-bit RGB with the profile",
			m.W, m.H, m.Depth, m.Gray, m.Alpha != nil, bytes.Equal(m.ICC, icc))
	}
	for i, x := range want.Pix {
		if d := m.Pix[i] - x; d > 1e-6 || d < -1e-6 {
			t.Fatalf("sample %d: %v, want %v (16-bit value turned by orientation 6)", i, m.Pix[i], x)
		}
	}
	path := writeFile(t, t.TempDir(), "a.TIF", data)
	info, err := Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ProbeBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	cw, ch, err := Config(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "tiff" || info.W != 2 || info.H != 3 || info.Depth != 16 || !bytes.Equal(info.ICC, icc) ||
		mem.W != info.W || mem.H != info.H || cw != 2 || ch != 3 {
		t.Errorf("Probe %+v, ProbeBytes %dx%d, Config %dx%d; want tiff 2x3 at 16 bits with the profile", info, mem.W, mem.H, cw, ch)
	}
	if !HasImageExt(path) {
		t.Errorf("%s not taken for an image", path)
	}
}

// A grey TIFF decodes as grey, an RGBA one with its alpha, both at 8 bits.
// (x/image/tiff refuses grey with alpha: that gives an error.)
func TestTIFFGreyAndAlpha(t *testing.T) {
	v := []uint16{0, 65535, 30000, 40000, 65535, 0, 1000, 20000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000}
	for _, c := range []struct {
		spp         int
		grey, alpha bool
	}{{1, true, false}, {4, false, true}} {
		m, err := Decode(testTIFF(2, 2, c.spp, 8, v), ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Gray != c.grey || m.Depth != 8 || (m.Alpha != nil) != c.alpha {
			t.Fatalf("%d samples a pixel: grey %v, depth %d, alpha %v", c.spp, m.Gray, m.Depth, m.Alpha != nil)
		}
		if got, want := m.Pix[3], float32(v[c.spp]>>8)/255; got != want {
			t.Errorf("%d samples a pixel: second pixel %v, want %v", c.spp, got, want)
		}
	}
	if _, err := Decode(testTIFF(2, 2, 2, 8, v), ReadOptions{}); err == nil {
		t.Error("grey with alpha decoded, which x/image/tiff does not support")
	}
}

// Broken TIFFs give errors, never panics; a broken tag is ignored.
func TestTIFFMalformed(t *testing.T) {
	good := testTIFF(4, 4, 3, 8, make([]uint16, 48), tiffShorts(274, 3))
	for n := 0; n < len(good); n += 7 {
		if _, err := Decode(good[:n], ReadOptions{}); err == nil && n < len(good) {
			t.Fatalf("a TIFF cut at %d of %d bytes decoded", n, len(good))
		}
	}
	if _, err := Decode([]byte("II*\x00garbage"), ReadOptions{}); err == nil {
		t.Error("garbage after a TIFF signature decoded")
	}
	// An orientation of 9 is no orientation.
	bad := testTIFF(4, 2, 3, 8, make([]uint16, 24), tiffShorts(274, 9))
	if m, err := Decode(bad, ReadOptions{}); err != nil || m.W != 4 || m.H != 2 {
		t.Errorf("orientation 9: %v, want the image as stored", err)
	}
	huge := testTIFF(4, 4, 3, 8, make([]uint16, 48))
	if _, err := Decode(huge, ReadOptions{MaxPixels: 15}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("16 pixels over a 15-pixel limit: %v", err)
	}
}

// What TIFFWriter writes, Decode reads back: 8 and 16 bits, RGB, grey and
// RGBA, the profile, across several strips, and the same bytes whether
// the rows come in one call or in bands.
func TestTIFFWriteRoundTrip(t *testing.T) {
	const w, h = 70, 300 // 16-bit RGBA rows of 560 bytes: several strips
	for _, c := range []struct {
		name         string
		gray, alpha  bool
		bits16       bool
		wantGray     bool
		tolerance    float64
		profileBytes int
	}{
		{"rgb8", false, false, false, false, 0.5 / 255, 0},
		{"rgb16", false, false, true, false, 0.5 / 65535, 300},
		{"grey8", true, false, false, true, 0.5 / 255, 0},
		{"grey16", true, false, true, true, 0.5 / 65535, 200},
		{"rgba16", false, true, true, false, 0.5 / 65535, 0},
		{"grey+alpha8 (stored as RGBA)", true, true, false, false, 0.5 / 255, 0},
	} {
		m := New(w, h)
		for i := range m.Pix {
			m.Pix[i] = float32((i*7919)%65536) / 65535
			if c.gray {
				m.Pix[i] = float32((i/3*7919)%65536) / 65535
			}
		}
		m.Gray = c.gray
		if c.alpha {
			m.Alpha = make([]float32, w*h)
			for i := range m.Alpha {
				m.Alpha[i] = float32(i%w) / (w - 1)
			}
		}
		if c.profileBytes > 0 {
			m.ICC = imagetest.FakeICC(c.profileBytes)
		}
		var whole bytes.Buffer
		if err := Encode(&whole, m, TIFF, WriteOptions{Bits16: c.bits16}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var banded bytes.Buffer
		tw, err := NewTIFFWriter(&banded, w, h, TIFFOptions{Alpha: c.alpha, Gray: c.gray, Bits16: c.bits16, ICC: m.ICC})
		if err != nil {
			t.Fatal(err)
		}
		v := Interleave(m.Pix, m.Alpha)
		row := len(v) / h
		for y := 0; y < h; y += 64 {
			y1 := min(y+64, h)
			if err := tw.WriteRows(v[y*row:y1*row], y1-y); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(whole.Bytes(), banded.Bytes()) {
			t.Errorf("%s: bands of 64 rows write other bytes than the whole image", c.name)
		}
		back, err := Decode(whole.Bytes(), ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantDepth := 8
		if c.bits16 {
			wantDepth = 16
		}
		if back.W != w || back.H != h || back.Gray != c.wantGray || (back.Alpha != nil) != c.alpha || back.Depth != wantDepth || !bytes.Equal(back.ICC, m.ICC) {
			t.Fatalf("%s: read back %dx%d grey %v alpha %v depth %d, profile kept %v", c.name, back.W, back.H, back.Gray, back.Alpha != nil, back.Depth, bytes.Equal(back.ICC, m.ICC))
		}
		for i, x := range m.Pix {
			if d := float64(back.Pix[i] - x); d > c.tolerance || d < -c.tolerance {
				t.Fatalf("%s: sample %d read back %v, wrote %v", c.name, i, back.Pix[i], x)
			}
		}
		for i, x := range m.Alpha {
			if d := float64(back.Alpha[i] - x); d > c.tolerance || d < -c.tolerance {
				t.Fatalf("%s: alpha %d read back %v, wrote %v", c.name, i, back.Alpha[i], x)
			}
		}
	}
}

// A TIFFWriter refuses rows that do not fit and reports missing ones.
func TestTIFFWriterChecks(t *testing.T) {
	var b bytes.Buffer
	tw, err := NewTIFFWriter(&b, 4, 2, TIFFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteRows(make([]float32, 12), 1); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err == nil {
		t.Error("Close after 1 of 2 rows succeeded")
	}
	if err := tw.WriteRows(make([]float32, 5), 1); err == nil {
		t.Error("5 values taken for a row of 4 RGB pixels")
	}
	if _, err := NewTIFFWriter(&b, 0, 2, TIFFOptions{}); err == nil {
		t.Error("an empty image accepted")
	}
	if _, err := NewTIFFWriter(&b, 1<<16, 1<<15, TIFFOptions{Bits16: true}); err == nil {
		t.Error("a TIFF of 12 GiB accepted")
	}
}

// testTIFF is an uncompressed little-endian TIFF of w×h pixels with spp
// samples a pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) of 8 or 16 bits,
// samples taken from v (0–65535, scaled down for 8 bits), in one strip
// with the directory after the pixels, as many writers place it (unlike
// TIFFWriter), and the extra fields in it.
func testTIFF(w, h, spp, bits int, v []uint16, extra ...tiffEntry) []byte {
	b := []byte("II*\x00\x00\x00\x00\x00")
	for _, s := range v[:w*h*spp] {
		if bits == 16 {
			b = binary.LittleEndian.AppendUint16(b, s)
		} else {
			b = append(b, byte(s>>8))
		}
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	at := len(b)
	binary.LittleEndian.PutUint32(b[4:], uint32(at))
	es := append(tiffImageEntries(w, h, spp, bits/8, h, []int{8}, spp >= 3, spp == 2 || spp == 4, nil), extra...)
	slices.SortFunc(es, func(a, b tiffEntry) int { return int(a.tag) - int(b.tag) })
	return appendTIFFIFD(b, es, at)
}
