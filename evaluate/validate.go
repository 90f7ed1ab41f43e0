package evaluate

import (
	"context"
	"fmt"
	"time"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// ValResult is a quick validation of a method on benchmark crops, what
// every training run logs (ValidateCrops).
type ValResult struct {
	Scale        float64
	Crops        int
	PSNRY        float64 // mean PSNR-Y of the method
	BicubicPSNRY float64 // mean PSNR-Y of bicubic on the same inputs
	Seconds      float64 // wall time of the method's upscaling
}

// String formats the result for training logs.
func (r ValResult) String() string {
	return fmt.Sprintf("val x%g PSNR-Y %.2f dB (bicubic %.2f) on %d crops in %.1fs", r.Scale, r.PSNRY, r.BicubicPSNRY, r.Crops, r.Seconds)
}

// ValidateCrops scores up on the centre crop (side crop, or the largest
// that fits) of each image, degraded by scale as the benchmark degrades
// (Degrade), by PSNR-Y with the protocol's border shave, beside bicubic on
// the same crops; images smaller than the scale are skipped. Outputs are
// rounded to 8 bits first, as a saved file would be. Crops keep it
// affordable during training; the benchmark proper is Run.
func ValidateCrops(ctx context.Context, up render.Method, images []*imageio.Image, scale float64, crop int) (ValResult, error) {
	r := ValResult{Scale: scale}
	shave := ShaveFor(scale)
	var took time.Duration
	for i, img := range images {
		side := min(crop, img.W, img.H)
		if float64(side) < scale {
			continue // too small to degrade by scale
		}
		c, err := img.Crop((img.W-side)/2, (img.H-side)/2, side, side)
		if err != nil {
			return r, fmt.Errorf("validation image %d: %w", i, err)
		}
		hr, lr, err := Degrade(c, scale)
		if err != nil {
			return r, fmt.Errorf("validation image %d: %w", i, err)
		}
		start := time.Now()
		out, err := up.Upscale(ctx, lr, hr.W, hr.H)
		took += time.Since(start)
		if err != nil {
			return r, fmt.Errorf("validation image %d: %w", i, err)
		}
		bic, err := resample.Image(lr, hr.W, hr.H, resample.Options{Method: resample.Bicubic})
		if err != nil {
			return r, err
		}
		for _, m := range []*imageio.Image{out, bic} {
			m.Gray = hr.Gray
			m.Quantize8()
		}
		p, err := metrics.PSNRY(hr, out, shave)
		if err != nil {
			return r, fmt.Errorf("validation image %d: %w", i, err)
		}
		b, err := metrics.PSNRY(hr, bic, shave)
		if err != nil {
			return r, fmt.Errorf("validation image %d: %w", i, err)
		}
		r.PSNRY += p
		r.BicubicPSNRY += b
		r.Crops++
	}
	if r.Crops == 0 {
		return r, fmt.Errorf("no validation image is at least %g pixels on a side", scale)
	}
	r.PSNRY /= float64(r.Crops)
	r.BicubicPSNRY /= float64(r.Crops)
	r.Seconds = took.Seconds()
	return r, nil
}
