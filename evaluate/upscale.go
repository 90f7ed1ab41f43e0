package evaluate

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// DefaultMaxOutputPixels is the largest output UpscaleFile produces unless
// told otherwise: 100 megapixels, about 1.2 GB as float32 RGB, which a
// typo such as ×400 instead of ×4 would otherwise exceed by orders of
// magnitude.
const DefaultMaxOutputPixels = 100_000_000

// TargetSize works out the output size for an input of inW×inH from either
// a scale (> 0, output ceil(n·scale) as resample.ScaledSize) or a size
// string "WxH", "Wx" or "xH" (a missing side keeps the aspect ratio), and
// refuses results above maxPixels (0 means DefaultMaxOutputPixels). It does
// all its checks in float64 first, so absurd requests are refused rather
// than overflowing.
func TargetSize(inW, inH int, scale float64, size string, maxPixels int64) (w, h int, err error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxOutputPixels
	}
	if inW <= 0 || inH <= 0 {
		return 0, 0, fmt.Errorf("input has empty size %dx%d", inW, inH)
	}
	var fw, fh float64
	switch {
	case scale != 0 && size != "":
		return 0, 0, fmt.Errorf("give a scale or a size, not both")
	case size != "":
		sw, sh, ok := strings.Cut(strings.ToLower(size), "x")
		if !ok {
			return 0, 0, fmt.Errorf("size %q: want WxH, Wx or xH", size)
		}
		parse := func(s string) (float64, error) {
			if s == "" {
				return 0, nil
			}
			v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("size %q: %q is not a positive whole number", size, s)
			}
			return float64(v), nil
		}
		if fw, err = parse(sw); err != nil {
			return 0, 0, err
		}
		if fh, err = parse(sh); err != nil {
			return 0, 0, err
		}
		switch {
		case fw == 0 && fh == 0:
			return 0, 0, fmt.Errorf("size %q: give at least one side", size)
		case fw == 0:
			fw = math.Max(1, math.Round(fh*float64(inW)/float64(inH)))
		case fh == 0:
			fh = math.Max(1, math.Round(fw*float64(inH)/float64(inW)))
		}
	default:
		if math.IsNaN(scale) || math.IsInf(scale, 0) || scale <= 0 {
			return 0, 0, fmt.Errorf("scale %v: want a finite number above 0", scale)
		}
		fw, fh = math.Ceil(float64(inW)*scale), math.Ceil(float64(inH)*scale)
	}
	if fw*fh > float64(maxPixels) {
		return 0, 0, fmt.Errorf("output %sx%s is %.4g pixels, over the limit of %d (raise it with --max-pixels)", side(fw), side(fh), fw*fh, maxPixels)
	}
	if scale != 0 {
		return resample.ScaledSize(inW, scale), resample.ScaledSize(inH, scale), nil
	}
	return int(fw), int(fh), nil
}

// side prints an output dimension readably even when it is astronomical.
func side(f float64) string {
	if f < 1e9 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', 3, 64)
}

// UpscaleRequest describes one file-to-file upscale.
type UpscaleRequest struct {
	// Input and Output are file paths; Output's extension picks the format.
	Input, Output string
	// Method names the Upscaler (see New).
	Method string
	// Options configures the method.
	Options Options
	// Scale is the scale factor; exactly one of Scale and Size is set (see
	// TargetSize).
	Scale float64
	// Size is the output size as "WxH", "Wx" or "xH".
	Size string
	// MaxPixels bounds the output; 0 means DefaultMaxOutputPixels.
	MaxPixels int64
	// Write tunes the output file.
	Write imageio.WriteOptions
}

// UpscaleFile reads req.Input, upscales it and writes req.Output,
// returning the output size. Everything that can be refused (bad scale or
// size, output too large, unknown output extension, unknown method) is
// refused before the input is decoded. If the method drops alpha, the
// input's alpha is resized with bicubic and carried over, so a transparent
// PNG stays transparent whatever the method.
func UpscaleFile(ctx context.Context, req UpscaleRequest) (w, h int, err error) {
	if _, err := imageio.FormatFor(req.Output); err != nil {
		return 0, 0, err
	}
	inW, inH, err := imageio.Config(req.Input)
	if err != nil {
		return 0, 0, err
	}
	if w, h, err = TargetSize(inW, inH, req.Scale, req.Size, req.MaxPixels); err != nil {
		return 0, 0, err
	}
	up, err := New(req.Method, req.Options)
	if err != nil {
		return 0, 0, err
	}
	lr, err := imageio.Read(req.Input)
	if err != nil {
		return 0, 0, err
	}
	var out *imageio.Image
	if r, ok := up.(Resampler); ok && req.Scale != 0 {
		// imresize(img, s) builds its kernel for s itself, not for the
		// rounded size ratio; keep that for the plain kernels.
		out, err = resample.Image(lr, w, h, resample.Options{Method: r.Method, ScaleX: req.Scale, ScaleY: req.Scale})
	} else {
		out, err = up.Upscale(ctx, lr, w, h)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", up.Name(), err)
	}
	if out.W != w || out.H != h {
		return 0, 0, fmt.Errorf("%s returned %dx%d, want %dx%d", up.Name(), out.W, out.H, w, h)
	}
	if lr.Alpha != nil && out.Alpha == nil {
		if out.Alpha, err = resample.ResizeAlpha(lr.Alpha, lr.W, lr.H, w, h); err != nil {
			return 0, 0, err
		}
	}
	if err := imageio.WriteWith(req.Output, out, req.Write); err != nil {
		return 0, 0, err
	}
	return w, h, nil
}
