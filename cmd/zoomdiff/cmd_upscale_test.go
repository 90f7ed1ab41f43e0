package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/resample"
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
	if err := runUpscale([]string{"--size", "7x", in, "-o", jpg, "--steps", "3", "--quiet"}); err != nil {
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
		{[]string{in, "--scale", "1000", "--method", "bicubic", "-o", filepath.Join(dir, "a.png")}, "over the limit"},
		{[]string{in, "--scale", "8000", "-o", filepath.Join(dir, "a.png")}, "over the limit"},
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
	if err := runUpscale([]string{in, "--scale", "4", "--max-pixels", "3200", "-o", filepath.Join(dir, "b.png"), "--steps", "3", "--quiet"}); err != nil {
		t.Errorf("a raised --max-pixels was refused: %v", err)
	}
}

// The built-in model draws several samples, their mean and the
// uncertainty map in one run, reproducibly for a seed.
func TestUpscaleSamples(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	writeTestPNG(t, in, 16, 12)
	out, mean, std := filepath.Join(dir, "out.png"), filepath.Join(dir, "mean.png"), filepath.Join(dir, "std.png")
	args := []string{in, "--scale", "2.5", "-o", out, "--samples", "2", "--steps", "3", "--eta", "1", "--seed", "7",
		"--mean", mean, "--std", std, "--quiet"}
	if err := runUpscale(args); err != nil {
		t.Fatal(err)
	}
	read := func(p string) *imageio.Image {
		t.Helper()
		m, err := imageio.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.W != 40 || m.H != 30 {
			t.Fatalf("%s is %dx%d, want 40x30", p, m.W, m.H)
		}
		return m
	}
	a, b, m, sd := read(filepath.Join(dir, "out-1.png")), read(filepath.Join(dir, "out-2.png")), read(mean), read(std)
	var differ, maxStd float32
	for i := range a.Pix {
		differ = max(differ, abs32(a.Pix[i]-b.Pix[i]))
		if e := abs32((a.Pix[i]+b.Pix[i])/2 - m.Pix[i]); e > 1.01/255 {
			t.Fatalf("mean off by %g at %d", e, i)
		}
		maxStd = max(maxStd, sd.Pix[i])
	}
	if differ < 2.0/255 || maxStd == 0 {
		t.Errorf("samples differ by at most %g, std map peaks at %g: want diverse samples", differ, maxStd)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "out-1.png"))
	if err := runUpscale(args); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "out-1.png")); string(again) != string(first) {
		t.Error("the same seed gave a different sample")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{in, "--scale", "2", "-o", out, "--std", std}, "at least 2 samples"},
		{[]string{in, "--scale", "2", "-o", out, "--method", "bicubic", "--samples", "2"}, "for --method model"},
		{[]string{in, "--scale", "2", "-o", out, "--samples", "0"}, "samples 0"},
		{[]string{in, "--scale", "2", "-o", out, "--steps", "0"}, "steps"},
		{[]string{in, "--scale", "2", "-o", out, "--steps", "2", "--temperature", "3"}, "temperature 3"},
		{[]string{in, "--scale", "2", "-o", out, "--method", "bicubic", "--temperature", "0.5"}, "for --method model"},
		{[]string{in, "--scale", "2", "-o", out, "--steps", "2", "--detail", "0.5"}, "detail scale 0.5"},
		{[]string{in, "--scale", "2", "-o", out, "--method", "bicubic", "--detail", "6"}, "for --method model"},
		{[]string{in, "--scale", "2", "-o", filepath.Join(dir, "x.gif")}, "gif"},
	} {
		if err := runUpscale(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("upscale %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

func abs32(v float32) float32 { return max(v, -v) }

// A --param of the model is not overridden by a flag's default, and a
// flag given wins over it: --param steps=2 draws what --steps 2 draws.
func TestUpscaleParamsAndFlags(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	writeTestPNG(t, in, 12, 10)
	run := func(name string, args ...string) []float32 {
		out := filepath.Join(dir, name)
		if err := runUpscale(append([]string{in, "--scale", "2", "-o", out, "--quiet"}, args...)); err != nil {
			t.Fatal(err)
		}
		m, err := imageio.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		return m.Pix
	}
	byParam := run("p.png", "--param", "steps=2", "--param", "temperature=0.5")
	byFlag := run("f.png", "--steps", "2", "--temperature", "0.5")
	flagWins := run("w.png", "--param", "steps=7", "--steps", "2", "--temperature", "0.5")
	other := run("o.png", "--steps", "3", "--temperature", "0.5")
	// Drawn at ×1 and enlarged: not what ×2 draws, the same by flag or param.
	detail := run("d.png", "--steps", "2", "--temperature", "0.5", "--detail", "1")
	detailParam := run("dp.png", "--steps", "2", "--temperature", "0.5", "--param", "detail=1")
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(byParam, byFlag) || !same(flagWins, byFlag) {
		t.Error("--param steps=2 or a flag given over --param does not draw what --steps 2 draws")
	}
	if same(other, byFlag) {
		t.Error("3 steps draw what 2 steps draw: the comparison cannot fail")
	}
	if same(detail, byFlag) || !same(detail, detailParam) {
		t.Error("--detail 1 draws what the default draws, or not what --param detail=1 draws")
	}
}

// `upscale --method reconstruct` is the auto-encoder's round trip through
// the one render path, so it keeps alpha
// and grey, writes any format (PNG and TIFF streamed, the same pixels) and
// renders in bands that do not change the pixels.
func TestReconstructCommand(t *testing.T) {
	dir := t.TempDir()
	// A smooth picture, which the auto-encoder keeps.
	in := imageio.New(24, 16)
	in.Alpha = make([]float32, 24*16)
	for i := range in.Alpha {
		x, y := i%24, i/24
		in.Pix[3*i], in.Pix[3*i+1], in.Pix[3*i+2] = float32(x)/23, float32(y)/15, float32(x+y)/38
		in.Alpha[i] = float32(x) / 23
	}
	inPath, greyPath := filepath.Join(dir, "in.png"), filepath.Join(dir, "grey.png")
	if err := imageio.Write(inPath, in); err != nil {
		t.Fatal(err)
	}
	if err := imageio.Write(greyPath, testImage(24, 16, true)); err != nil {
		t.Fatal(err)
	}
	outs := map[string][]string{
		"whole.png":    {inPath, "--scale", "2.5", "--quiet"},
		"bands.png":    {inPath, "--scale", "2.5", "--band", "7", "--quiet"},
		"out.jpg":      {inPath, "--size", "30x", "--quiet"},
		"whole.tif":    {inPath, "--scale", "2.5", "--quiet"},
		"grey-out.png": {greyPath, "--scale", "2", "--quiet"},
	}
	for name, args := range outs {
		if err := runUpscale(append([]string{"--method", "reconstruct", "-o", filepath.Join(dir, name)}, args...)); err != nil {
			t.Fatalf("reconstruct %s: %v", name, err)
		}
	}
	whole, err := imageio.Read(filepath.Join(dir, "whole.png"))
	if err != nil {
		t.Fatal(err)
	}
	bands, err := imageio.Read(filepath.Join(dir, "bands.png"))
	if err != nil {
		t.Fatal(err)
	}
	if whole.W != 60 || whole.H != 40 || whole.Alpha == nil {
		t.Fatalf("×2.5 of a 24×16 with alpha: %dx%d, alpha %v", whole.W, whole.H, whole.Alpha != nil)
	}
	tif, err := imageio.Read(filepath.Join(dir, "whole.tif"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range whole.Pix {
		if v != bands.Pix[i] || v != tif.Pix[i] {
			t.Fatalf("value %d: %v in bands of 7 rows, %v as TIFF, against %v", i, bands.Pix[i], tif.Pix[i], v)
		}
	}
	for i, a := range whole.Alpha {
		if a != tif.Alpha[i] {
			t.Fatalf("alpha %d: %v as TIFF, %v as PNG", i, tif.Alpha[i], a)
		}
	}
	// The alpha ramp runs left to right, resized by the one rule.
	if a0, a1 := whole.Alpha[20*60+1], whole.Alpha[20*60+58]; !(a0 < 0.05 && a1 > 0.95) {
		t.Errorf("alpha at the left and right edges: %v, %v", a0, a1)
	}
	// A round trip keeps the picture: PSNR against bicubic of the input.
	back, err := imageio.Read(inPath)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := resample.Image(back, 60, 40, resample.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := metrics.PSNR(ref.Pix, whole.Pix, 1)
	t.Logf("round trip ×2.5 against bicubic: %.1f dB", p)
	if p < 22 {
		t.Errorf("round trip against bicubic: %.1f dB, want a recognisable picture", p)
	}
	checkSize(t, filepath.Join(dir, "out.jpg"), 30, 20)
	if g, err := imageio.Read(filepath.Join(dir, "grey-out.png")); err != nil || !g.Gray {
		t.Errorf("a grey input's round trip is not grey (%v)", err)
	}
}

// TestReconstructRefuses: what a deterministic method cannot do, and a
// model file that is not an auto-encoder, are refused before any output.
func TestReconstructRefuses(t *testing.T) {
	dir := t.TempDir()
	inPath := filepath.Join(dir, "in.png")
	if err := imageio.Write(inPath, testImage(24, 16, false)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--samples", "2"}, "are for --method model or real"},
		{[]string{"--band", "0"}, "--band 0"},
		{[]string{"--model", inPath}, "in.png"},
	} {
		err := runUpscale(append([]string{"--method", "reconstruct", inPath, "--scale", "2", "-o", filepath.Join(dir, "x.png")}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("reconstruct %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
	if err := runUpscale([]string{inPath, "--scale", "2", "--method", "bicubic", "--band", "8", "-o", filepath.Join(dir, "x.png")}); err == nil || !strings.Contains(err.Error(), "render in bands") {
		t.Errorf("--band with bicubic: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Error("a refused request wrote its output")
	}
}

// A JPEG saved at methods.RealJPEGQuality or lower gets a note pointing to
// --model real when the default model upscales it, and only then: not a
// finer JPEG, not a PNG, not with --model real or another method. Folder
// mode says it once, in its closing summary.
func TestUpscaleJPEGNote(t *testing.T) {
	dir := t.TempDir()
	src := imageio.New(12, 8)
	for i := range src.Pix {
		src.Pix[i] = float32(i%7) / 6
	}
	write := func(name string, q int) string {
		p := filepath.Join(dir, name)
		if err := imageio.WriteWith(p, src, imageio.WriteOptions{Quality: q}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	coarse, fine := write("coarse.jpg", methods.RealJPEGQuality-30), write("fine.jpg", methods.RealJPEGQuality+5)
	png := write("clean.png", 0)
	for _, c := range []struct {
		args []string
		note bool
	}{
		{[]string{coarse}, true},
		{[]string{coarse, "--model", "builtin:sr"}, true},
		{[]string{coarse, "--model", "real"}, false},
		{[]string{coarse, "--method", "bicubic"}, false},
		{[]string{fine}, false},
		{[]string{png}, false},
	} {
		args := append(append([]string{}, c.args...), "--scale", "2", "-o", filepath.Join(dir, "out.png"))
		if c.args[len(c.args)-1] != "bicubic" {
			args = append(args, "--steps", "1")
		}
		var err error
		got := captureStderr(t, func() { err = runUpscale(args) })
		if err != nil {
			t.Fatalf("upscale %v: %v", c.args, err)
		}
		if has := strings.Contains(got, "trained for compressed photos"); has != c.note {
			t.Errorf("upscale %v: note %v, want %v; stderr:\n%s", c.args, has, c.note, got)
		}
	}
	folder := filepath.Join(dir, "in")
	for _, name := range []string{"a.jpg", "b.jpg", "c.png"} {
		src, err := os.ReadFile(map[string]string{"a.jpg": coarse, "b.jpg": coarse, "c.png": png}[name])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, name), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	got := captureStderr(t, func() {
		err = runUpscale([]string{folder, "--scale", "2", "--steps", "1", "-o", filepath.Join(dir, "out")})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(got, "trained for compressed photos"); n != 1 || !strings.Contains(got, "and 1 more input like it") {
		t.Errorf("folder of two coarse JPEGs and a PNG: %d notes, want one summing up both; stderr:\n%s", n, got)
	}
}

// Mistakes in the command line are refused before any work, with a
// message about the mistake: a flag missing its value at the end (which
// would take the input as its value), an output that is the input or a
// folder, a JPEG quality outside 1–100, and a bad --size or --scale,
// which are no reason to raise --max-pixels.
func TestUpscaleRefusesBeforeWork(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.png")
	writeTestPNG(t, in, 12, 10)
	original, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.png")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.png")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	for _, c := range []struct {
		args     []string
		want     string
		notWants []string
	}{
		{[]string{in, "--scale", "2", "--method", "bicubic", "-o"}, "flag needs an argument: -o", nil},
		{[]string{in, "-o", out, "--method", "bicubic", "--scale"}, "flag needs an argument: --scale", nil},
		{[]string{in, "--scale", "2", "--method", "bicubic", "-o", in}, "is the input", nil},
		{[]string{in, "--scale", "2", "--method", "bicubic", "-o", link}, "is the input", nil},
		{[]string{in, "--scale", "2", "--method", "bicubic", "-o", folder}, "is a folder", []string{".tmp"}},
		{[]string{in, "--scale", "2", "--method", "bicubic", "--quality", "101", "-o", filepath.Join(dir, "a.jpg")}, "quality 101", nil},
		{[]string{in, "--scale", "2", "--method", "bicubic", "--quality", "0", "-o", filepath.Join(dir, "a.jpg")}, "quality 0", nil},
		{[]string{in, "--size", "0x10", "--method", "bicubic", "-o", out}, `"0" is not a whole number`, []string{"max-pixels"}},
		{[]string{in, "--scale", "Inf", "--method", "bicubic", "-o", out}, "scale +Inf", []string{"max-pixels"}},
		{[]string{in, "--scale", "2", "--max-pixels", "-1", "--method", "bicubic", "-o", out}, "--max-pixels -1", []string{"raise"}},
		{[]string{in, "--scale", "2", "--16", "--method", "bicubic", "-o", filepath.Join(dir, "a.jpg")}, "JPEG holds 8 bits", nil},
		{[]string{in, "--scale", "2", "--param", "steps=1", "--param", "steps=2", "-o", out}, "steps given twice", nil},
		{[]string{in, "--scale", "2", "--method", "bicubic", "-o", dir}, "needs an output file name", nil},
	} {
		var err error
		stderr := captureStderr(t, func() { err = runUpscale(c.args) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("upscale %q: error %v, want one mentioning %q", c.args, err, c.want)
			continue
		}
		for _, no := range c.notWants {
			if strings.Contains(err.Error(), no) {
				t.Errorf("upscale %q: error %v mentions %q", c.args, err, no)
			}
		}
		if regexp.MustCompile(`decode \d+/\d+`).MatchString(stderr) { // the bar of the rendering
			t.Errorf("upscale %q: refused after the work (%q)", c.args, stderr)
		}
	}
	if b, err := os.ReadFile(in); err != nil || !bytes.Equal(b, original) {
		t.Errorf("the input was changed (%v)", err)
	}
	for _, p := range []string{out, filepath.Join(dir, "a.jpg")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused request wrote %s", p)
		}
	}
}
