package evaluate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
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
	rs := bicubicPerImage(t, dir)
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
// same order, with the same JSON tags. A field tagged `json:"-"` is no
// field of the JSON (Result.PSNRSSIMOnly is carried by nulls instead).
func TestJSONTypesMirror(t *testing.T) {
	for _, p := range [][2]any{{Scores{}, scoresJSON{}}, {ImageScore{}, imageScoreJSON{}}, {Result{}, resultJSON{}}} {
		a, b := reflect.TypeOf(p[0]), reflect.TypeOf(p[1])
		var fas []reflect.StructField
		for i := range a.NumField() {
			if a.Field(i).Tag.Get("json") != "-" {
				fas = append(fas, a.Field(i))
			}
		}
		if len(fas) != b.NumField() {
			t.Errorf("%v has %d JSON fields, %v %d", a, len(fas), b, b.NumField())
			continue
		}
		for i, fa := range fas {
			fb := b.Field(i)
			if fa.Name != fb.Name && !(fa.Name == "Scores" && fb.Name == "scoresJSON") || fa.Tag != fb.Tag {
				t.Errorf("field %d: %v.%s `%s`, %v.%s `%s`", i, a, fa.Name, fa.Tag, b, fb.Name, fb.Tag)
			}
		}
	}
}

// A score that was not measured never prints as 0: a result of PSNR and
// SSIM alone (the auto-encoder's round trip) has a dash for LR-PSNR and
// GMSD in the table, empty CSV cells and JSON nulls, and reads back as
// such; so do NIQE where no image was large enough and the samples' mean
// and spread of a single-sample row. A GMSD of 0 that was measured stays
// a 0.
func TestUnmeasuredScores(t *testing.T) {
	round := Result{Dataset: "Set5", Method: "reconstruct", Scale: 0.5, Images: 5, Samples: 1, PSNRSSIMOnly: true,
		Scores: Scores{PSNRY: 40, SSIMY: 0.99, PSNRRGB: 38}}
	exact := Result{Dataset: "Set5", Method: "nearest", Scale: 2, Images: 5, Samples: 1,
		Scores: Scores{PSNRY: 30, SSIMY: 0.9, PSNRRGB: 29, LRPSNR: 50}}
	sampled := Result{Dataset: "Set5", Method: "model", Scale: 4, Images: 5, Samples: 4, NIQEImages: 5,
		Scores: Scores{PSNRY: 28, SSIMY: 0.8, PSNRRGB: 27, LRPSNR: 45, GMSD: 0.1, NIQE: 5, MeanPSNRY: 29, MeanSSIMY: 0.82,
			MeanGMSD: 0.09, MeanNIQE: 6, DiversityStd: 3}}
	rs := []Result{round, exact, sampled}

	var tb strings.Builder
	if err := WriteTable(&tb, rs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	cols := func(row int) []string { return strings.Fields(lines[row]) }
	// dataset method scale images PSNR-Y SSIM-Y PSNR-RGB LR-PSNR GMSD NIQE samples mean… (5) seconds
	if c := cols(1); len(c) != 17 || c[7] != "–" || c[8] != "–" || c[9] != "–" || c[10] != "1" || c[11] != "–" || c[15] != "–" {
		t.Errorf("round-trip row %q: want dashes for LR-PSNR, GMSD, NIQE and the samples' columns", lines[1])
	}
	if c := cols(2); len(c) != 17 || c[7] != "50.00" || c[8] != "0.0000" {
		t.Errorf("nearest row %q: want its measured LR-PSNR and GMSD of 0", lines[2])
	}
	if c := cols(3); len(c) != 17 || c[11] != "29.000" || c[14] != "6.000" || c[15] != "3.00" {
		t.Errorf("sampled row %q: want the mean's scores and the spread", lines[3])
	}

	var cb bytes.Buffer
	if err := WriteCSV(&cb, rs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("CSV %q: %v", rows, err)
	}
	cell := func(row int, name string) string { return rows[row][slices.Index(rows[0], name)] }
	for _, name := range []string{"lr_psnr", "gmsd", "niqe", "mean_psnr_y", "mean_ssim_y", "mean_gmsd", "mean_niqe", "diversity_std"} {
		if v := cell(1, name); v != "" {
			t.Errorf("CSV round trip %s = %q, want an empty cell", name, v)
		}
	}
	if cell(2, "gmsd") != "0" || cell(2, "niqe") != "" || cell(2, "mean_psnr_y") != "" || cell(3, "mean_niqe") != "6" || cell(3, "diversity_std") != "3" {
		t.Errorf("CSV %q", rows)
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(js.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lr_psnr", "gmsd"} {
		if v, ok := raw[0][k]; !ok || v != nil {
			t.Errorf("JSON round trip %s = %v (present %v), want null", k, v, ok)
		}
	}
	if raw[1]["gmsd"] != 0.0 || raw[1]["samples"] != 1.0 {
		t.Errorf("JSON nearest %v: want a measured GMSD of 0", raw[1])
	}
	var back []Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rs) {
		t.Errorf("read back %+v, want %+v", back, rs)
	}
}
