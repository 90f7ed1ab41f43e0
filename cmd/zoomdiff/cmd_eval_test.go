package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/evaluate"
)

func TestEvalCommand(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeTestPNG(t, filepath.Join(a, "x.png"), 40, 30)
	writeTestPNG(t, filepath.Join(a, "y.png"), 33, 41)
	writeTestPNG(t, filepath.Join(b, "z.png"), 50, 50)
	out, err := captureStdout(t, func() error {
		return runEval([]string{"--json", "--data", a + "," + b, "--scales", "2,2.5", "--method", "bilinear"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var rs []map[string]any
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("stdout is not one JSON array: %v\n%s", err, out)
	}
	if len(rs) != 4 || rs[0]["method"] != "bilinear" || rs[0]["images"] != 2.0 || rs[3]["scale"] != 2.5 || rs[2]["images"] != 1.0 {
		t.Errorf("results %v", rs)
	}
	for _, k := range []string{"dataset", "method", "scale", "images", "psnr_y", "ssim_y", "psnr_rgb", "lr_psnr"} {
		if _, ok := rs[0][k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	table, err := captureStdout(t, func() error { return runEval([]string{"--data", a, "--scales", "3"}) })
	if err != nil || !strings.Contains(table, "PSNR-Y") || !strings.Contains(table, "×3") {
		t.Errorf("table (%v):\n%s", err, table)
	}
	for _, args := range [][]string{
		{"--data", a, "--scales", "1"},
		{"--data", a, "--scales", "2,x"},
		{"--data", a, "--scales", "NaN"},
		{"--data", filepath.Join(a, "missing")},
		{"--data", a, "--method", "nope"},
		{"--data", a, "extra"},
	} {
		if _, err := captureStdout(t, func() error { return runEval(args) }); err == nil {
			t.Errorf("eval %q succeeded", args)
		}
	}
}

// compare reads two eval --json --per-image outputs and prints their
// paired differences: bicubic against nearest on the same images is
// positive in PSNR-Y, and a file compared with itself differs by 0 ± 0.
// Files that are not eval's JSON, or lack per-image scores, are refused
// with the reason.
func TestCompareCommand(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	writeTestPNG(t, filepath.Join(data, "x.png"), 40, 30)
	writeTestPNG(t, filepath.Join(data, "y.png"), 36, 28)
	evalTo := func(name string, args ...string) string {
		out, err := captureStdout(t, func() error {
			return runEval(append([]string{"--json", "--data", data, "--scales", "2"}, args...))
		})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nearest := evalTo("nearest.json", "--method", "nearest", "--per-image")
	bicubic := evalTo("bicubic.json", "--method", "bicubic", "--per-image")
	whole := evalTo("whole.json", "--method", "bicubic")
	out, err := captureStdout(t, func() error { return runCompare([]string{"--json", nearest, bicubic}) })
	if err != nil {
		t.Fatal(err)
	}
	var cs []evaluate.Comparison
	if err := json.Unmarshal([]byte(out), &cs); err != nil || len(cs) != 1 || cs[0].Images != 2 || !(cs[0].PSNRY.Mean > 0) {
		t.Errorf("bicubic − nearest: %v %+v, want one row of 2 images, PSNR-Y up", err, cs)
	}
	table, err := captureStdout(t, func() error { return runCompare([]string{bicubic, bicubic}) })
	if err != nil || !strings.Contains(table, "+0.000 ± 0.000") {
		t.Errorf("a file against itself (%v):\n%s", err, table)
	}
	notJSON := filepath.Join(dir, "x.png")
	writeTestPNG(t, notJSON, 4, 4)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{bicubic}, "two files"},
		{[]string{bicubic, notJSON}, "x.png: not the JSON of zoomdiff eval"},
		{[]string{bicubic, whole}, "--per-image"},
		{[]string{bicubic, filepath.Join(dir, "none.json")}, "none.json"},
	} {
		_, err := captureStdout(t, func() error { return runCompare(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("compare %q: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// Results are told apart by dataset name and scale, so --data with two
// folders of one name (or one folder twice) and --scales with a scale
// twice are refused before any work, naming what clashes; so is an empty
// folder name.
func TestEvalRefusesAmbiguousResults(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "Set"), filepath.Join(t.TempDir(), "Set")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestPNG(t, filepath.Join(d, "x.png"), 40, 30)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", a + "," + b}, `would both be reported as dataset "Set"`},
		{[]string{"--data", a + "," + a}, `would both be reported as dataset "Set"`},
		{[]string{"--data", a, "--scales", "2,3,2.0"}, "2 is given twice"},
		{[]string{"--data", a + ","}, "an empty folder name"},
	} {
		_, err := captureStdout(t, func() error { return runEval(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval %q: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// The auto-encoder round trip prints CSV on --csv as the others do, and
// an image too small to score at a quarter of its size is refused by name.
// It measures PSNR and SSIM alone, from one output an image: its rows say
// 1 sample, and LR-PSNR and GMSD are shown as not measured (a dash, an
// empty CSV cell, a JSON null), never as a score of 0.
func TestEvalReconstruct(t *testing.T) {
	dir := t.TempDir()
	writeTestPNG(t, filepath.Join(dir, "x.png"), 64, 56)
	out, err := captureStdout(t, func() error { return runEval([]string{"--method", "reconstruct", "--data", dir, "--csv"}) })
	if err != nil || !strings.HasPrefix(out, "dataset,method,scale") || !strings.Contains(out, ",reconstruct,0.25,") {
		t.Errorf("reconstruct --csv (%v):\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("reconstruct --csv: %v\n%s", err, out)
	}
	cell := func(name string) string { return rows[1][slices.Index(rows[0], name)] }
	if cell("samples") != "1" || cell("lr_psnr") != "" || cell("gmsd") != "" || cell("psnr_y") == "" {
		t.Errorf("reconstruct --csv row %q: want 1 sample, a PSNR-Y, and LR-PSNR and GMSD empty", rows[1])
	}
	table, err := captureStdout(t, func() error { return runEval([]string{"--method", "reconstruct", "--data", dir}) })
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if c := strings.Fields(lines[len(lines)-1]); err != nil || len(c) != 11 || c[7] != "–" || c[8] != "–" {
		t.Errorf("reconstruct table (%v): want a dash for LR-PSNR and GMSD\n%s", err, table)
	}
	js, err := captureStdout(t, func() error { return runEval([]string{"--method", "reconstruct", "--data", dir, "--json"}) })
	var rs []map[string]any
	if err != nil || json.Unmarshal([]byte(js), &rs) != nil || len(rs) != 3 || rs[0]["samples"] != 1.0 || rs[0]["gmsd"] != nil || rs[0]["lr_psnr"] != nil {
		t.Errorf("reconstruct --json (%v): want 1 sample and null LR-PSNR and GMSD\n%s", err, js)
	}
	small := filepath.Join(dir, "small.png")
	writeTestPNG(t, small, 40, 32)
	_, err = captureStdout(t, func() error { return runEval([]string{"--method", "reconstruct", "--data", dir}) })
	if err == nil || !strings.Contains(err.Error(), small+": 40x32 decoded at ×0.25 leaves 8x6") {
		t.Errorf("reconstruct of a 40x32 image: %v", err)
	}
}

// Flags and combinations that would change nothing are refused, saying
// what works, before any image is read or model loaded.
func TestEvalRefusesIgnoredFlags(t *testing.T) {
	dir := t.TempDir()
	writeTestPNG(t, filepath.Join(dir, "x.png"), 64, 56) // large enough for every scale and the round trip
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--per-image"}, "--per-image adds each image's scores to the --json output"},
		{[]string{"--per-image", "--csv"}, "--per-image adds each image's scores to the --json output"},
		{[]string{"--json", "--csv"}, "give one of them"},
		{[]string{"--degrade", "jpeg:50,jpeg:60"}, "jpeg is given twice"},
		{[]string{"--method", "reconstruct", "--scales", "2"}, "--scales: not for --method reconstruct"},
		{[]string{"--method", "reconstruct", "--json", "--per-image", "--crop", "32"}, "--crop, --per-image: not for --method reconstruct"},
		{[]string{"--method", "reconstruct", "--degrade", "jpeg:60"}, "--degrade: not for --method reconstruct"},
		{[]string{"--method", "bicubic", "--seed", "3"}, "--seed: for learned methods; bicubic is a resampling kernel"},
		{[]string{"--method", "nearest", "--model", "x.safetensors", "--param", "steps=2"}, "--model, --param: for learned methods"},
		{[]string{"--method", "bilinear", "--condition", "builtin:cond"}, "--condition: for --method model or real, not bilinear"},
		{[]string{"--method", "model", "--seed", "1", "--param", "seed=2"}, "--seed 1 and --param seed=2: give one of them"},
	} {
		_, err := captureStdout(t, func() error { return runEval(append([]string{"--data", dir}, c.args...)) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval %q: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
