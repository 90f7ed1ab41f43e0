package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// strip and plot write PNG only: another extension is refused rather
// than given PNG bytes under its name.
func TestStripAndPlotWantPNG(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "in.png")
	writeTestPNG(t, img, 16, 12)
	csv := filepath.Join(dir, "val.csv")
	if err := os.WriteFile(csv, []byte("step,psnr\n1,20\n2,21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".jpg", ".gif", ""} {
		out := filepath.Join(dir, "chart"+ext)
		if err := runStrip([]string{"-o", out, img}); err == nil || !strings.Contains(err.Error(), "name it .png") {
			t.Errorf("strip -o %s: %v, want it refused", out, err)
		}
		if err := runPlot([]string{"-o", out, csv}); err == nil || !strings.Contains(err.Error(), "name it .png") {
			t.Errorf("plot -o %s: %v, want it refused", out, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a refused -o %s was written", out)
		}
	}
	if err := runStrip([]string{"-o", filepath.Join(dir, "s.PNG"), img}); err != nil {
		t.Fatal(err)
	}
	if info, err := imageio.Probe(filepath.Join(dir, "s.PNG")); err != nil || info.Format != "png" {
		t.Errorf("strip -o s.PNG wrote %+v (%v), want a PNG", info, err)
	}
	if err := runPlot([]string{"-o", filepath.Join(dir, "c.png"), csv}); err != nil {
		t.Fatal(err)
	}
}

// plot --xscale takes the fraction its help gives as an example.
func TestPlotXScaleFraction(t *testing.T) {
	var f factorFlag
	if err := f.Set("1/3600"); err != nil || math.Abs(f.v-1.0/3600) > 1e-18 {
		t.Errorf("1/3600: %v %v", f.v, err)
	}
	if err := f.Set("0.5"); err != nil || f.v != 0.5 {
		t.Errorf("0.5: %v %v", f.v, err)
	}
	for _, bad := range []string{"1/0", "x", "1/", "NaN", "0"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
