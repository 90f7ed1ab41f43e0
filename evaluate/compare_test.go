package evaluate

import (
	"math"
	"strings"
	"testing"
)

// result is a Result of per-image PSNR-Y and NIQE values (names a, b, …).
func result(dataset string, scale float64, psnr, niqe []float64) Result {
	r := Result{Dataset: dataset, Method: "m", Scale: scale, Images: len(psnr)}
	for i, p := range psnr {
		r.PerImage = append(r.PerImage, ImageScore{Name: string(rune('a' + i)), Scores: Scores{PSNRY: p, NIQE: niqe[i], SSIMY: p / 100}})
	}
	return r
}

// Golden values: differences 1, 2, 3 have mean 2 and standard error
// 1/√3; images without a NIQE (0: too small) leave the NIQE mean; only
// results of the same dataset, scale, crop and degradation pair, by
// image name.
func TestCompare(t *testing.T) {
	a := []Result{
		result("Set5", 4, []float64{30, 31, 32}, []float64{6, 0, 7}),
		result("Set5", 2, []float64{35}, []float64{5}),
		result("Set14", 4, []float64{27}, []float64{5}),
	}
	b := []Result{
		result("Set5", 4, []float64{31, 33, 35}, []float64{6.5, 4, 7.1}),
		result("Set5", 2, []float64{34.5}, []float64{5.2}),
	}
	cropped := result("Set14", 4, []float64{28}, []float64{5})
	cropped.Crop = 216
	b = append(b, cropped)
	cs, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("%d comparisons, want 2 (Set14 ×4 whole and cropped do not pair): %+v", len(cs), cs)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	c := cs[0]
	if c.Dataset != "Set5" || c.Scale != 4 || c.Images != 3 || c.PSNRY.N != 3 || !near(c.PSNRY.Mean, 2) || !near(c.PSNRY.StdErr, 1/math.Sqrt(3)) {
		t.Errorf("Set5 ×4 PSNR-Y %+v over %d images, want mean 2 ± 1/√3 over 3", c.PSNRY, c.Images)
	}
	if !near(c.SSIMY.Mean, 0.02) {
		t.Errorf("SSIM-Y mean %v, want 0.02", c.SSIMY.Mean)
	}
	// NIQE differences 0.5 and 0.1: standard deviation 0.2·√2, over √2.
	if c.NIQE.N != 2 || !near(c.NIQE.Mean, 0.3) || !near(c.NIQE.StdErr, 0.2) {
		t.Errorf("NIQE %+v, want 0.3 ± 0.2 over the 2 images that have it", c.NIQE)
	}
	if c := cs[1]; c.Scale != 2 || c.Images != 1 || !near(c.PSNRY.Mean, -0.5) || c.PSNRY.StdErr != 0 {
		t.Errorf("Set5 ×2 %+v, want −0.5 with no standard error from one image", c.PSNRY)
	}
	var sb strings.Builder
	if err := WriteComparisons(&sb, cs); err != nil || !strings.Contains(sb.String(), "+2.000 ± 0.577") {
		t.Errorf("table %q (%v), want +2.000 ± 0.577", sb.String(), err)
	}

	noImages := []Result{{Dataset: "Set5", Scale: 4}}
	if _, err := Compare(noImages, b); err == nil || !strings.Contains(err.Error(), "--per-image") {
		t.Errorf("results without per-image scores: %v", err)
	}
	other := result("Set5", 4, []float64{1}, []float64{1})
	other.PerImage[0].Name = "zzz"
	if _, err := Compare(a, []Result{other}); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Errorf("no shared image: %v", err)
	}
	if _, err := Compare(a, []Result{result("Urban100", 4, []float64{1}, []float64{1})}); err == nil {
		t.Error("no shared dataset: no error")
	}
}

// A side holding two results of the same dataset and settings (two
// folders of one name, a scale given twice) is refused rather than
// paired crosswise, and results that do not pair say what each side has.
func TestCompareRefusesAmbiguousAndUnmatched(t *testing.T) {
	one := result("Set", 2, []float64{30}, []float64{0})
	other := result("Set", 2, []float64{31}, []float64{0})
	other.PerImage[0].Name = "z"
	if _, err := Compare([]Result{one, other}, []Result{one}); err == nil || !strings.Contains(err.Error(), "A has two results for Set ×2") {
		t.Errorf("two results for Set ×2 in A: %v", err)
	}
	if _, err := Compare([]Result{one}, []Result{one, one}); err == nil || !strings.Contains(err.Error(), "B has two results for Set ×2") {
		t.Errorf("two results for Set ×2 in B: %v", err)
	}
	x3 := result("Set", 3, []float64{30}, []float64{0})
	x3.Degradation = "jpeg:75"
	_, err := Compare([]Result{one}, []Result{x3})
	if err == nil || !strings.Contains(err.Error(), "A has Set ×2; B has Set jpeg:75 ×3") {
		t.Errorf("nothing in common: %v, want what each side has", err)
	}
	if _, err := Compare([]Result{one}, nil); err == nil || !strings.Contains(err.Error(), "B has no results") {
		t.Errorf("B empty: %v", err)
	}
}
