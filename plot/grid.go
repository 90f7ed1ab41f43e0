package plot

import (
	"image"
	"image/draw"
)

// gridGap is the white space around and between the cells of a grid.
const gridGap = 2

// Grid lays images out in rows of cols on white (a contact sheet), each
// cell as large as the largest image, images top-left in their cells.
func Grid(imgs []image.Image, cols int) *image.RGBA {
	cols = max(1, min(cols, len(imgs)))
	rows := (len(imgs) + cols - 1) / cols
	cw, ch := 0, 0
	for _, m := range imgs {
		cw, ch = max(cw, m.Bounds().Dx()), max(ch, m.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, gridGap+cols*(cw+gridGap), gridGap+rows*(ch+gridGap)))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, m := range imgs {
		x, y := gridGap+(i%cols)*(cw+gridGap), gridGap+(i/cols)*(ch+gridGap)
		b := m.Bounds()
		draw.Draw(out, image.Rect(x, y, x+b.Dx(), y+b.Dy()), m, b.Min, draw.Src)
	}
	return out
}
