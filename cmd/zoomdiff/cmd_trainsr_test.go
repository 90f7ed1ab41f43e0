package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/models"
)

// train student distils the built-in model for 2 steps on tiny crops,
// validating at its own step count (val-steps follows --set distill), from
// the teacher's weights or from --init; an --init whose latents differ
// from the teacher's is refused.
func TestTrainStudent(t *testing.T) {
	dir := t.TempDir()
	data, val := filepath.Join(dir, "data"), filepath.Join(dir, "val")
	for _, d := range []string{data, val} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTestPNG(t, filepath.Join(data, "a.png"), 40, 36)
	writeTestPNG(t, filepath.Join(val, "v.png"), 32, 32)
	out := filepath.Join(dir, "student.safetensors")
	args := []string{"student", "--teacher", "builtin:sr", "--data", data, "--val", val, "--out", out, "--quiet",
		"--set", "distill=2,teacher-steps=2,crop=16,batch=2,pool=2,reuse=1,steps=2,warmup=1,checkpoint-every=2,val-every=2,val-crop=16,val-images=1"}
	for _, init := range []string{"", "builtin:student"} {
		a := args
		if init != "" {
			a = append(a, "--init", init)
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
	err := runTrain(append(args, "--init", "builtin:real"))
	if err == nil || !strings.Contains(err.Error(), "--init builtin:real") {
		t.Errorf("train student --init builtin:real: %v, want a refusal", err)
	}
}
