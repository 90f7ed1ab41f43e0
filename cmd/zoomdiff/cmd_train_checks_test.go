package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"github.com/zoomdiff/zoomdiff/models"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// tinyLIIF is a LIIF recipe small enough to train in milliseconds.
const tinyLIIF = "patch=8,queries=16,feats=4,blocks=1,mlp=8,batch=2,warmup=1,steps=2"

// tinySR is a fresh SR (or generator) run on 32-pixel crops of a tiny
// U-Net around the built-in auto-encoder.
const tinySR = "crop=32,reuse=1,pool=2,model-ch=8,ch-mult=1,2,attn=,heads=1,mid-attn=false,stat-crops=2,batch=2,warmup=1,steps=2,checkpoint-every=2"

// mustNotExist fails the test when path exists: a run refused before its
// first step writes nothing.
func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s was written by a run that should have been refused before its first step", path)
	}
}

// An --out whose checkpoints would overwrite a photo, a folder or the
// model a run starts from, --resume without a state, negative intervals,
// an archive for a stage that reads folders and align without --model
// are refused before the data is read, and nothing is written.
func TestTrainRefusesBadOut(t *testing.T) {
	dir, data, _ := trainFolders(t)
	ae := filepath.Join(dir, "ae.safetensors")
	if err := runTrain([]string{"ae", "--data", data, "--out", ae, "--quiet",
		"--set", "crop=16,queries=32,channels=4,ch-mult=1,2,latent=3,mlp=8,batch=2,warmup=1,steps=2"}); err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(data, "a.png")
	before, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	aeBefore, err := os.ReadFile(ae)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "photos.tar"), nil, 0o644)
	fresh := filepath.Join(dir, "fresh.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"liif", "--data", data, "--out", photo}, "--out " + photo},
		{[]string{"liif", "--data", data, "--out", data}, "is a folder"},
		{[]string{"ae", "--data", data, "--init", ae, "--out", ae}, "is the --init file"},
		{[]string{"liif", "--data", data, "--out", fresh, "--resume"}, "no training state"},
		{[]string{"liif", "--data", data, "--out", fresh, "--set", "checkpoint-every=-1"}, "checkpoint-every -1"},
		{[]string{"liif", "--data", filepath.Join(dir, "photos.tar"), "--out", fresh}, "archives"},
		{[]string{"align", "--data", filepath.Join(dir, "missing"), "--out", fresh}, "--model is required"},
	} {
		args := append(c.args, "--quiet")
		if c.args[0] == "liif" {
			args = append(args, "--set", tinyLIIF)
		}
		err := runTrain(args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %q: %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
	if now, _ := os.ReadFile(photo); !bytes.Equal(now, before) {
		t.Error("a run with --out the photo overwrote it")
	}
	if now, _ := os.ReadFile(ae); !bytes.Equal(now, aeBefore) {
		t.Error("a run with --out its --init model overwrote it")
	}
	mustNotExist(t, photo+".train")
	mustNotExist(t, fresh+".train")
}

// What a stage's first validation would refuse (a --val image too small
// for it, a bad validation setting) stops the run before its first step,
// with an error naming --val or the setting, not after hours of training;
// a negative val-images is an error, not a panic.
func TestTrainValidationTriedFirst(t *testing.T) {
	dir, data, val := trainFolders(t)
	small := filepath.Join(dir, "small")
	if err := os.Mkdir(small, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestPNG(t, filepath.Join(small, "s.png"), 10, 10)
	for i, c := range []struct {
		args []string
		want string
	}{
		{[]string{"liif", "--val", small, "--set", tinyLIIF + ",val-crop=16"}, "--val " + small + ", tried on its smallest image (10x10)"},
		{[]string{"liif", "--val", val, "--set", tinyLIIF + ",val-images=-1"}, "val-images -1"},
		{[]string{"liif", "--val", val, "--set", tinyLIIF + ",val-scale=0"}, "scale 0"},
		{[]string{"ae", "--val", small, "--set", "crop=16,queries=32,channels=4,ch-mult=1,2,latent=3,mlp=8,batch=2,warmup=1,steps=2"}, "--val " + small},
		{[]string{"sr", "--val", data, "--set", tinySR + ",val-steps=0,val-crop=32"}, "sampling steps 0"},
		{[]string{"sr", "--val", data, "--set", tinySR + ",val-images=-1"}, "val-images -1"},
	} {
		out := filepath.Join(dir, "run"+string(rune('a'+i))+".safetensors")
		args := append([]string{c.args[0], "--data", data, "--out", out, "--quiet", "--set", "checkpoint-every=1,val-every=1"}, c.args[1:]...)
		err := runTrain(args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %q: %v, want an error mentioning %q", c.args, err, c.want)
		}
		mustNotExist(t, out+".train")
	}
}

// writeTestTar writes a labelled .tar.gz of perClass side×side PNGs in
// each of the folders classes.
func writeTestTar(t *testing.T, path string, classes []string, perClass, side int) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tmp := filepath.Join(t.TempDir(), "m.png")
	for c, class := range classes {
		for i := range perClass {
			m := imageio.New(side, side)
			for p := range m.Pix {
				m.Pix[p] = float32(c)*0.5 + 0.3*float32((p/3+i)%16)/16
			}
			if err := imageio.Write(tmp, m); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(tmp)
			if err != nil {
				t.Fatal(err)
			}
			h := &tar.Header{Name: class + "/" + string(rune('a'+i)) + ".png", Mode: 0o644, Size: int64(len(data))}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(data)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// train gen with holdout=0 holds nothing back and trains without
// validation (it panicked at its first one), and train sr and train gen,
// whose states are both rebuilt from their own configs, do not resume
// each other's runs.
func TestTrainGenHoldoutAndStages(t *testing.T) {
	dir, data, _ := trainFolders(t)
	archive := filepath.Join(dir, "two.tar.gz")
	writeTestTar(t, archive, []string{"dark", "light"}, 3, 32)
	gen := filepath.Join(dir, "gen.safetensors")
	if err := runTrain([]string{"gen", "--data", archive, "--out", gen, "--quiet", "--set", tinySR + ",holdout=0,val-every=1"}); err != nil {
		t.Fatalf("train gen --set holdout=0: %v", err)
	}
	if _, err := os.Stat(gen + ".val.csv"); err == nil {
		t.Error("holdout=0 wrote a validation curve: there is nothing to validate on")
	}
	err := runTrain([]string{"sr", "--data", data, "--out", gen, "--resume", "--quiet", "--set", tinySR + ",steps=3"})
	if err == nil || !strings.Contains(err.Error(), "train gen") {
		t.Errorf("train sr --resume of a generator's run: %v, want a refusal", err)
	}
	sr := filepath.Join(dir, "sr.safetensors")
	if err := runTrain([]string{"sr", "--data", data, "--out", sr, "--quiet", "--set", tinySR}); err != nil {
		t.Fatal(err)
	}
	err = runTrain([]string{"gen", "--data", data, "--out", sr, "--resume", "--quiet", "--set", tinySR + ",steps=3"})
	if err == nil || !strings.Contains(err.Error(), "train sr") {
		t.Errorf("train gen --resume of an SR run: %v, want a refusal", err)
	}
}

// classifier train refuses before training what would fail only at its
// first checkpoint or accuracy report: no held-out images, a folder for
// the archive, an --out in a missing folder or on the archive, --resume
// without a state.
func TestClassifierTrainChecks(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "two.tar.gz")
	writeTestTar(t, archive, []string{"dark", "light"}, 3, 16)
	out := filepath.Join(dir, "cls.safetensors")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", archive, "--out", out, "--holdout", "0"}, "--holdout 0"},
		{[]string{"--data", dir, "--out", out}, "is a folder"},
		{[]string{"--data", archive, "--out", filepath.Join(dir, "missing", "c.safetensors")}, "does not exist"},
		{[]string{"--data", archive, "--out", archive}, "--out " + archive},
		{[]string{"--data", archive, "--out", out, "--resume"}, "no training state"},
	} {
		err := runClassifierTrain(append(c.args, "--set", "steps=2,batch=2,warmup=1,widths=4,8", "--checkpoint-every", "1"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("classifier train %q: %v, want an error mentioning %q", c.args, err, c.want)
		}
		mustNotExist(t, out+".train")
	}
}

// A new run over an existing state needs --restart (a forgotten --resume
// would otherwise lose the run at the first checkpoint), --resume needs a
// state, and the two together are refused.
func TestCheckRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	state := out + ".train"
	for _, c := range []struct {
		exists, resume, restart bool
		want                    string
	}{
		{false, false, false, ""}, {false, false, true, ""}, {false, true, false, "no training state"},
		{true, false, false, "--restart to start over"}, {true, true, false, ""}, {true, false, true, ""},
		{true, true, true, "not both"},
	} {
		os.Remove(state)
		if c.exists {
			if err := os.WriteFile(state, []byte("state"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		err := checkRun(state, out, c.resume, c.restart)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("state %v, resume %v, restart %v: %v, want %q", c.exists, c.resume, c.restart, err, c.want)
		}
	}
}

// train ae --resume rebuilds the model the state holds: the run's
// architecture settings need not be given again, and other ones are not
// taken (the recipe, here the step budget, may change).
func TestTrainAEResumesItsArchitecture(t *testing.T) {
	dir, data, _ := trainFolders(t)
	ae := filepath.Join(dir, "ae.safetensors")
	arch := "crop=16,queries=32,channels=4,ch-mult=1,2,latent=3,mlp=8,batch=2,warmup=1,checkpoint-every=2"
	if err := runTrain([]string{"ae", "--data", data, "--out", ae, "--quiet", "--set", arch + ",steps=2"}); err != nil {
		t.Fatal(err)
	}
	if err := runTrain([]string{"ae", "--data", data, "--out", ae, "--quiet", "--resume",
		"--set", "crop=16,queries=32,batch=2,warmup=1,checkpoint-every=2,steps=4,channels=16"}); err != nil {
		t.Fatalf("resume with the recipe alone: %v", err)
	}
	m, err := models.AutoEncoder(ae)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Channels != 4 || m.Config.LatentCh != 3 {
		t.Errorf("resumed model: channels %d, latent %d; want the state's 4 and 3", m.Config.Channels, m.Config.LatentCh)
	}
}
