package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

func writeTestPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	m := imageio.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(i%251) / 255
	}
	if err := imageio.Write(path, m); err != nil {
		t.Fatal(err)
	}
}

func TestUpscaleCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	writeTestPNG(t, in, 20, 10)
	out := filepath.Join(dir, "out.png")
	// Flags after the positional argument must work.
	if err := runUpscale([]string{in, "--scale", "1.5", "-o", out, "--method=lanczos3"}); err != nil {
		t.Fatal(err)
	}
	if w, h, err := imageio.Config(out); err != nil || w != 30 || h != 15 {
		t.Errorf("×1.5 of 20×10 wrote %dx%d (%v), want 30x15", w, h, err)
	}
	jpg := filepath.Join(dir, "out.jpg")
	if err := runUpscale([]string{"--size", "7x", in, "-o", jpg}); err != nil {
		t.Fatal(err)
	}
	if w, h, err := imageio.Config(jpg); err != nil || w != 7 || h != 4 {
		t.Errorf("--size 7x of 20×10 wrote %dx%d (%v), want 7x4", w, h, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{in, "--scale", "0", "-o", filepath.Join(dir, "a.png")}, "scale 0: want a finite number above 0"},
		{[]string{in, "-o", filepath.Join(dir, "a.png")}, "exactly one of --scale and --size"},
		{[]string{in, "--scale", "-3", "-o", filepath.Join(dir, "a.png")}, "scale -3"},
		{[]string{in, "--scale", "NaN", "-o", filepath.Join(dir, "a.png")}, "scale NaN"},
		{[]string{in, "--scale", "Inf", "-o", filepath.Join(dir, "a.png")}, "scale +Inf"},
		{[]string{in, "--scale", "1000", "-o", filepath.Join(dir, "a.png")}, "over the limit"},
		{[]string{in, "--scale", "4", "--max-pixels", "100", "-o", filepath.Join(dir, "a.png")}, "over the limit of 100"},
		{[]string{in, "--scale", "2", "--size", "5x5", "-o", filepath.Join(dir, "a.png")}, "exactly one"},
		{[]string{in, "--scale", "2"}, "-o OUTPUT"},
		{[]string{"--scale", "2", "-o", filepath.Join(dir, "a.png")}, "one input"},
		{[]string{in, "--scale", "2", "--method", "no-such-method", "-o", filepath.Join(dir, "a.png")}, "unknown method"},
		{[]string{filepath.Join(dir, "none.png"), "--scale", "2", "-o", filepath.Join(dir, "a.png")}, "none.png"},
	} {
		err := runUpscale(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("upscale %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.png")); err == nil {
		t.Error("a refused request wrote its output")
	}
	if err := runUpscale([]string{in, "--scale", "4", "--max-pixels", "3200", "-o", filepath.Join(dir, "b.png")}); err != nil {
		t.Errorf("a raised --max-pixels was refused: %v", err)
	}
}
