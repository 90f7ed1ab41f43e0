package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset/datatest"
)

// TestEmbeddedMatchesNPZ regenerates the embedded pristine model from the
// shared npz and checks it is byte for byte the committed file.
func TestEmbeddedMatchesNPZ(t *testing.T) {
	root := datatest.Path(t)
	out := filepath.Join(t.TempDir(), "p.bin")
	if err := run(filepath.Join(root, "metrics", "niqe_pris_params.npz"), out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile("../../niqe_params.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("metrics/niqe_params.bin differs from the npz: regenerate it")
	}
	if err := run(filepath.Join(root, "metrics", "README.md"), out); err == nil {
		t.Error("a file that is not an npz: no error")
	}
}
