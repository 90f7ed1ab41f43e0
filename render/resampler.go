package render

import (
	"context"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Resampler is the Method (and Kernel) of a plain resampling kernel. The
// zero value is MATLAB bicubic, the benchmark's baseline.
type Resampler struct {
	Method resample.Method // the kernel
}

// Kernel returns the kernel, so that Prepare can build its weights for a
// requested scale.
func (r Resampler) Kernel() resample.Method { return r.Method }

// Name returns the kernel's name, e.g. "bicubic".
func (r Resampler) Name() string { return r.Method.String() }

// Upscale resizes lr to w×h. The kernel scale is the size ratio, as
// imresize(lr, [h w]) uses; the benchmark's integer scales make that exactly
// the scale factor.
func (r Resampler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return resample.Image(lr, w, h, resample.Options{Method: r.Method})
}
