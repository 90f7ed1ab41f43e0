package imageio

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"testing"
)

// TestJPEGQuality: ProbeBytes recovers the quality Go's encoder (libjpeg's
// scaling of the standard tables) saved a JPEG at, exactly, from 1 to 100;
// a PNG has none, and a JPEG whose DQT segment is cut short or missing gives
// 0, not a guess or a panic.
func TestJPEGQuality(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	encode := func(q int) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for q := 1; q <= 100; q++ {
		in, err := ProbeBytes(encode(q))
		if err != nil {
			t.Fatal(err)
		}
		// Qualities that scale to the same table cannot be told apart
		// (the entries clamp at 255 near 1 and at 1 near 100): the
		// estimate is the first of them. From 10 to 95 every table is
		// its own.
		want := q
		for want > 1 && ijgTable(want-1) == ijgTable(q) {
			want--
		}
		if q >= 10 && q <= 95 && want != q {
			t.Fatalf("quality %d shares its table with %d", q, want)
		}
		if in.JPEGQuality != want {
			t.Errorf("saved at quality %d: estimated %d, want %d", q, in.JPEGQuality, want)
		}
	}
	// At 50 libjpeg uses the standard table unscaled: jpegLuma must be
	// exactly the table Go's encoder writes, entry for entry.
	if got := jpegLumaTable(encode(50)); !slices.Equal(got, jpegLuma[:]) {
		t.Errorf("quality 50 table %v, want the standard %v", got, jpegLuma)
	}
	var p bytes.Buffer
	if err := png.Encode(&p, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	if in, err := ProbeBytes(p.Bytes()); err != nil || in.JPEGQuality != 0 {
		t.Errorf("PNG: quality %d, %v; want 0", in.JPEGQuality, err)
	}
	// Cut the first DQT segment's table short: its length field then runs
	// past the data that follows, or the table past its segment.
	data := encode(60)
	at := bytes.Index(data, []byte{0xFF, 0xDB})
	if at < 0 {
		t.Fatal("no DQT segment")
	}
	short := append([]byte{}, data[:at+4+10]...)
	if q := jpegQuality(short); q != 0 {
		t.Errorf("truncated table: quality %d, want 0", q)
	}
	noDQT := append(append([]byte{}, data[:at]...), 0xFF, 0xD9)
	if q := jpegQuality(noDQT); q != 0 {
		t.Errorf("no DQT: quality %d, want 0", q)
	}
}
