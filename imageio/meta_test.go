package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/jpeg"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

func testImage(w, h int) *Image {
	m := New(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(i%23) / 22
	}
	return m
}

// The profile survives PNG and JPEG, including a JPEG profile split over
// several APP2 segments, and Probe reads what Decode reads.
func TestICCRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Format{PNG, JPEG} {
		for _, n := range []int{132, 3000, 2*jpegICCMax + 100} {
			prof := imagetest.FakeICC(n)
			m := testImage(9, 7)
			m.ICC = prof
			var b bytes.Buffer
			if err := Encode(&b, m, f, WriteOptions{}); err != nil {
				t.Fatalf("format %d, %d bytes: %v", f, n, err)
			}
			got, err := Decode(b.Bytes(), ReadOptions{})
			if err != nil {
				t.Fatalf("format %d, %d bytes: %v", f, n, err)
			}
			if !bytes.Equal(got.ICC, prof) {
				t.Errorf("format %d: profile of %d bytes read back as %d bytes, not equal", f, n, len(got.ICC))
			}
			p := writeFile(t, dir, "p", b.Bytes())
			if info, err := Probe(p); err != nil || !bytes.Equal(info.ICC, prof) || info.W != 9 || info.H != 7 || info.Depth != 8 {
				t.Errorf("format %d: Probe = %+v (%v)", f, info, err)
			}
		}
	}
	// WriteOptions.ICC wins over the image's; no profile writes none.
	m := testImage(4, 4)
	m.ICC = imagetest.FakeICC(200)
	other := imagetest.FakeICC(300)
	var b bytes.Buffer
	if err := Encode(&b, m, PNG, WriteOptions{ICC: other}); err != nil {
		t.Fatal(err)
	}
	if got := must(Decode(b.Bytes(), ReadOptions{})); !bytes.Equal(got.ICC, other) {
		t.Error("WriteOptions.ICC was not the profile written")
	}
	b.Reset()
	if err := Encode(&b, testImage(4, 4), JPEG, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := must(Decode(b.Bytes(), ReadOptions{})); got.ICC != nil || bytes.Contains(b.Bytes(), []byte(iccMarker)) {
		t.Error("an image without a profile was written with one")
	}
	if _, err := jpegICCSegments(make([]byte, 255*jpegICCMax+1)); err == nil {
		t.Error("a profile too large for 255 APP2 segments was accepted")
	}
}

// An EXIF-rotated JPEG keeps its profile, and a grey JPEG stays grey.
func TestICCWithOrientationAndGrey(t *testing.T) {
	prof := imagetest.FakeICC(500)
	g := image.NewGray(image.Rect(0, 0, 8, 4))
	for i := range g.Pix {
		g.Pix[i] = byte(i * 5)
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, g, nil); err != nil {
		t.Fatal(err)
	}
	segs := must(jpegICCSegments(prof))
	data := append([]byte{0xFF, 0xD8}, imagetest.EXIFSegment(6, binary.BigEndian)...)
	data = append(append(data, segs...), plain.Bytes()[2:]...)
	m, err := Decode(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 4 || m.H != 8 || !m.Gray || !bytes.Equal(m.ICC, prof) {
		t.Errorf("got %dx%d grey=%v profile %d bytes, want 4x8 grey with the profile", m.W, m.H, m.Gray, len(m.ICC))
	}
}

// A profile in a WebP's ICCP chunk is read.
func TestICCWebP(t *testing.T) {
	prof := imagetest.FakeICC(301) // odd: the chunk is padded
	lossy := must(hex.DecodeString(webpLossy))
	var body bytes.Buffer
	body.WriteString("WEBP")
	chunk := func(id string, data []byte) {
		body.WriteString(id)
		binary.Write(&body, binary.LittleEndian, uint32(len(data)))
		body.Write(data)
		if len(data)%2 == 1 {
			body.WriteByte(0)
		}
	}
	vp8x := make([]byte, 10)
	vp8x[0] = 1 << 5 // ICC profile present
	vp8x[4], vp8x[7] = 7, 7
	chunk("VP8X", vp8x)
	chunk("ICCP", prof)
	body.Write(lossy[12:]) // the VP8 chunk
	data := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(body.Len()))...)
	data = append(data, body.Bytes()...)
	m, err := Decode(data, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 8 || m.H != 8 || !bytes.Equal(m.ICC, prof) {
		t.Errorf("%dx%d with a %d-byte profile, want 8x8 with the %d-byte one", m.W, m.H, len(m.ICC), len(prof))
	}
}

