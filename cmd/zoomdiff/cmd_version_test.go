package main

import (
	"strings"
	"testing"
)

// version prints the version and backend, and refuses arguments rather
// than ignoring them.
func TestVersionCommand(t *testing.T) {
	out, err := captureStdout(t, func() error { return runVersion(nil) })
	if err != nil || !strings.HasPrefix(out, "zoomdiff ") || !strings.Contains(out, "gemm: ") {
		t.Errorf("version (%v):\n%s", err, out)
	}
	if _, err := captureStdout(t, func() error { return runVersion([]string{"extra"}) }); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("version extra: %v, want an error naming the argument", err)
	}
}
