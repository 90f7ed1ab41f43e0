package main

import (
	"io"
	"os"
	"testing"
)

// captured runs fn with *stream (os.Stdout or os.Stderr) sent to a file
// and returns what was written there.
func captured(t *testing.T, stream **os.File, fn func()) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	old := *stream
	*stream = f
	defer func() { *stream = old }()
	fn()
	f.Close()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// captureStdout runs fn and returns what it printed and its error.
func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	var err error
	out := captured(t, &os.Stdout, func() { err = fn() })
	return out, err
}

// captureStderr runs fn and returns what it wrote to os.Stderr.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	return captured(t, &os.Stderr, fn)
}

// decodeFile opens path and decodes it with decode (png.Decode,
// gif.DecodeAll, …), failing the test on any error.
func decodeFile[T any](t *testing.T, path string, decode func(io.Reader) (T, error)) T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return v
}
