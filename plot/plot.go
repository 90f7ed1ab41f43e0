// Package plot draws simple line charts as images, so model cards and the
// README can show training curves without any plotting software.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line: points (X[i], Y[i]) and its legend label.
type Series struct {
	Label string
	X, Y  []float64
}

// Chart describes a line chart.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	Width, Height         int // pixels; 0 means 720×420
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255},
	{255, 127, 14, 255}, {148, 103, 189, 255}, {23, 190, 207, 255},
}

// Draw renders the chart. Axes span the data with a small margin and get
// about five round-numbered ticks each.
func (c Chart) Draw() (*image.RGBA, error) {
	w, h := c.Width, c.Height
	if w == 0 || h == 0 {
		w, h = 720, 420
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot: series %q has %d x and %d y values", s.Label, len(s.X), len(s.Y))
		}
		for i := range s.X {
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 0) {
		return nil, fmt.Errorf("plot: no data")
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	pad := (ymax - ymin) * 0.08
	if pad == 0 {
		pad = 1
	}
	ymin, ymax = ymin-pad, ymax+pad
	// A little room on x too, so a point at either end is not drawn on
	// the axis (charts whose x is a measurement, not a step count).
	xpad := (xmax - xmin) * 0.03
	xmin, xmax = xmin-xpad, xmax+xpad

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	left, right, top, bottom := 64, w-16, 32, h-48
	px := func(x float64) int { return left + int(float64(right-left)*(x-xmin)/(xmax-xmin)) }
	py := func(y float64) int { return bottom - int(float64(bottom-top)*(y-ymin)/(ymax-ymin)) }
	grey := color.RGBA{200, 200, 200, 255}
	black := color.RGBA{0, 0, 0, 255}

	for _, t := range ticks(ymin, ymax) {
		line(img, left, py(t), right, py(t), grey)
		text(img, 4, py(t)+4, trimFloat(t), black)
	}
	for _, t := range ticks(xmin, xmax) {
		line(img, px(t), top, px(t), bottom, grey)
		text(img, px(t)-12, bottom+16, trimFloat(t), black)
	}
	line(img, left, bottom, right, bottom, black)
	line(img, left, top, left, bottom, black)
	text(img, left, 20, c.Title, black)
	text(img, (left+right)/2-len(c.XLabel)*3, h-10, c.XLabel, black)
	text(img, 4, 20+14, c.YLabel, black)

	for k, s := range c.Series {
		col := palette[k%len(palette)]
		for i := 1; i < len(s.X); i++ {
			thick(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), col)
		}
		for i := range s.X {
			dot(img, px(s.X[i]), py(s.Y[i]), col)
		}
		ly := top + 14 + 16*k
		thick(img, right-170, ly-4, right-150, ly-4, col)
		text(img, right-144, ly, s.Label, black)
	}
	return img, nil
}

// ticks returns round values (1, 2 or 5 × 10^k apart) inside [lo, hi].
func ticks(lo, hi float64) []float64 {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, v)
	}
	return out
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e7 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// line draws a 1-pixel line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	for _, o := range [][2]int{{0, 0}, {1, 0}, {0, 1}} {
		line(img, x0+o[0], y0+o[1], x1+o[0], y1+o[1], c)
	}
}

func dot(img *image.RGBA, x, y int, c color.RGBA) {
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			img.SetRGBA(x+dx, y+dy, c)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