// Broken profiles count as none; the pixels still decode.
func TestICCMalformedIgnored(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	segs := must(jpegICCSegments(imagetest.FakeICC(2*jpegICCMax + 10)))
	first := segs[:2+2+len(iccMarker)+2+jpegICCMax] // piece 1 of 3 only
	data := append(append([]byte{0xFF, 0xD8}, first...), plain.Bytes()[2:]...)
	icc := func(data []byte) []byte {
		t.Helper()
		m, err := Decode(data, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m.ICC
	}
	if p := icc(data); p != nil {
		t.Errorf("JPEG missing profile pieces: profile of %d bytes", len(p))
	}
	// A PNG iCCP chunk whose zlib stream is garbage (with a good CRC).
	png8 := encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	body := []byte("ICC Profile\x00\x00not zlib at all")
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(append(chunk, "iCCP"...), body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	data = append(append(append([]byte(nil), png8[:33]...), chunk...), png8[33:]...)
	if p := icc(data); p != nil {
		t.Errorf("PNG with a broken iCCP: profile of %d bytes", len(p))
	}
	// A zlib bomb past MaxICC is refused, not inflated.
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, MaxICC+1))
	zw.Close()
	body = append([]byte("ICC Profile\x00\x00"), z.Bytes()...)
	chunk = binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(append(chunk, "iCCP"...), body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	data = append(append(append([]byte(nil), png8[:33]...), chunk...), png8[33:]...)
	if p := icc(data); p != nil {
		t.Errorf("PNG with an oversized iCCP: profile of %d bytes", len(p))
	}
}

// A profile for other pixels than Decode returns (a CMYK JPEG's: the
// decoder converts the pixels to RGB) is dropped, by Decode and Probe
// alike, so that it is not embedded in RGB outputs; RGB and grey ones stay.
func TestICCOfOtherColourSpaceDropped(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, image.NewRGBA(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	for space, keep := range map[string]bool{"CMYK": false, "Lab ": false, "RGB ": true, "GRAY": true} {
		prof := imagetest.FakeICC(300)
		copy(prof[16:], space)
		data := append(append([]byte{0xFF, 0xD8}, must(jpegICCSegments(prof))...), plain.Bytes()[2:]...)
		m := must(Decode(data, ReadOptions{}))
		info := must(ProbeBytes(data))
		if got := m.ICC != nil; got != keep || (info.ICC != nil) != keep {
			t.Errorf("a %q profile: Decode kept it %v, Probe %v; want %v", space, got, info.ICC != nil, keep)
		}
	}
}

// Depth records 16-bit PNG sources; everything else is 8.
func TestDepth(t *testing.T) {
	dir := t.TempDir()
	g16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	for i := range g16.Pix {
		g16.Pix[i] = byte(i * 37)
	}
	for _, c := range []struct {
		name string
		img  image.Image
		want int
	}{
		{"gray16", g16, 16},
		{"nrgba64", image.NewNRGBA64(image.Rect(0, 0, 3, 2)), 16},
		{"gray8", image.NewGray(image.Rect(0, 0, 3, 2)), 8},
		{"nrgba", image.NewNRGBA(image.Rect(0, 0, 3, 2)), 8},
	} {
		data := encodePNG(t, c.img)
		m, err := Decode(data, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, dir, c.name+".png", data)
		info, err := Probe(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Depth != c.want || info.Depth != c.want || info.Format != "png" {
			t.Errorf("%s: Depth %d, Probe %+v, want %d", c.name, m.Depth, info, c.want)
		}
		if c := m.Clone(); c.Depth != m.Depth {
			t.Errorf("Clone lost the depth")
		}
	}
	if _, err := Probe(filepath.Join(dir, "none.png")); err == nil {
		t.Error("Probe of a missing file succeeded")
	}
}
