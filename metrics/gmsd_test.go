package metrics

import (
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

type gmsdPair struct {
	name     string
	ref, out []float32
	w, h     int
}

// gmsdPairs are the golden cases: the example photo's luma against its
// bicubic ÷4 ×4 round trip, against a deterministic noise of about 10
// grey levels, and an odd-sized crop of the round trip (the zero-padded
// last row and column of the 2×2 average).
func gmsdPairs(t *testing.T) []gmsdPair {
	t.Helper()
	img, err := imageio.Read("../examples/chelsea.png")
	if err != nil {
		t.Fatal(err)
	}
	small, err := resample.Image(img, img.W/4, img.H/4, resample.Options{Method: resample.Bicubic})
	if err != nil {
		t.Fatal(err)
	}
	back, err := resample.Image(small, img.W, img.H, resample.Options{Method: resample.Bicubic})
	if err != nil {
		t.Fatal(err)
	}
	ref, blur := Y(img), Y(back)
	noisy := make([]float32, len(ref))
	for i, v := range ref {
		noisy[i] = v + float32(10*math.Sin(float64(i)*12.9898))
	}
	const cw, ch, cx, cy = 101, 77, 40, 20
	crop := func(p []float32) []float32 {
		c := make([]float32, 0, cw*ch)
		for y := cy; y < cy+ch; y++ {
			c = append(c, p[y*img.W+cx:y*img.W+cx+cw]...)
		}
		return c
	}
	return []gmsdPair{
		{"bicubic", ref, blur, img.W, img.H},
		{"noise", ref, noisy, img.W, img.H},
		{"oddcrop", crop(ref), crop(blur), cw, ch},
	}
}

// TestGMSDGolden checks GMSD against the authors' GMSD.m run in GNU Octave
// 7.3 on the same planes (written out at full float32 precision), with
// fspecial('average', 2) spelled ones(2)/4 and std2(A) as std(A(:)), which
// is what they are; Octave gave 0.0997229898, 0.0393206402 and
// 0.1170479088.
func TestGMSDGolden(t *testing.T) {
	want := map[string]float64{"bicubic": 0.0997229898, "noise": 0.0393206402, "oddcrop": 0.1170479088}
	for _, p := range gmsdPairs(t) {
		got, err := GMSDPlane(p.ref, p.out, p.w, p.h)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want[p.name]) > 1e-8 {
			t.Errorf("%s: GMSD %.10f, the authors' code %.10f", p.name, got, want[p.name])
		}
		if back, _ := GMSDPlane(p.out, p.ref, p.w, p.h); math.Abs(back-got) > 1e-12 {
			t.Errorf("%s: not symmetric: %v against %v", p.name, back, got)
		}
		if same, _ := GMSDPlane(p.ref, p.ref, p.w, p.h); same != 0 {
			t.Errorf("%s: GMSD of an image with itself %v", p.name, same)
		}
	}
}

func TestGMSDImages(t *testing.T) {
	img, err := imageio.Read("../examples/chelsea.png")
	if err != nil {
		t.Fatal(err)
	}
	down, _ := resample.Image(img, img.W/2, img.H/2, resample.Options{Method: resample.Bicubic})
	mild, _ := resample.Image(down, img.W, img.H, resample.Options{Method: resample.Bicubic})
	down, _ = resample.Image(img, img.W/6, img.H/6, resample.Options{Method: resample.Bicubic})
	strong, _ := resample.Image(down, img.W, img.H, resample.Options{Method: resample.Bicubic})
	a, err := GMSD(img, mild, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GMSD(img, strong, 4)
	if !(0 < a && a < b) {
		t.Errorf("GMSD of a ÷2 round trip %v should be above 0 and below a ÷6 one %v", a, b)
	}
	if _, err := GMSD(img, down, 0); err == nil {
		t.Error("GMSD of images of different sizes: no error")
	}
	if _, err := GMSDPlane(make([]float32, 3), make([]float32, 3), 3, 1); err == nil {
		t.Error("GMSD of a 3x1 plane: no error")
	}
}
