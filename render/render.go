// Package render is the one path from an input image to its upscaled
// outputs. The CLI (single files and folders), the HTTP server, the
// benchmark protocol and the Go API all go through it, so they give the
// same pixels:
//
//  1. Prepare asks a Method for a Source: the output's rows on demand, one
//     or more samples. The diffusion model decodes rows from its sampled
//     latents as they are asked for; other methods hand over whole images.
//  2. Run takes the Source band by band and writes each sample, the
//     samples' mean and their spread (the uncertainty map) to Sinks:
//     streamed PNG, whole-image formats, or images in memory.
//
// Alpha follows one rule everywhere: a method that returns alpha (the
// plain kernels resize it with their own kernel) keeps it; for every other
// method the input's alpha is resized with resample.Alpha (MATLAB bicubic,
// clamped), streamed with the bands. A grey input gives grey outputs.
package render

import (
	"context"
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Source is one prepared upscale: Samples outputs of W×H, rendered on
// demand.
type Source interface {
	// Size is the output size.
	Size() (w, h int)
	// Samples is the number of outputs (1 for deterministic methods).
	Samples() int
	// Rows returns sample k's output rows [y0, y1) as interleaved RGB.
	// The caller must not modify them.
	Rows(k, y0, y1 int) ([]float32, error)
	// AlphaRows returns the method's own alpha for rows [y0, y1), or nil
	// when the method models colour only (then the input's alpha is
	// resized by the one rule).
	AlphaRows(y0, y1 int) []float32
}

// Images is a Source over whole images of one size, as non-streaming
// methods return them.
type Images []*imageio.Image

// Size returns the images' size.
func (m Images) Size() (w, h int) { return m[0].W, m[0].H }

// Samples returns the number of images.
func (m Images) Samples() int { return len(m) }

// Rows returns rows [y0, y1) of image k.
func (m Images) Rows(k, y0, y1 int) ([]float32, error) {
	w := m[k].W
	return m[k].Pix[y0*w*3 : y1*w*3], nil
}

// AlphaRows returns rows [y0, y1) of the first image's alpha, or nil.
func (m Images) AlphaRows(y0, y1 int) []float32 {
	if m[0].Alpha == nil {
		return nil
	}
	w := m[0].W
	return m[0].Alpha[y0*w : y1*w]
}

// check reports images that cannot form a Source.
func (m Images) check() error {
	if len(m) == 0 {
		return fmt.Errorf("no images")
	}
	for i, img := range m {
		if err := img.Check(); err != nil {
			return fmt.Errorf("image %d: %w", i, err)
		}
		if img.W != m[0].W || img.H != m[0].H {
			return fmt.Errorf("image %d is %dx%d, image 0 %dx%d", i, img.W, img.H, m[0].W, m[0].H)
		}
		if !imageio.Finite(img.Pix) || !imageio.Finite(img.Alpha) {
			return fmt.Errorf("image %d has NaN or infinite values", i)
		}
	}
	return nil
}

// Outputs are where Run writes: one sink per sample, and optionally the
// samples' mean and their spread.
type Outputs struct {
	// Samples has one sink per sample of the Source, in order.
	Samples []Sink
	// Mean, when not nil, takes the per-value mean of the samples.
	Mean Sink
	// Std, when not nil, takes the uncertainty map: the per-pixel sample
	// standard deviation averaged over R, G and B, times StdGain, as grey
	// RGB with the samples' alpha. It needs at least two samples.
	Std Sink
}

// StdGain maps the per-pixel standard deviation to the uncertainty map's
// grey level: a spread of 1/8 (32 of 255 levels) and above is white.
const StdGain = 8

// DefaultBand is the number of output rows Run renders at a time when
// Options.Band is not set by the caller: memory ∝ width × band.
const DefaultBand = 64

// Options tunes Run.
type Options struct {
	// Band is the number of output rows rendered at a time, at least 1;
	// DefaultBand is the front ends' default.
	Band int
	// Progress, when not nil, receives the rows done after each band.
	Progress func(done, total int)
}

// Run renders src band by band into out. in is the input the Source was
// prepared from: its alpha (resized by the one rule when the method has
// none) goes to every output, its greyness to the samples and the mean. Every sink is closed on success; on failure the caller
// discards them (the file sinks of WriteFiles leave no file behind).
func Run(ctx context.Context, src Source, in *imageio.Image, out Outputs, opt Options) error {
	w, h := src.Size()
	n := src.Samples()
	switch {
	case opt.Band < 1:
		return fmt.Errorf("render: band of %d rows; want at least 1", opt.Band)
	case len(out.Samples) != n:
		return fmt.Errorf("render: %d sample outputs for %d samples", len(out.Samples), n)
	case out.Std != nil && n < 2:
		return fmt.Errorf("the spread of samples needs at least 2 samples (have %d)", n)
	}
	var alpha *resample.Alpha
	if in.Alpha != nil && src.AlphaRows(0, 0) == nil {
		var err error
		if alpha, err = resample.NewAlpha(in.Alpha, in.W, in.H, w, h); err != nil {
			return fmt.Errorf("render: alpha: %w", err)
		}
	}
	rows := make([][]float32, n)
	for y0 := 0; y0 < h; y0 += opt.Band {
		if err := ctx.Err(); err != nil {
			return err
		}
		y1 := min(y0+opt.Band, h)
		for k := range n {
			r, err := src.Rows(k, y0, y1)
			if err != nil {
				return err
			}
			if len(r) != (y1-y0)*w*3 {
				return fmt.Errorf("render: sample %d gave %d values for rows %d-%d of width %d", k, len(r), y0, y1, w)
			}
			if in.Gray {
				r = grey(r)
			}
			rows[k] = r
		}
		a := src.AlphaRows(y0, y1)
		if a == nil && alpha != nil {
			a = alpha.Rows(y0, y1)
		}
		write := func(s Sink, pix, a []float32) error { return s.WriteRows(pix, a, y1-y0) }
		for k, s := range out.Samples {
			if err := write(s, rows[k], a); err != nil {
				return err
			}
		}
		if out.Mean != nil || out.Std != nil {
			mean, std := meanStd(rows)
			if out.Mean != nil {
				if err := write(out.Mean, mean, a); err != nil {
					return err
				}
			}
			if out.Std != nil {
				if err := write(out.Std, std, a); err != nil {
					return err
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(y1, h)
		}
	}
	for _, s := range out.all() {
		if err := s.Close(); err != nil {
			return err
		}
	}
	return nil
}

// all lists the sinks in use: the samples, then the mean and the std map.
func (o Outputs) all() []Sink {
	s := append([]Sink(nil), o.Samples...)
	for _, x := range []Sink{o.Mean, o.Std} {
		if x != nil {
			s = append(s, x)
		}
	}
	return s
}

// grey returns RGB rows with every pixel set to the mean of its three
// values (a copy: Source rows are read-only).
func grey(v []float32) []float32 {
	out := make([]float32, len(v))
	for p := 0; p < len(v); p += 3 {
		g := (v[p] + v[p+1] + v[p+2]) / 3
		out[p], out[p+1], out[p+2] = g, g, g
	}
	return out
}

// meanStd is the per-value mean of the samples' rows and the uncertainty
// map (see Outputs.Std).
func meanStd(rows [][]float32) (mean, std []float32) {
	n := float64(len(rows))
	mean = make([]float32, len(rows[0]))
	std = make([]float32, len(rows[0]))
	for p := 0; p < len(mean); p += 3 {
		var sd float64
		for c := p; c < p+3; c++ {
			var s, ss float64
			for _, r := range rows {
				s += float64(r[c])
				ss += float64(r[c]) * float64(r[c])
			}
			m := s / n
			mean[c] = float32(m)
			if n > 1 {
				sd += math.Sqrt(max(0, (ss-n*m*m)/(n-1)))
			}
		}
		g := float32(min(1, StdGain*sd/3))
		std[p], std[p+1], std[p+2] = g, g, g
	}
	return mean, std
}
