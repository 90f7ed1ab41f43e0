package imageio

import (
	"bytes"
	"errors"
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
	data := imagetest.TIFF(w, h, 3, 16, v, imagetest.TIFFTag{Tag: 274, Short: 6}, imagetest.TIFFTag{Tag: 34675, Bytes: icc})
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
		m, err := Decode(imagetest.TIFF(2, 2, c.spp, 8, v), ReadOptions{})
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
	if _, err := Decode(imagetest.TIFF(2, 2, 2, 8, v), ReadOptions{}); err == nil {
		t.Error("grey with alpha decoded, which x/image/tiff does not support")
	}
}

// Broken TIFFs give errors, never panics; a broken tag is ignored.
func TestTIFFMalformed(t *testing.T) {
	good := imagetest.TIFF(4, 4, 3, 8, make([]uint16, 48), imagetest.TIFFTag{Tag: 274, Short: 3})
	for n := 0; n < len(good); n += 7 {
		if _, err := Decode(good[:n], ReadOptions{}); err == nil && n < len(good) {
			t.Fatalf("a TIFF cut at %d of %d bytes decoded", n, len(good))
		}
	}
	if _, err := Decode([]byte("II*\x00garbage"), ReadOptions{}); err == nil {
		t.Error("garbage after a TIFF signature decoded")
	}
	// An orientation of 9 is no orientation.
	bad := imagetest.TIFF(4, 2, 3, 8, make([]uint16, 24), imagetest.TIFFTag{Tag: 274, Short: 9})
	if m, err := Decode(bad, ReadOptions{}); err != nil || m.W != 4 || m.H != 2 {
		t.Errorf("orientation 9: %v, want the image as stored", err)
	}
	huge := imagetest.TIFF(4, 4, 3, 8, make([]uint16, 48))
	if _, err := Decode(huge, ReadOptions{MaxPixels: 15}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("16 pixels over a 15-pixel limit: %v", err)
	}
}
