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
