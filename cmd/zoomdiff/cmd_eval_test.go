package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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
