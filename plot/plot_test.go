package plot

import (
	"image"
	"image/color"
	"image/draw"
	"testing"
)

func TestDrawPlacesSeries(t *testing.T) {
	c := Chart{Title: "t", Width: 200, Height: 120, Series: []Series{{Label: "a", X: []float64{0, 10}, Y: []float64{1, 2}}}}
	img, err := c.Draw()
	if err != nil {
		t.Fatal(err)
	}
	// The first point sits at the left axis, low; the last at the right, high.
	blue := palette[0]
	found := func(x0, x1, y0, y1 int) bool {
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				if img.RGBAAt(x, y) == blue {
					return true
				}
			}
		}
		return false
	}
	if !found(62, 66, 60, 72) || !found(180, 186, 30, 42) {
		t.Fatal("series points not where the axes put them")
	}
	if img.RGBAAt(100, 100) == (color.RGBA{}) {
		t.Fatal("background not drawn")
	}
	if _, err := (Chart{}).Draw(); err == nil {
		t.Fatal("a chart without data must be an error")
	}
	if _, err := (Chart{Series: []Series{{X: []float64{1}, Y: nil}}}).Draw(); err == nil {
		t.Fatal("mismatched series must be an error")
	}
	if got := ticks(0, 10); len(got) < 3 || got[1]-got[0] != 2 {
		t.Fatalf("ticks(0,10) = %v", got)
	}
}

func TestStrip(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 10, 20))
	draw.Draw(red, red.Bounds(), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	blue := image.NewRGBA(image.Rect(0, 0, 30, 12))
	draw.Draw(blue, blue.Bounds(), image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src)
	s := Strip([]Panel{{red, "a"}, {blue, "bb"}})
	if b := s.Bounds(); b.Dx() != 6+10+6+30+6 || b.Dy() != 20+2*6+18 {
		t.Fatalf("strip is %v", b)
	}
	// Panels sit after the gaps, top-aligned; the label band has ink.
	if c := s.RGBAAt(6, 6); c.R != 255 || c.B != 0 {
		t.Errorf("first panel pixel %v", c)
	}
	if c := s.RGBAAt(22, 6); c.B != 255 || c.R != 0 {
		t.Errorf("second panel pixel %v", c)
	}
	if c := s.RGBAAt(22, 6+12); c != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("below the short panel %v, want white", c)
	}
	ink := 0
	for y := 20 + 6; y < s.Bounds().Dy(); y++ {
		for x := 0; x < s.Bounds().Dx(); x++ {
			if s.RGBAAt(x, y).R < 128 {
				ink++
			}
		}
	}
	if ink == 0 {
		t.Error("no label drawn")
	}
}

func TestGrid(t *testing.T) {
	var imgs []image.Image
	for i := range 5 {
		m := image.NewRGBA(image.Rect(0, 0, 4, 3))
		draw.Draw(m, m.Bounds(), &image.Uniform{color.RGBA{uint8(40 * i), 0, 0, 255}}, image.Point{}, draw.Src)
		imgs = append(imgs, m)
	}
	g := Grid(imgs, 2) // 3 rows of 2 cells of 4×3, 2-px gaps
	if b := g.Bounds(); b.Dx() != 2+2*6 || b.Dy() != 2+3*5 {
		t.Fatalf("grid is %v", b)
	}
	for i := range 5 {
		x, y := 2+(i%2)*6, 2+(i/2)*5
		if r, _, _, _ := g.At(x+3, y+2).RGBA(); r>>8 != uint32(40*i) {
			t.Fatalf("cell %d holds red %d", i, r>>8)
		}
	}
	if r, gg, b, _ := g.At(2+6+4, 2+2*5).RGBA(); r != 0xffff || gg != 0xffff || b != 0xffff {
		t.Fatal("the empty sixth cell is not white")
	}
}
