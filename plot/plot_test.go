package plot

import (
	"image/color"
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
