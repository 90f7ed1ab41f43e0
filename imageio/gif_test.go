package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"strings"
	"testing"
)

// A still GIF decodes with its transparency as alpha; an animation is
// refused with its frame count, not cut to one frame silently.
func TestGIF(t *testing.T) {
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{}}
	frame := func(c uint8) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, 6, 4), pal)
		for i := range p.Pix {
			p.Pix[i] = c
		}
		p.Pix[0] = 2 // transparent
		return p
	}
	var still bytes.Buffer
	if err := gif.Encode(&still, frame(1), nil); err != nil {
		t.Fatal(err)
	}
	m, err := Decode(still.Bytes(), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 6 || m.H != 4 || m.Alpha == nil || m.Alpha[0] != 0 || m.Alpha[1] != 1 || m.Pix[5] != 1 || m.Pix[3] != 0 {
		t.Fatalf("still GIF: %dx%d, alpha %v, pixel 1 %v", m.W, m.H, m.Alpha[:2], m.Pix[3:6])
	}
	if info, err := ProbeBytes(still.Bytes()); err != nil || info.Format != "gif" || info.W != 6 {
		t.Errorf("probe: %+v %v", info, err)
	}
	var anim bytes.Buffer
	g := &gif.GIF{Image: []*image.Paletted{frame(0), frame(1), frame(0)}, Delay: []int{10, 10, 10}}
	if err := gif.EncodeAll(&anim, g); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(anim.Bytes(), ReadOptions{}); err == nil || !strings.Contains(err.Error(), "animated GIF of 3 frames") {
		t.Errorf("animation: %v, want a refusal naming 3 frames", err)
	}
	if n := gifFrames(anim.Bytes()[:len(anim.Bytes())/2]); n < 1 || n > 3 {
		t.Errorf("a cut animation counts %d frames", n)
	}
}
