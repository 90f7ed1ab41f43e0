package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
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
