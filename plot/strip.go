package plot

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"github.com/zoomdiff/zoomdiff/atomicfile"
)

// Panel is one image of a strip with the label printed under it.
type Panel struct {
	Image image.Image
	Label string
}

// stripGap and stripLabel are the white space between panels and the
// height of the label band below them.
const stripGap, stripLabel = 6, 18

// Strip lays panels side by side on white, top-aligned, each with its
// label centred below.
func Strip(panels []Panel) *image.RGBA {
	w, h := stripGap, 0
	for _, p := range panels {
		b := p.Image.Bounds()
		w += b.Dx() + stripGap
		h = max(h, b.Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h+2*stripGap+stripLabel))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	x := stripGap
	for _, p := range panels {
		b := p.Image.Bounds()
		draw.Draw(out, image.Rect(x, stripGap, x+b.Dx(), stripGap+b.Dy()), p.Image, b.Min, draw.Src)
		tw := 7 * len([]rune(p.Label)) // basicfont.Face7x13 advances 7 px a glyph
		text(out, x+(b.Dx()-tw)/2, stripGap+h+stripLabel-4, p.Label, color.Black)
		x += b.Dx() + stripGap
	}
	return out
}

// WriteStrip draws the strip and stores it as a PNG at path.
func WriteStrip(path string, panels []Panel) error {
	img := Strip(panels)
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
