package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
)

// updatePinned rewrites the pinned outputs: run it only when a change of
// what the built-in models draw is intended, and say so in the commit.
var updatePinned = flag.Bool("update-pinned", false, "rewrite testdata/pinned from the current outputs")

// pinnedMinPSNR is how close an output must stay to its pinned copy. Both
// are 8-bit, so bit-identical floats give Inf; BLAS rounding (pure Go,
// OpenBLAS, AVX-512) flips the odd pixel by one level (about 70 dB); a
// changed rule (another alpha filter, another sampler step) costs far more.
const pinnedMinPSNR = 60

// pinnedInput is a 40×28 crop of the example photo (the eye, from x=100,
// y=30) with a horizontal alpha ramp, so the pinned outputs cover the
// model, the samples' mean and spread, and the alpha rule. The server's
// tests upscale the same file and compare with the same pinned outputs.
var pinnedInput = filepath.Join("testdata", "pinned", "eye.png")

// TestPinnedOutputs pins what the front ends draw with the built-in
// models: upscale ×4 with two samples, their mean and spread, ×7.5, a
// plain kernel with alpha, and generate at two sizes. A refactor must
// leave every file within pinnedMinPSNR of its copy in testdata/pinned.
func TestPinnedOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the pinned outputs in -short mode")
	}
	dir := t.TempDir()
	in := pinnedInput
	out := func(name string) string { return filepath.Join(dir, name) }
	runs := [][]string{
		{in, "--scale", "4", "-o", out("x4.png"), "--samples", "2", "--mean", out("x4-mean.png"), "--std", out("x4-std.png"), "--quiet"},
		{in, "--scale", "7.5", "-o", out("x7.5.png"), "--seed", "3", "--quiet"},
		{in, "--scale", "3", "--method", "bicubic", "-o", out("bicubic-x3.png"), "--quiet"},
	}
	for _, args := range runs {
		if err := runUpscale(args); err != nil {
			t.Fatalf("upscale %v: %v", args, err)
		}
	}
	if err := runGenerate([]string{"--n", "2", "--sizes", "32,48", "--sheet", "0", "--seed", "7", "-o", out("gen"), "--quiet"}); err != nil {
		t.Fatal(err)
	}
	files := []string{"x4-1.png", "x4-2.png", "x4-mean.png", "x4-std.png", "x7.5.png", "bicubic-x3.png",
		"gen/32/0000.png", "gen/32/0001.png", "gen/48/0000.png", "gen/48/0001.png"}
	pinned := filepath.Join("testdata", "pinned")
	for _, f := range files {
		got, err := imageio.Read(out(f))
		if err != nil {
			t.Fatal(err)
		}
		ref := filepath.Join(pinned, filepath.FromSlash(f))
		if *updatePinned {
			if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(out(f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ref, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := imageio.Read(ref)
		if err != nil {
			t.Fatalf("%v (rewrite with -update-pinned only if the change is intended)", err)
		}
		p, err := pinnedPSNR(got, want)
		t.Logf("%s: %.1f dB from its pinned copy", f, p)
		if err != nil || p < pinnedMinPSNR {
			t.Errorf("%s: %.2f dB from its pinned copy (%v), want >= %d", f, p, err, pinnedMinPSNR)
		}
	}
}

// pinnedPSNR compares colour and alpha of two images of the same size.
func pinnedPSNR(a, b *imageio.Image) (float64, error) {
	if a.W != b.W || a.H != b.H || a.Gray != b.Gray || (a.Alpha == nil) != (b.Alpha == nil) {
		return 0, fmt.Errorf("got %dx%d gray %v alpha %v, pinned %dx%d gray %v alpha %v",
			a.W, a.H, a.Gray, a.Alpha != nil, b.W, b.H, b.Gray, b.Alpha != nil)
	}
	p := metrics.PSNR(a.Pix, b.Pix, 1)
	if a.Alpha != nil {
		p = math.Min(p, metrics.PSNR(a.Alpha, b.Alpha, 1))
	}
	return p, nil
}
