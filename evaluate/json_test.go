package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
)

// A flat image comes back from bicubic unchanged, so its PSNR is +Inf,
// and so is its dataset's mean: the JSON must still be written, stay
// valid JSON, and read back with the +Inf in place, and compare must
// leave that image out of the PSNR difference instead of turning it NaN.
func TestJSONNonFiniteScores(t *testing.T) {
	dir := t.TempDir()
	flat := imageio.New(40, 40)
	for i := range flat.Pix {
		flat.Pix[i] = 0.5
	}
	for name, m := range map[string]*imageio.Image{"flat.png": flat, "texture.png": texture(40, 36)} {
		if err := imageio.Write(filepath.Join(dir, name), m); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{2}, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(rs[0].PSNRY, 1) || !math.IsInf(rs[0].PerImage[0].PSNRY, 1) {
		t.Fatalf("PSNR-Y of a flat image %v, of the set %v: want +Inf", rs[0].PerImage[0].PSNRY, rs[0].PSNRY)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	if !json.Valid(js.Bytes()) {
		t.Fatalf("not valid JSON:\n%s", js.String())
	}
	// The scores keep their place: after the images, before the per-image array.
	if s := js.String(); !(strings.Index(s, `"images"`) < strings.Index(s, `"psnr_y"`) && strings.Index(s, `"psnr_y"`) < strings.Index(s, `"per_image"`)) {
		t.Errorf("fields out of order:\n%s", s)
	}
	var back []Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("reading the JSON back: %v\n%s", err, js.String())
	}
	// NaN is not equal to itself, so compare the JSON of both instead.
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := json.Marshal(rs)
	if !bytes.Equal(first, again) || !math.IsInf(back[0].PerImage[0].PSNRY, 1) || back[0].PerImage[1].PSNRY != rs[0].PerImage[1].PSNRY {
		t.Errorf("round trip changed the results:\n%s\n%s", first, again)
	}
	cs, err := Compare(back, back)
	if err != nil {
		t.Fatal(err)
	}
	if c := cs[0]; c.Images != 2 || c.PSNRY.N != 1 || c.PSNRY.Mean != 0 || c.SSIMY.N != 2 {
		t.Errorf("comparison %+v: want PSNR-Y over the 1 image with finite scores, SSIM-Y over 2", c)
	}
	if _, err := json.Marshal(cs); err != nil {
		t.Errorf("comparison JSON: %v", err)
	}
	var sb strings.Builder
	if err := WriteComparisons(&sb, cs); err != nil || !strings.Contains(sb.String(), "+0.000 ± 0.000 (1/2)") {
		t.Errorf("table %q (%v): want the PSNR-Y cell to say it covers 1 image of 2", sb.String(), err)
	}
	for _, bad := range []string{`[{"psnr_y": "high"}]`, `[{"per_image": [{"name": "a", "gmsd": "x"}]}]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("read %s", bad)
		}
	}
}

// The JSON types mirror theirs field by field: the same names, in the
// same order, with the same JSON tags.
func TestJSONTypesMirror(t *testing.T) {
	for _, p := range [][2]any{{Scores{}, scoresJSON{}}, {ImageScore{}, imageScoreJSON{}}, {Result{}, resultJSON{}}} {
		a, b := reflect.TypeOf(p[0]), reflect.TypeOf(p[1])
		if a.NumField() != b.NumField() {
			t.Errorf("%v has %d fields, %v %d", a, a.NumField(), b, b.NumField())
			continue
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name && !(fa.Name == "Scores" && fb.Name == "scoresJSON") || fa.Tag != fb.Tag {
				t.Errorf("field %d: %v.%s `%s`, %v.%s `%s`", i, a, fa.Name, fa.Tag, b, fb.Name, fb.Tag)
			}
		}
	}
}
