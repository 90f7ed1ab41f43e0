package render

import (
	"context"
	"fmt"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Method turns a low-resolution image into one of the requested size.
type Method interface {
	// Name identifies the method in tables, JSON and errors.
	Name() string
	// Upscale returns lr rendered at w×h. It must not modify lr and should
	// honour ctx in long runs. Any size is allowed, including shrinking
	// and non-uniform aspect changes.
	Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error)
}

// Sampler is a Method that draws several different outputs for one input
// (a generative method).
type Sampler interface {
	Method
	UpscaleSamples(ctx context.Context, lr *imageio.Image, w, h, n int) ([]*imageio.Image, error)
}

// Streamer is a Method whose n outputs are rendered band by band on
// demand, so that an output too big to hold is never held (the diffusion
// model: latents are sampled once, rows decoded as Run asks for them).
type Streamer interface {
	Method
	Stream(ctx context.Context, lr *imageio.Image, w, h, n int) (Source, error)
}

// Kernel is a Method that is a plain resampling kernel. Given the scale,
// Prepare builds its weights for that scale, as MATLAB's imresize(img, s)
// does, rather than for the rounded size ratio.
type Kernel interface {
	Method
	Kernel() resample.Method
}

// Prepare asks m for n outputs of lr at w×h. scale is the factor the size
// came from (0 when a size was given). Only a Sampler or a Streamer draws
// more than one output. Whole images are checked (size, finite values).
func Prepare(ctx context.Context, m Method, lr *imageio.Image, w, h int, scale float64, n int) (Source, error) {
	if w < 1 || h < 1 || n < 1 {
		return nil, fmt.Errorf("render: %d output(s) of %dx%d", n, w, h)
	}
	if err := lr.Check(); err != nil {
		return nil, fmt.Errorf("render: input: %w", err)
	}
	if s, ok := m.(Streamer); ok {
		src, err := s.Stream(ctx, lr, w, h, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name(), err)
		}
		if sw, sh := src.Size(); sw != w || sh != h || src.Samples() != n {
			return nil, fmt.Errorf("%s gave %d output(s) of %dx%d, want %d of %dx%d", m.Name(), src.Samples(), sw, sh, n, w, h)
		}
		return src, nil
	}
	var imgs Images
	var err error
	switch s, ok := m.(Sampler); {
	case n > 1 && ok:
		imgs, err = s.UpscaleSamples(ctx, lr, w, h, n)
	case n > 1:
		return nil, fmt.Errorf("%s draws one output for an input, not %d samples", m.Name(), n)
	default:
		var img *imageio.Image
		if k, ok := m.(Kernel); ok && scale != 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			img, err = resample.Image(lr, w, h, resample.Options{Method: k.Kernel(), ScaleX: scale, ScaleY: scale})
		} else {
			img, err = m.Upscale(ctx, lr, w, h)
		}
		imgs = Images{img}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", m.Name(), err)
	}
	if len(imgs) != n {
		return nil, fmt.Errorf("%s returned %d images, want %d", m.Name(), len(imgs), n)
	}
	if err := imgs.check(); err != nil {
		return nil, fmt.Errorf("%s returned a bad image: %w", m.Name(), err)
	}
	if gw, gh := imgs.Size(); gw != w || gh != h {
		return nil, fmt.Errorf("%s returned %dx%d, want %dx%d", m.Name(), gw, gh, w, h)
	}
	return imgs, nil
}

// Upscale is the whole render in memory: n outputs of lr at w×h through
// m, each with the input's alpha (by the rules of Run). It is what the
// benchmark protocol, the server and the Go API call when the output fits
// in memory.
func Upscale(ctx context.Context, m Method, lr *imageio.Image, w, h int, scale float64, n int) ([]*imageio.Image, error) {
	src, err := Prepare(ctx, m, lr, w, h, scale, n)
	if err != nil {
		return nil, err
	}
	sinks := make([]*ImageSink, n)
	out := Outputs{Samples: make([]Sink, n)}
	for k := range sinks {
		sinks[k] = NewImageSink(w, h)
		out.Samples[k] = sinks[k]
	}
	if err := Run(ctx, src, lr, out, Options{Band: DefaultBand}); err != nil {
		return nil, err
	}
	imgs := make([]*imageio.Image, n)
	for k, s := range sinks {
		imgs[k] = &s.Image
		imgs[k].Gray = lr.Gray
	}
	return imgs, nil
}

// Generative reports whether m can draw several different outputs for one
// input: a Sampler, or a Streamer that is not Deterministic.
func Generative(m Method) bool {
	switch m.(type) {
	case Deterministic:
		return false
	case Sampler, Streamer:
		return true
	}
	return false
}

// Deterministic marks a Streamer that draws one output for an input: it
// renders in bands to bound memory, not to draw samples (the
// auto-encoder's round trip).
type Deterministic interface {
	Streamer
	Deterministic()
}
