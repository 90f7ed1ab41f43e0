package evaluate

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset/datatest"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/resample"
)

// TestProtocolVariants checks the sensitivity figures quoted in RESULTS.md:
// how the bicubic scores move under the protocol choices that papers
// differ on. The SRCNN-style Y-only pipeline reproduces the published
// bicubic figures; scoring grey through BT.601 raises Set14 by about
// 0.09 dB; rounding Y lowers PSNR by at most 0.034 dB; MATLAB's uint8
// rounding between passes moves it by under 0.01 dB. -v prints the table:
//
//	go test ./evaluate -run ProtocolVariants -v
func TestProtocolVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the protocol variants in -short mode")
	}
	data := datatest.Path(t)
	// The published bicubic figures (PSNR-Y, SSIM-Y), ×2, ×3, ×4.
	published := map[string][3][2]float64{
		"Set5":  {{33.66, 0.9299}, {30.39, 0.8682}, {28.42, 0.8104}},
		"Set14": {{30.24, 0.8688}, {27.55, 0.7742}, {26.00, 0.7027}},
	}
	for _, set := range []string{"Set5", "Set14"} {
		d, err := LoadDataset(filepath.Join(data, "val", set))
		if err != nil {
			t.Skipf("skipping: %v", err)
		}
		for si, s := range []float64{2, 3, 4} {
			var acc [numVariants][2]float64
			for _, f := range d.Files {
				hr, err := imageio.Read(f)
				if err != nil {
					t.Fatal(err)
				}
				for v, ps := range variantScores(hr, s) {
					acc[v][0] += ps[0]
					acc[v][1] += ps[1]
				}
			}
			n := float64(len(d.Files))
			var psnr [numVariants]float64
			for v, name := range variantNames {
				psnr[v] = acc[v][0] / n
				t.Logf("%-5s ×%v  %-28s PSNR-Y %.4f  SSIM-Y %.5f", set, s, name, psnr[v], acc[v][1]/n)
			}
			pub := published[set][si]
			// Set5 to the published last digit; Set14 within 0.01 dB.
			tolP, tolS := 0.005, 0.00005
			if set == "Set14" {
				tolP, tolS = 0.01, 0.001
			}
			if math.Abs(psnr[srcnn]-pub[0]) > tolP || math.Abs(acc[srcnn][1]/n-pub[1]) > tolS {
				t.Errorf("%s ×%v: the Y-only pipeline gives %.4f / %.5f, published %.2f / %.4f", set, s, psnr[srcnn], acc[srcnn][1]/n, pub[0], pub[1])
			}
			if d := psnr[yRounded] - psnr[ours]; d > 0 || d < -0.034 {
				t.Errorf("%s ×%v: rounding Y moves PSNR-Y by %+.4f dB, want −0.034 to 0", set, s, d)
			}
			if d := psnr[uint8Passes] - psnr[ours]; math.Abs(d) >= 0.01 {
				t.Errorf("%s ×%v: MATLAB's uint8 passes move PSNR-Y by %+.4f dB, want under 0.01", set, s, d)
			}
			// Set14 has a grey image (bridge); Set5 has none.
			want := map[string][2]float64{"Set5": {0, 0}, "Set14": {0.08, 0.11}}[set]
			if d := psnr[bt601] - psnr[ours]; d < want[0]-1e-9 || d > want[1]+1e-9 {
				t.Errorf("%s ×%v: grey through BT.601 moves PSNR-Y by %+.4f dB, want %v", set, s, d, want)
			}
		}
	}
}

// The protocol variants, in the order variantScores returns them.
const ours, bt601, yRounded, uint8Passes, srcnn, numVariants = 0, 1, 2, 3, 4, 5

var variantNames = [numVariants]string{"zoomdiff (RGB, Y unrounded)", "grey via BT.601", "Y rounded (uint8 rgb2ycbcr)", "MATLAB uint8 passes", "SRCNN Y-only"}

// variantScores is bicubic ×s of hr scored (PSNR-Y, SSIM-Y) under each
// protocol variant.
func variantScores(hr *imageio.Image, s float64) [numVariants][2]float64 {
	crop, lr, _ := Degrade(hr, s)
	sr, _ := resample.Image(lr, crop.W, crop.H, resample.Options{})
	sr.Quantize8()
	w, h, sh := crop.W, crop.H, ShaveFor(s)
	var out [numVariants][2]float64
	out[ours] = shavedScores(metrics.Y(crop), metrics.Y(sr), w, h, sh)
	out[bt601] = shavedScores(metrics.YAs(crop, false), metrics.YAs(sr, false), w, h, sh)
	out[yRounded] = shavedScores(roundAll(metrics.Y(crop)), roundAll(metrics.Y(sr)), w, h, sh)
	m := matlabUint8(matlabUint8(crop, lr.W, lr.H, 1/s), w, h, s)
	out[uint8Passes] = shavedScores(metrics.Y(crop), metrics.Y(m), w, h, sh)
	// SRCNN: Y of the uint8 image (rounded), bicubic on Y in floating
	// point without rounding the LR, result rounded.
	yg := roundAll(metrics.Y(crop))
	y01 := make([]float32, len(yg))
	for i, v := range yg {
		y01[i] = v / 255
	}
	l, _ := resample.Resize(y01, w, h, 1, lr.W, lr.H, resample.Options{ScaleX: 1 / s, ScaleY: 1 / s})
	b, _ := resample.Resize(l, lr.W, lr.H, 1, w, h, resample.Options{ScaleX: s, ScaleY: s})
	for i, v := range b {
		b[i] = float32(imageio.To8(v))
	}
	out[srcnn] = shavedScores(yg, b, w, h, sh)
	return out
}

// shavedScores is PSNR and SSIM (peak 255) of two w×h Y planes with shave
// pixels cut from each border.
func shavedScores(ya, yb []float32, w, h, shave int) [2]float64 {
	a, sw, sh, _ := metrics.Shave(ya, w, h, 1, shave)
	b, _, _, _ := metrics.Shave(yb, w, h, 1, shave)
	s, _ := metrics.SSIM(a, b, sw, sh, 255)
	return [2]float64{metrics.PSNR(a, b, 255), s}
}

// roundAll rounds every value to the nearest integer.
func roundAll(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(math.Floor(float64(x) + 0.5))
	}
	return out
}

// matlabUint8 resizes as imresize does for uint8 input: rows then columns,
// rounding to uint8 after each pass.
func matlabUint8(m *imageio.Image, w, h int, s float64) *imageio.Image {
	to8 := func(v []float32) {
		for i, x := range v {
			v[i] = float32(imageio.To8(x)) / 255
		}
	}
	a, _ := resample.Resize(m.Pix, m.W, m.H, 3, m.W, h, resample.Options{ScaleX: 1, ScaleY: s})
	to8(a)
	b, _ := resample.Resize(a, m.W, h, 3, w, h, resample.Options{ScaleX: s, ScaleY: 1})
	to8(b)
	return &imageio.Image{W: w, H: h, Pix: b, Gray: m.Gray}
}
