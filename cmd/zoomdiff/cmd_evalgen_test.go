package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Precision and recall need more images than their neighbourhood size
// (k = 3): a folder of three generated images is refused by name, before
// the real images are read, rather than failing deep in the metrics.
func TestEvalGenRefusesTooFewImages(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.png", "b.png", "c.png"} {
		writeTestPNG(t, filepath.Join(dir, name), 32, 32)
	}
	err := runEvalGen([]string{"--quiet", "--classifier", "../../models/cifar10-classifier.safetensors",
		"--real", filepath.Join(t.TempDir(), "none.tar.gz"), dir})
	if err == nil || !strings.Contains(err.Error(), "3 generated images") || !strings.Contains(err.Error(), "more than 3") {
		t.Errorf("eval-gen of 3 images: %v, want a refusal saying it needs more than 3", err)
	}
}

// What eval-gen would otherwise take without a word is refused before any
// work (the classifier named here does not exist): a size given twice,
// which gave a duplicate row and a pair of a size with itself, and the
// sampling flags beside a folder of images, which are scored as they are.
func TestEvalGenRefusesIgnoredFlags(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--quiet", "--classifier", filepath.Join(dir, "none.safetensors"), "--real", filepath.Join(dir, "none.tar.gz")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "builtin:gen", "--sizes", "32,32"}, "--sizes: size 32 is given twice"},
		{[]string{"--model", "builtin:gen", "--sizes", "32,64,32x32"}, "--sizes: size 32 is given twice"},
		{[]string{"--n", "50", dir}, "--n: for --model only"},
		{[]string{"--sizes", "32,64", "--seed", "2", "--guidance", "1", dir}, "--sizes, --seed, --guidance: for --model only"},
	} {
		if err := runEvalGen(append(base, c.args...)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("eval-gen %q: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
