package render

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/resample"
)

// DefaultMaxOutputPixels is the largest output held whole in memory
// unless told otherwise: 100 megapixels, about 1.2 GB as float32 RGB,
// which a typo such as ×400 instead of ×4 would otherwise exceed by orders
// of magnitude.
const DefaultMaxOutputPixels = 100_000_000

// DefaultMaxStreamedPixels is the largest streamed output (a Streamer's,
// rendered band by band) unless told otherwise. Memory does not grow with
// it (a 64×64 input at ×200, 164 MP, peaks at about 300 MiB): it only
// guards against typos, ×4000 instead of ×4 taking days.
const DefaultMaxStreamedPixels = 1_000_000_000

// ErrOverLimit is returned (wrapped) by TargetSize for an output with more
// pixels than its limit, so that front ends can say how to raise it
// without saying so of every other mistake.
var ErrOverLimit = errors.New("over the limit")

// ParseSize reads an output size "WxH", "Wx" or "xH": a missing side is
// returned as 0, to be derived from the aspect ratio (see TargetSize).
// Each side is a whole number from 1 to 2³¹−1.
func ParseSize(s string) (w, h int, err error) {
	sw, sh, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, fmt.Errorf("size %q: want WxH, Wx or xH", s)
	}
	side := func(v string) (int, error) {
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > math.MaxInt32 {
			return 0, fmt.Errorf("size %q: %q is not a whole number from 1 to %d", s, v, math.MaxInt32)
		}
		return int(n), nil
	}
	if w, err = side(sw); err != nil {
		return 0, 0, err
	}
	if h, err = side(sh); err != nil {
		return 0, 0, err
	}
	if w == 0 && h == 0 {
		return 0, 0, fmt.Errorf("size %q: give at least one side", s)
	}
	return w, h, nil
}

// TargetSize works out the output size for an input of inW×inH from either
// a scale (> 0, output ceil(n·scale) as resample.ScaledSize) or a size
// (see ParseSize; a missing side keeps the aspect ratio), and refuses
// results above maxPixels (at least 1). It does its checks in float64
// first, so absurd requests are refused rather than overflowing.
func TargetSize(inW, inH int, scale float64, size string, maxPixels int64) (w, h int, err error) {
	if inW <= 0 || inH <= 0 {
		return 0, 0, fmt.Errorf("input has empty size %dx%d", inW, inH)
	}
	if maxPixels < 1 {
		return 0, 0, fmt.Errorf("output limit of %d pixels: want at least 1", maxPixels)
	}
	var fw, fh float64
	switch {
	case scale != 0 && size != "":
		return 0, 0, fmt.Errorf("give a scale or a size, not both")
	case size != "":
		iw, ih, err := ParseSize(size)
		if err != nil {
			return 0, 0, err
		}
		fw, fh = float64(iw), float64(ih)
		switch {
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
		return 0, 0, fmt.Errorf("output %sx%s is %.4g pixels, %w of %d", side(fw), side(fh), fw*fh, ErrOverLimit, maxPixels)
	}
	// A side derived from the aspect ratio or a scale can pass a raised
	// pixel limit and still be longer than a PNG or TIFF row can be (or
	// than an int holds on 32-bit platforms).
	if fw > math.MaxInt32 || fh > math.MaxInt32 {
		return 0, 0, fmt.Errorf("output %sx%s: a side is over %d pixels, more than PNG or TIFF can store", side(fw), side(fh), math.MaxInt32)
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
