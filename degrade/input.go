package degrade

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Input is a fixed degradation of an LR image, the way test sets for
// real-photo SR are made from a benchmark's bicubic LR: Gaussian noise,
// then JPEG compression. Its zero value changes nothing.
type Input struct {
	// NoiseSigma is the standard deviation of colour Gaussian noise, in
	// 8-bit levels (0: none).
	NoiseSigma float64
	// JPEGQuality is the quality the LR is saved at (0: not compressed).
	JPEGQuality int
}

// ParseInput reads a comma-separated list of "noise:SIGMA" and
// "jpeg:QUALITY", e.g. "jpeg:60" or "noise:10,jpeg:80"; "" and "none" are
// the zero Input. An Input holds one of each kind, the noise always added
// before the compression whatever the order written, so a kind given twice
// ("jpeg:50,jpeg:60") is refused rather than all but its last ignored.
func ParseInput(s string) (Input, error) {
	var in Input
	if s == "" || s == "none" {
		return in, nil
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return Input{}, fmt.Errorf("degradation %q: want noise:SIGMA or jpeg:QUALITY", part)
		}
		switch k {
		case "noise":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0 && f <= 255) {
				return Input{}, fmt.Errorf("degradation %q: want a noise σ in (0, 255] levels", part)
			}
			in.NoiseSigma = f
		case "jpeg":
			q, err := strconv.Atoi(v)
			if err != nil || q < 1 || q > 100 {
				return Input{}, fmt.Errorf("degradation %q: want a JPEG quality in 1-100", part)
			}
			in.JPEGQuality = q
		default:
			return Input{}, fmt.Errorf("degradation %q: unknown kind %q (want noise or jpeg)", part, k)
		}
		if seen[k] {
			return Input{}, fmt.Errorf("degradation %q: %s is given twice; an input is degraded once by each kind", s, k)
		}
		seen[k] = true
	}
	return in, nil
}

// String is the form ParseInput reads; "" for the zero Input.
func (in Input) String() string {
	var parts []string
	if in.NoiseSigma > 0 {
		parts = append(parts, "noise:"+strconv.FormatFloat(in.NoiseSigma, 'g', -1, 64))
	}
	if in.JPEGQuality > 0 {
		parts = append(parts, "jpeg:"+strconv.Itoa(in.JPEGQuality))
	}
	return strings.Join(parts, ",")
}

// Apply degrades pix (h×w RGB in [0, 1]) in place. The noise is drawn from
// a generator seeded by name, so every method evaluated on the image sees
// the same noisy input. The result is clamped and rounded to 8 bits, as a
// file holds it.
func (in Input) Apply(pix []float32, w, h int, name string) error {
	if len(pix) != w*h*3 {
		return fmt.Errorf("degrade: %d values for a %dx%d RGB image", len(pix), w, h)
	}
	if in.NoiseSigma > 0 {
		f := fnv.New64a()
		f.Write([]byte(name))
		AddGaussian(rand.New(rand.NewPCG(f.Sum64(), 0x6e6f697365)), pix, in.NoiseSigma/255, false)
	}
	clampQuantize(pix)
	if in.JPEGQuality > 0 {
		if err := CompressJPEG(pix, w, h, in.JPEGQuality); err != nil {
			return err
		}
		clampQuantize(pix)
	}
	return nil
}
