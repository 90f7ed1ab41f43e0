package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "work", 10, false)
	b.SetInterval(0)
	b.Resume(4)
	b.Update(5, "loss 1")
	b.Update(10, "")
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, "work 5/10") || !strings.Contains(out, "loss 1") || !strings.Contains(out, "10/10") {
		t.Fatalf("unexpected output %q", out)
	}
	if strings.Contains(out, "\r") {
		t.Fatal("a non-terminal writer must get plain lines")
	}
	var quiet bytes.Buffer
	New(&quiet, "work", 10, true).Update(3, "x") // nil bar: no output, no panic
	if quiet.Len() != 0 {
		t.Fatal("quiet bar wrote output")
	}
}
