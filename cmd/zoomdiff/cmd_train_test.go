package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/baseline/idm"
	"github.com/zoomdiff/zoomdiff/baseline/liif"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/models"
)

// Both baselines train from the command line on tiny architectures,
// validate, checkpoint, and continue with --resume; the files they write
// load as their methods.
func TestTrainBaselines(t *testing.T) {
	dir, data, val := trainFolders(t)
	common := []string{"--data", data, "--val", val, "--set", "batch=2,warmup=1,checkpoint-every=2,val-every=2,val-crop=16", "--quiet"}
	for _, c := range []struct {
		stage string
		args  []string
		other string // a setting of another architecture
		open  func(string) error
	}{
		{"liif", []string{"--set", "patch=8,queries=16,feats=4,blocks=1,mlp=8"}, "feats=5",
			func(p string) error { _, err := liif.Open(p); return err }},
		{"idm", []string{"--set", "crop=8,val-steps=2,val-scale=2,prediction=v", "--set",
			"enc-feats=4,enc-blocks=1,cond-ch=3,mlp=8,model-ch=8,ch-mult=1,2,attn=,mid-attn=false,heads=1"}, "enc-feats=5",
			func(p string) error { _, err := idm.Open(p); return err }},
	} {
		out := filepath.Join(dir, c.stage+".safetensors")
		args := append(append([]string{c.stage, "--out", out}, common...), c.args...)
		if err := runTrain(append(args, "--set", "steps=3")); err != nil {
			t.Fatalf("train %s: %v", c.stage, err)
		}
		if err := runTrain(append(args, "--set", "steps=4", "--resume")); err != nil {
			t.Fatalf("train %s --resume: %v", c.stage, err)
		}
		ck, err := checkpoint.Open(out)
		if err != nil || ck.Meta["steps"] != "4" || ck.Meta["stage"] != c.stage {
			t.Fatalf("%s model file after resuming to step 4: %v %v", c.stage, ck, err)
		}
		if err := c.open(out); err != nil {
			t.Fatal(err)
		}
		if curve, err := os.ReadFile(out + ".val.csv"); err != nil || strings.Count(string(curve), "\n") != 4 {
			t.Errorf("%s validation curve (%v):\n%s", c.stage, err, curve)
		}
		// Another architecture cannot resume the state.
		if err := runTrain(append(args, "--set", "steps=5", "--resume", "--set", c.other)); err == nil {
			t.Errorf("train %s resumed with another architecture", c.stage)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"liif", "--out", filepath.Join(dir, "x")}, "--data and --out"},
		{[]string{"liif", "--data", data, "--out", filepath.Join(dir, "x"), "--set", "feets=4"}, "feets"},
		{[]string{"idm", "--data", data, "--out", filepath.Join(dir, "x"), "--set", "prediction=x0"}, "prediction"},
		{[]string{"idm", "--data", data, "--out", filepath.Join(dir, "x"), "--set", "val-strength=1"}, "val-strength"},
		{[]string{"lif"}, "liif, idm"},
		{[]string{"liif", "--data", data, "--out", filepath.Join(dir, "missing", "x")}, "folder " + filepath.Join(dir, "missing") + " does not exist"},
	} {
		if err := runTrain(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// trainFolders makes a temporary folder holding data/ (two small photos)
// and val/ (one of 24×24) for the training commands' tests.
func trainFolders(t *testing.T) (dir, data, val string) {
	t.Helper()
	dir = t.TempDir()
	data, val = filepath.Join(dir, "data"), filepath.Join(dir, "val")
	for _, d := range []string{data, val} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTestPNG(t, filepath.Join(data, "a.png"), 40, 36)
	writeTestPNG(t, filepath.Join(data, "b.png"), 36, 44)
	writeTestPNG(t, filepath.Join(val, "v.png"), 24, 24)
	return dir, data, val
}

// Every stage builds its settings from its options structs (a clash of
// keys would panic here) and refuses a key it does not read.
func TestTrainStagesSettings(t *testing.T) {
	for stage, foreign := range map[string]string{"ae": "snr-cap", "sr": "snr-cap", "align": "model-ch", "gen": "val-steps", "liif": "val-steps", "idm": "val-strength", "condition": "snr-cap"} {
		if err := runTrain([]string{stage, "-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("train %s -h: %v", stage, err)
		}
		err := runTrain([]string{stage, "--data", "d", "--out", "o", "--set", foreign + "=1"})
		if err == nil || !strings.Contains(err.Error(), "unknown setting") {
			t.Errorf("train %s --set %s=1: %v, want an unknown setting", stage, foreign, err)
		}
	}
}

// train condition trains a condition network for the built-in models'
// condition space, resumes, and the network serves builtin:sr; another
// architecture cannot resume it.
func TestTrainCondition(t *testing.T) {
	dir, data, val := trainFolders(t)
	out := filepath.Join(dir, "cond.safetensors")
	args := []string{"condition", "--data", data, "--val", val, "--out", out, "--quiet",
		"--set", "side=8,border=2,max-reduce=2,pool=4,batch=2,warmup=1,channels=4,blocks=1,checkpoint-every=2,val-every=2"}
	if err := runTrain(append(args, "--set", "steps=3")); err != nil {
		t.Fatalf("train condition: %v", err)
	}
	if err := runTrain(append(args, "--set", "steps=4", "--resume")); err != nil {
		t.Fatalf("train condition --resume: %v", err)
	}
	ck, err := checkpoint.Open(out)
	if err != nil || ck.Meta["steps"] != "4" || ck.Meta["stage"] != "condition" {
		t.Fatalf("model file after resuming to step 4: %v %v", ck, err)
	}
	n, err := models.CondNet(out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.SR("builtin:sr")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCondNet(n); err != nil {
		t.Errorf("the trained network does not serve builtin:sr: %v", err)
	}
	// upscale and eval sample with it when named.
	in := filepath.Join(dir, "in.png")
	writeTestPNG(t, in, 12, 10)
	if err := runUpscale([]string{in, "--scale", "2", "--condition", out, "-o", filepath.Join(dir, "up.png"), "--quiet"}); err != nil {
		t.Errorf("upscale --condition %s: %v", out, err)
	}
	if err := runUpscale([]string{in, "--scale", "2", "--condition", filepath.Join(dir, "none.safetensors"), "-o", filepath.Join(dir, "up.png"), "--quiet"}); err == nil {
		t.Error("upscale --condition with a missing file succeeded")
	}
	if curve, err := os.ReadFile(out + ".val.csv"); err != nil || strings.Count(string(curve), "\n") != 4 {
		t.Errorf("validation curve (%v):\n%s", err, curve)
	}
	if err := runTrain(append(args, "--set", "steps=5", "--resume", "--set", "channels=5")); err == nil {
		t.Error("train condition resumed with another architecture")
	}
	if err := runTrain(append(args, "--model", "builtin:gen")); err == nil {
		t.Error("train condition accepted a generator")
	}
}

// train student distils the built-in model for 2 steps on tiny crops,
// validating at its own step count (val-steps follows --set distill), from
// the teacher's weights or from --init; an --init whose latents differ
// from the teacher's is refused.
func TestTrainStudent(t *testing.T) {
	dir, data, val := trainFolders(t)
	out := filepath.Join(dir, "student.safetensors")
	args := []string{"student", "--teacher", "builtin:sr", "--data", data, "--val", val, "--out", out, "--quiet",
		"--set", "distill=2,teacher-steps=2,crop=16,batch=2,pool=2,reuse=1,steps=2,warmup=1,checkpoint-every=2,val-every=2,val-crop=16,val-images=1"}
	for _, init := range []string{"", "builtin:student"} {
		a := args
		if init != "" {
			a = append(a, "--init", init, "--restart") // over the first run's state
		}
		if err := runTrain(a); err != nil {
			t.Fatalf("train student (init %q): %v", init, err)
		}
		s, err := models.SR(out)
		if err != nil {
			t.Fatal(err)
		}
		if s.Config.Student != 2 || !s.StudentFor(1) || s.StudentFor(4) {
			t.Fatalf("student mark %d, want 2", s.Config.Student)
		}
		if curve, err := os.ReadFile(out + ".val.csv"); err != nil || strings.Count(string(curve), "\n") != 2 {
			t.Errorf("validation curve (%v):\n%s", err, curve)
		}
		os.Remove(out + ".val.csv")
	}
	err := runTrain(append(args, "--init", "builtin:real", "--restart"))
	if err == nil || !strings.Contains(err.Error(), "--init builtin:real") {
		t.Errorf("train student --init builtin:real: %v, want a refusal", err)
	}
}
