package anim

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"io"
	"math"
	"slices"
	"time"
)

// maxGIFSide is the largest width or height a GIF can store.
const maxGIFSide = 65535

// maxPaletteSamples bounds the pixels the palette is built from: 65,536
// give each of 256 colours a few hundred pixels, and sorting and
// clustering every pixel of a long high-resolution animation would take
// seconds.
const maxPaletteSamples = 1 << 16

// WriteGIF writes frames as an animated GIF at path, atomically. Frames
// must share one size; alpha is composited over black, since GIF has only
// on/off transparency. Delays are rounded to GIF's 10 ms unit, and delays
// under 20 ms become 20 ms because browsers slow anything shorter to 100 ms.
func WriteGIF(path string, frames []image.Image, opt Options) error {
	return writeFile("gif", path, func(w io.Writer) error { return EncodeGIF(w, frames, opt) })
}

// EncodeGIF is WriteGIF to a writer.
func EncodeGIF(w io.Writer, frames []image.Image, opt Options) error {
	fs, delays, err := prepare(frames, opt)
	if err != nil {
		return err
	}
	size := fs[0].Rect.Size()
	if size.X > maxGIFSide || size.Y > maxGIFSide {
		return fmt.Errorf("frames of %dx%d exceed GIF's %d-pixel limit", size.X, size.Y, maxGIFSide)
	}
	for i, f := range fs {
		fs[i] = flatten(f)
	}
	pal := MedianCut(fs, 256)
	g := &gif.GIF{
		Image:     make([]*image.Paletted, len(fs)),
		Delay:     make([]int, len(fs)),
		LoopCount: gifLoops(opt.Plays),
		Config:    image.Config{ColorModel: pal, Width: size.X, Height: size.Y},
	}
	var drawer draw.Drawer = draw.FloydSteinberg
	if opt.NoDither {
		drawer = draw.Src
	}
	for i, f := range fs {
		p := image.NewPaletted(f.Rect, pal)
		drawer.Draw(p, p.Rect, f, image.Point{})
		g.Image[i] = p
		g.Delay[i] = gifDelay(delays[i])
	}
	return gif.EncodeAll(w, g)
}

// gifLoops converts a play count to the NETSCAPE loop count image/gif
// writes: 0 loops forever, −1 plays once, n plays n+1 times.
func gifLoops(plays int) int {
	switch plays {
	case 0:
		return 0
	case 1:
		return -1
	}
	return plays - 1
}

// gifDelay is d in hundredths of a second, at least 2 and at most 65535.
func gifDelay(d time.Duration) int {
	cs := int((d + 5*time.Millisecond) / (10 * time.Millisecond))
	return min(max(cs, 2), 65535)
}

// MedianCut builds a palette of at most n colours (1 to 256) for the
// opaque colours of frames: the colour cube holding the sampled pixels is
// split, box by box, at the median of the box's longest axis, always
// splitting the box whose pixel count times extent is largest, and each
// final box contributes its mean colour. Images with few distinct colours
// get exactly those colours.
func MedianCut(frames []*image.NRGBA, n int) color.Palette {
	n = min(max(n, 1), 256)
	total := 0
	for _, f := range frames {
		total += len(f.Pix) / 4
	}
	step := max(1, (total+maxPaletteSamples-1)/maxPaletteSamples)
	samples := make([][3]uint8, 0, min(total, maxPaletteSamples+len(frames)))
	k := 0
	for _, f := range frames {
		for i := 0; i < len(f.Pix); i += 4 {
			// A stride through all frames at once: the sample is spread
			// evenly over time and space.
			if k%step == 0 {
				samples = append(samples, [3]uint8{f.Pix[i], f.Pix[i+1], f.Pix[i+2]})
			}
			k++
		}
	}
	if len(samples) == 0 {
		return color.Palette{color.NRGBA{0, 0, 0, 255}}
	}
	boxes := []colorBox{newBox(samples)}
	for len(boxes) < n {
		best, score := -1, 0
		for i, b := range boxes {
			if s := len(b.px) * b.extent(); s > score {
				best, score = i, s
			}
		}
		if best < 0 {
			break // every box is a single colour
		}
		lo, hi := boxes[best].split()
		boxes[best] = lo
		boxes = append(boxes, hi)
	}
	centres := make([][3]float64, len(boxes))
	for i, b := range boxes {
		centres[i] = b.mean()
	}
	refine(centres, samples)
	pal := make(color.Palette, len(centres))
	for i, c := range centres {
		pal[i] = color.NRGBA{round8(c[0]), round8(c[1]), round8(c[2]), 255}
	}
	return pal
}

