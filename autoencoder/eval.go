package autoencoder

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/resample"
)

// ReconScales are the decode sizes of the reconstruction check, as
// fractions of the input size: the input's own size, half and a quarter
// (the latent's size at f = 4).
var ReconScales = []float64{1, 0.5, 0.25}

// ReconResult is the mean reconstruction quality at one decode scale.
type ReconResult struct {
	Scale   float64 `json:"scale"`
	Images  int     `json:"images"`
	PSNRY   float64 `json:"psnr_y"`
	SSIMY   float64 `json:"ssim_y"`
	PSNRRGB float64 `json:"psnr_rgb"`
}

// EvalReconstruction encodes each image and decodes it at every scale in
// scales, comparing with the image itself at scale 1 and with its bicubic
// (MATLAB imresize) down-sample otherwise. A border of 4·scale pixels is
// shaved, like the ×4 benchmark protocol at the input size.
func (m *Model) EvalReconstruction(images []*imageio.Image, scales []float64) ([]ReconResult, error) {
	res := make([]ReconResult, len(scales))
	for i, s := range scales {
		res[i].Scale = s
	}
	for _, img := range images {
		d, err := m.EncodeImage(img)
		if err != nil {
			return nil, err
		}
		for i, s := range scales {
			w, h := resample.ScaledSize(img.W, s), resample.ScaledSize(img.H, s)
			ref := img
			if s != 1 {
				ref, err = resample.Image(img, w, h, resample.Options{Method: resample.Bicubic, ScaleX: s, ScaleY: s})
				if err != nil {
					return nil, err
				}
			}
			out := d.RenderImage(w, h)
			out.Gray = img.Gray
			out.Quantize8() // measured as the saved 8-bit file would be
			shave := ReconShave(s)
			py, err := metrics.PSNRY(ref, out, shave)
			if err != nil {
				return nil, fmt.Errorf("reconstruction at scale %g: %w", s, err)
			}
			sy, err := metrics.SSIMY(ref, out, shave)
			if err != nil {
				return nil, err
			}
			pr, err := metrics.PSNRRGB(ref, out, shave)
			if err != nil {
				return nil, err
			}
			res[i].PSNRY += py
			res[i].SSIMY += sy
			res[i].PSNRRGB += pr
			res[i].Images++
		}
	}
	for i := range res {
		if n := float64(res[i].Images); n > 0 {
			res[i].PSNRY /= n
			res[i].SSIMY /= n
			res[i].PSNRRGB /= n
		}
	}
	return res, nil
}

// ReconShave is the border shaved at decode scale s: 4 pixels at the input
// size (as the ×4 benchmark does), proportionally fewer below, at least 1.
func ReconShave(s float64) int { return max(int(4*s+0.5), 1) }
