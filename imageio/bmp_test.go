package imageio

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"golang.org/x/image/bmp"
)

func TestBMPRead(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 9)
	}
	for p := 0; p < 6; p++ {
		src.Pix[p*4+3] = 255
	}
	var b bytes.Buffer
	if err := bmp.Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	m, err := Read(writeFile(t, t.TempDir(), "t.bmp", b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 3 || m.H != 2 {
		t.Fatalf("size %dx%d", m.W, m.H)
	}
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			want := src.RGBAAt(x, y)
			got := color.RGBA{To8(m.Pix[(y*3+x)*3]), To8(m.Pix[(y*3+x)*3+1]), To8(m.Pix[(y*3+x)*3+2]), 255}
			if got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	// A truncated BMP is an error naming the file, not a panic.
	if _, err := Read(writeFile(t, t.TempDir(), "cut.bmp", b.Bytes()[:40])); err == nil || !bytes.Contains([]byte(err.Error()), []byte("cut.bmp")) {
		t.Fatalf("truncated BMP: err = %v", err)
	}
}