// refineIters is the number of k-means (Lloyd) iterations that refine
// the median-cut colours. Median cut alone leaves boxes that straddle two
// distinct colour clusters with a mean between them, and then no palette
// colour lies on the clusters' outer side, so dithering cannot reach
// their colours and leaves a visible cast.
const refineIters = 10

// refine moves each centre to the mean of the samples nearest to it,
// refineIters times.
func refine(centres [][3]float64, samples [][3]uint8) {
	sum := make([][3]float64, len(centres))
	count := make([]int, len(centres))
	for it := 0; it < refineIters; it++ {
		clear(sum)
		clear(count)
		for _, p := range samples {
			best, bestD := 0, math.Inf(1)
			pr, pg, pb := float64(p[0]), float64(p[1]), float64(p[2])
			for j, c := range centres {
				// Partial distances: most centres are ruled out by the
				// first channel or two.
				dr := pr - c[0]
				d := dr * dr
				if d >= bestD {
					continue
				}
				dg := pg - c[1]
				if d += dg * dg; d >= bestD {
					continue
				}
				db := pb - c[2]
				if d += db * db; d < bestD {
					best, bestD = j, d
				}
			}
			sum[best][0] += float64(p[0])
			sum[best][1] += float64(p[1])
			sum[best][2] += float64(p[2])
			count[best]++
		}
		for j := range centres {
			if count[j] > 0 { // an emptied centre keeps its colour
				n := float64(count[j])
				centres[j] = [3]float64{sum[j][0] / n, sum[j][1] / n, sum[j][2] / n}
			}
		}
	}
}

func round8(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }

// colorBox is a set of sampled colours and their bounding box.
type colorBox struct {
	px     [][3]uint8
	lo, hi [3]uint8
}

func newBox(px [][3]uint8) colorBox {
	b := colorBox{px: px, lo: [3]uint8{255, 255, 255}}
	for _, p := range px {
		for c := 0; c < 3; c++ {
			b.lo[c] = min(b.lo[c], p[c])
			b.hi[c] = max(b.hi[c], p[c])
		}
	}
	return b
}

// axis is the channel along which the box is longest.
func (b *colorBox) axis() int {
	a := 0
	for c := 1; c < 3; c++ {
		if int(b.hi[c])-int(b.lo[c]) > int(b.hi[a])-int(b.lo[a]) {
			a = c
		}
	}
	return a
}

// extent is the length of the box's longest side (0 for a single colour).
func (b *colorBox) extent() int {
	a := b.axis()
	return int(b.hi[a]) - int(b.lo[a])
}

// split cuts the box at the median of its longest axis. Both halves are
// non-empty because the box spans more than one value on that axis.
func (b *colorBox) split() (colorBox, colorBox) {
	a := b.axis()
	slices.SortFunc(b.px, func(p, q [3]uint8) int { return int(p[a]) - int(q[a]) })
	m := len(b.px) / 2
	// Keep equal values on one side, so the cut is a plane between two
	// distinct values rather than through a run of one colour.
	for m > 0 && b.px[m][a] == b.px[m-1][a] {
		m--
	}
	if m == 0 {
		m = len(b.px) / 2
		for m < len(b.px) && b.px[m][a] == b.px[m-1][a] {
			m++
		}
	}
	return newBox(b.px[:m]), newBox(b.px[m:])
}

func (b *colorBox) mean() [3]float64 {
	var s [3]float64
	for _, p := range b.px {
		s[0] += float64(p[0])
		s[1] += float64(p[1])
		s[2] += float64(p[2])
	}
	n := float64(len(b.px))
	return [3]float64{s[0] / n, s[1] / n, s[2] / n}
}
