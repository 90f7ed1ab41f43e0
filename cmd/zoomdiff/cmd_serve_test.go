package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "no arguments"},
		{[]string{"--addr", "127.0.0.1:99999"}, "invalid port"},
		{[]string{"--method", "no-such-method", "--addr", "127.0.0.1:0"}, "not offered"},
		{[]string{"--card", "/nonexistent/card.md"}, "model card"},
	} {
		err := runServe(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

func TestReadCard(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "sr.zdm")
	if text, err := readCard("", model); err != nil || text != "" {
		t.Errorf("no card: %q %v", text, err)
	}
	os.WriteFile(filepath.Join(dir, "sr.md"), []byte("trained on DIV2K"), 0o644)
	if text, err := readCard("", model); err != nil || text != "trained on DIV2K" {
		t.Errorf("card next to the weights: %q %v", text, err)
	}
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(other, []byte("explicit"), 0o644)
	if text, err := readCard(other, model); err != nil || text != "explicit" {
		t.Errorf("--card: %q %v", text, err)
	}
}
