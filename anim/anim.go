// Package anim writes frame sequences (a zoom, a sampler's denoising
// steps, a walk through latent space) as animated GIF and APNG files.
//
// GIF is understood everywhere but holds 256 colours, so frames share one
// median-cut palette built from all of them (a per-frame palette would
// make flat areas flicker as their colour jumps between frames) and are
// Floyd–Steinberg dithered. APNG keeps full 8-bit colour and alpha; its
// first frame is an ordinary PNG image, so viewers without animation
// support still show something sensible.
//
// Files are written atomically: a failed or interrupted write leaves any
// existing file untouched.
package anim

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
	"time"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// Options controls timing and looping.
type Options struct {
	// Delay is how long each frame shows (0: 100 ms).
	Delay time.Duration
	// Delays, when set, gives each frame its own delay (one per frame) and
	// overrides Delay.
	Delays []time.Duration
	// Plays is how many times the animation runs: 0 loops forever.
	Plays int
	// NoDither maps GIF pixels to the nearest palette colour instead of
	// diffusing the error, e.g. for flat-colour diagrams.
	NoDither bool
}

// defaultDelay is Options.Delay when unset.
const defaultDelay = 100 * time.Millisecond

// delays resolves the per-frame delays and validates the options.
func (o Options) delays(n int) ([]time.Duration, error) {
	if o.Plays < 0 {
		return nil, fmt.Errorf("negative play count %d", o.Plays)
	}
	if o.Delays != nil {
		if len(o.Delays) != n {
			return nil, fmt.Errorf("%d delays for %d frames", len(o.Delays), n)
		}
		for i, d := range o.Delays {
			if d < 0 {
				return nil, fmt.Errorf("frame %d: negative delay %v", i, d)
			}
		}
		return o.Delays, nil
	}
	d := o.Delay
	if d < 0 {
		return nil, fmt.Errorf("negative delay %v", d)
	}
	if d == 0 {
		d = defaultDelay
	}
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out, nil
}

// writeFile writes an animation at path atomically through encode, errors
// naming the format and the file.
func writeFile(format, path string, encode func(w io.Writer) error) error {
	if err := atomicfile.Write(path, encode); err != nil {
		return fmt.Errorf("%s %s: %w", format, path, err)
	}
	return nil
}

// prepare is what both encoders start with: the options' per-frame delays
// and the frames as same-sized NRGBA (see toNRGBA).
func prepare(frames []image.Image, opt Options) ([]*image.NRGBA, []time.Duration, error) {
	delays, err := opt.delays(len(frames))
	if err != nil {
		return nil, nil, err
	}
	fs, err := toNRGBA(frames)
	if err != nil {
		return nil, nil, err
	}
	return fs, delays, nil
}

// Frames converts engine images to frames for the writers.
func Frames(imgs []*imageio.Image) ([]image.Image, error) {
	out := make([]image.Image, len(imgs))
	for i, m := range imgs {
		if err := m.Check(); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		out[i] = m.ToImage(false)
	}
	return out, nil
}

// toNRGBA returns the frames as 8-bit non-premultiplied RGBA with origin
// (0, 0), checking that they are all the same size.
func toNRGBA(frames []image.Image) ([]*image.NRGBA, error) {
	if len(frames) == 0 {
		return nil, errors.New("no frames")
	}
	out := make([]*image.NRGBA, len(frames))
	var size image.Point
	for i, f := range frames {
		if f == nil {
			return nil, fmt.Errorf("frame %d is nil", i)
		}
		b := f.Bounds()
		if i == 0 {
			size = b.Size()
			if size.X <= 0 || size.Y <= 0 {
				return nil, fmt.Errorf("frame 0 is empty (%dx%d)", size.X, size.Y)
			}
		} else if b.Size() != size {
			return nil, fmt.Errorf("frame %d is %dx%d, frame 0 %dx%d: all frames must be the same size", i, b.Dx(), b.Dy(), size.X, size.Y)
		}
		if n, ok := f.(*image.NRGBA); ok && b.Min == (image.Point{}) {
			out[i] = n
			continue
		}
		n := image.NewNRGBA(image.Rectangle{Max: size})
		draw.Draw(n, n.Bounds(), f, b.Min, draw.Src)
		out[i] = n
	}
	return out, nil
}

// opaque reports whether every pixel of every frame has full alpha.
func opaque(frames []*image.NRGBA) bool {
	for _, f := range frames {
		for i := 3; i < len(f.Pix); i += 4 {
			if f.Pix[i] != 0xff {
				return false
			}
		}
	}
	return true
}

// flatten composites a frame over black, for GIF, which has no partial
// transparency. Opaque pixels are unchanged.
func flatten(f *image.NRGBA) *image.NRGBA {
	out := image.NewNRGBA(f.Rect)
	for i := 0; i < len(f.Pix); i += 4 {
		a := uint32(f.Pix[i+3])
		for c := 0; c < 3; c++ {
			out.Pix[i+c] = uint8((uint32(f.Pix[i+c])*a + 127) / 255)
		}
		out.Pix[i+3] = 0xff
	}
	return out
}
