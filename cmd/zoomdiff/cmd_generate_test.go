package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/gif"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/featdist"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
)

// tinyGeneratorFile writes an untrained generator on a tiny auto-encoder
// (16×16 images, 4×4 latents) and returns its path.
func tinyGeneratorFile(t *testing.T, dir string) string {
	t.Helper()
	ae, err := autoencoder.New(autoencoder.Config{Channels: 4, ChMult: []int{1, 1, 1}, NumResBlocks: 1, LatentCh: 4,
		MLP: []int{8}, GlobalSkip: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	u := diffusion.UNetConfig{InCh: 4, OutCh: 4, ModelCh: 8, ChMult: []int{1, 2}, NumResBlocks: 1, Heads: 2}
	g, err := diffusion.NewGenerator(ae, u, diffusion.DefaultSchedule(), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gen.safetensors")
	if err := g.Model.Save(path, false, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateAndZoomCommands(t *testing.T) {
	dir := t.TempDir()
	model := tinyGeneratorFile(t, dir)
	out := filepath.Join(dir, "out")
	args := []string{"--model", model, "--n", "3", "--sizes", "16,24x12", "--steps", "2", "--seed", "5", "-o", out, "--quiet"}
	if err := runGenerate(args); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		w, h int
	}{{"16/0000.png", 16, 16}, {"16/0002.png", 16, 16}, {"24x12/0001.png", 24, 12}} {
		if w, h, err := imageio.Config(filepath.Join(out, c.file)); err != nil || w != c.w || h != c.h {
			t.Errorf("%s: %dx%d (%v), want %dx%d", c.file, w, h, err, c.w, c.h)
		}
	}
	for _, sheet := range []string{"sheet-16.png", "sheet-24x12.png"} {
		if _, err := os.Stat(filepath.Join(out, sheet)); err != nil {
			t.Error(err)
		}
	}
	// The same seed gives the same bytes.
	again := filepath.Join(dir, "again")
	if err := runGenerate([]string{"--model", model, "--n", "3", "--size", "16", "--steps", "2", "--seed", "5", "-o", again, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, "16/0001.png"))
	b, _ := os.ReadFile(filepath.Join(again, "16/0001.png"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the same seed gave a different image")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", model, "--n", "0", "-o", out}, "generate 0 images"},
		{[]string{"--model", model, "--sizes", "16,abc", "-o", out}, `size "abc"`},
		{[]string{"--model", model, "--size", "16", "--sizes", "32", "-o", out}, "not both"},
		{[]string{"--model", model, "--sizes", "16,24,16", "-o", out}, "size 16 is given twice"},
		{[]string{"--model", model, "--sizes", "16x16,16", "-o", out}, "size 16 is given twice"},
		{[]string{"--model", model, "--sizes", "24x12,24X12", "-o", out}, "size 24x12 is given twice"},
		{[]string{"--model", model, "--eta", "0.5", "-o", out}, "--eta 0.5: DDIM's η, which the dpm++2m sampler does not use"},
		{[]string{"--model", model, "--sheet", "-1", "-o", out}, "--sheet -1"},
		{[]string{"--model", model}, "usage"},
		{[]string{"--model", filepath.Join(dir, "none"), "-o", out}, "none"},
		{[]string{"--model", model, "--n", "1", "-o", model}, "is a file"},
	} {
		if err := runGenerate(append(c.args, "--quiet")); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("generate %q: %v, want an error with %q", c.args, err, c.want)
		}
	}

	anim := filepath.Join(dir, "zoom.gif")
	if err := runZoom([]string{"--model", model, "--seed", "2", "--steps", "2", "--frames", "5", "--frame", "32", "-o", anim, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	if g := decodeFile(t, anim, gif.DecodeAll); len(g.Image) != 5 || g.Config.Width != 32 || g.Config.Height != 32 {
		t.Fatalf("zoom GIF: %d frames of %dx%d, want 5 of 32x32", len(g.Image), g.Config.Width, g.Config.Height)
	}
	if err := runZoom([]string{"--model", model, "-o", filepath.Join(dir, "z.bmp"), "--quiet"}); err == nil {
		t.Error("zoom accepted a .bmp output")
	}
	if err := runZoom([]string{"--model", model, "--max-zoom", "0.5", "-o", anim, "--quiet"}); err == nil {
		t.Error("zoom accepted a zoom below 1")
	}
	if err := runZoom([]string{"--model", model, "--delay", "-1s", "-o", anim, "--quiet"}); err == nil || !strings.Contains(err.Error(), "--delay -1s") {
		t.Errorf("zoom --delay -1s: %v, want the flag refused before any work", err)
	}
}

func TestEvalGenCommand(t *testing.T) {
	dir := t.TempDir()
	model := tinyGeneratorFile(t, dir)
	// A labelled archive of two classes of 16×16 images.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for c, class := range []string{"dark", "light"} {
		for i := range 8 {
			m := imageio.New(16, 16)
			for p := range m.Pix {
				m.Pix[p] = float32(c)*0.5 + 0.3*float32((p/3+i)%16)/16
			}
			png := filepath.Join(dir, "tmp.png")
			if err := imageio.Write(png, m); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(png)
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/%d.png", class, i), Mode: 0o644, Size: int64(len(data))})
			tw.Write(data)
		}
	}
	tw.Close()
	real := filepath.Join(dir, "real.tar")
	if err := os.WriteFile(real, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cls, err := featdist.NewClassifier(featdist.Config{Size: 16, Widths: []int{4, 8}, Classes: []string{"dark", "light"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	clsPath := filepath.Join(dir, "cls.safetensors")
	if err := cls.Save(clsPath, map[string]string{"test_accuracy": "0.5"}); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "rep.json")
	if err := runEvalGen([]string{"--classifier", clsPath, "--real", real, "--holdout", "2", "--model", model,
		"--n", "4", "--sizes", "16,32", "--steps", "2", "--json", js, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	var rep genReport
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	if rep.N != 4 || len(rep.Groups) != 2 || rep.ReferenceImages != 4 || rep.ClassifierAcc != "0.5" ||
		!finite(rep.Real.FD) || !finite(rep.Recon.FD) || !finite(rep.Blurred.FD) || !finite(rep.Groups[1].FeatureFD) {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range []setScore{rep.Real, rep.Recon, rep.Blurred, {rep.Groups[0].FeatureFD, rep.Groups[0].Precision, rep.Groups[0].Recall}} {
		if !(s.Precision >= 0 && s.Precision <= 1 && s.Recall >= 0 && s.Recall <= 1) {
			t.Fatalf("precision %v, recall %v: want fractions", s.Precision, s.Recall)
		}
	}
	if rep.SelfSSIM == nil || !(*rep.SelfSSIM > 0 && *rep.SelfSSIM <= 1) || rep.SelfSSIMSamples != 4 ||
		len(rep.PairSSIM) != 1 || rep.PairSSIM[0].SSIM != *rep.SelfSSIM {
		t.Fatalf("self-SSIM %v over %d samples", rep.SelfSSIM, rep.SelfSSIMSamples)
	}
	// The seed, 0 here, is written since it was sampled with; guidance is
	// not, since this generator has no classes.
	if rep.Seed == nil || *rep.Seed != 0 || rep.Guidance != nil {
		t.Errorf("seed %v, guidance %v: want seed 0 and no guidance", rep.Seed, rep.Guidance)
	}
	if err := runEvalGen([]string{"--classifier", clsPath, "--real", real, "--model", model, filepath.Join(dir, "x")}); err == nil {
		t.Error("eval-gen accepted both --model and a folder")
	}
}

// zoom --seed K --sample k zooms into the latent generate draws as its
// sample k: the generator's own sampler and steps, not the SR model's.
func TestZoomDrawsGeneratesSample(t *testing.T) {
	model := tinyGeneratorFile(t, t.TempDir())
	g, err := models.Generator(model)
	if err != nil {
		t.Fatal(err)
	}
	opt := diffusion.DefaultGenSampleOptions()
	opt.Seed = 7
	want, err := g.Generate(context.Background(), 3, opt)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := zoomLatent(context.Background(), model, "", 2, map[string]string{"seed": "7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Z.Data, want[2].Z.Data) {
		t.Error("zoom --seed 7 --sample 2 drew another latent than generate's sample 2")
	}
}
