package metrics

import (
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset/datatest"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

// TestNIQEGolden checks the published value: NIQE of BasicSR's baboon test
// image on Y is 5.7296 in MATLAB's niqe and BasicSR's calculate_niqe.
func TestNIQEGolden(t *testing.T) {
	img, err := imageio.Read(datatest.Path(t, "metrics", "baboon_niqe_golden.png"))
	if err != nil {
		t.Skipf("no golden image: %v", err)
	}
	got, err := NIQE(img)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-5.7296) > 0.001 {
		t.Errorf("NIQE of the golden baboon %.5f, published 5.7296", got)
	}
}

// TestNIQE pins NIQE of the example photo enlarged ×2 (six blocks), so the
// metric is checked where the shared data is absent too (the value is this
// implementation's, which the golden test ties to the published one), and
// checks that blur and noise both raise it.
func TestNIQE(t *testing.T) {
	img, err := imageio.Read("../examples/chelsea.png")
	if err != nil {
		t.Fatal(err)
	}
	big, err := resample.Image(img, 2*img.W, 2*img.H, resample.Options{Method: resample.Bicubic})
	if err != nil {
		t.Fatal(err)
	}
	clean, err := NIQE(big)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(clean-niqeChelsea2) > 1e-4 {
		t.Errorf("NIQE of chelsea x2 %.8f, pinned %.8f", clean, niqeChelsea2)
	}
	small, _ := resample.Image(big, big.W/4, big.H/4, resample.Options{Method: resample.Bicubic})
	blurred, _ := resample.Image(small, big.W, big.H, resample.Options{Method: resample.Bicubic})
	noisy := big.Clone()
	for i := range noisy.Pix {
		noisy.Pix[i] = min(1, max(0, noisy.Pix[i]+float32(0.08*math.Sin(float64(i)*12.9898))))
	}
	for name, m := range map[string]*imageio.Image{"blurred": blurred, "noisy": noisy} {
		v, err := NIQE(m)
		if err != nil {
			t.Fatal(err)
		}
		if v <= clean+0.5 {
			t.Errorf("NIQE %s %.3f, clean %.3f: should be clearly worse", name, v, clean)
		}
	}
	if _, err := NIQE(img); err == nil {
		t.Error("NIQE of a 181x120 image (one block): no error")
	}
	if _, err := NIQE(flat(192, 192, 0)); err == nil {
		t.Error("NIQE of a flat image: no error")
	}
}

const niqeChelsea2 = 4.87867845
