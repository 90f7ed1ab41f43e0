package methods

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	for _, name := range []string{"bicubic", "bilinear", "nearest", "lanczos3", "area", "BICUBIC"} {
		u, err := New(name, Options{})
		if err != nil || !strings.EqualFold(u.Name(), name) {
			t.Errorf("New(%q) = %v, %v", name, u, err)
		}
	}
	if _, err := New("no-such", Options{}); err == nil || !strings.Contains(err.Error(), "bicubic") || !strings.Contains(err.Error(), "liif") {
		t.Errorf("unknown method error should list the methods: %v", err)
	}
	if _, err := New("liif", Options{Model: "/no/such/file.safetensors"}); err == nil || !strings.Contains(err.Error(), "method liif") {
		t.Errorf("a factory's error is not passed on with the method's name: %v", err)
	}
	if _, err := New("model", Options{Params: map[string]string{"no-such": "1"}}); err == nil {
		t.Error("an unknown parameter was accepted")
	}
	seen := map[string]bool{}
	list := List()
	for i, m := range list {
		if seen[m.Name] || m.Summary == "" || i > 0 && list[i-1].Name >= m.Name {
			t.Errorf("table row %d %q: repeated, unsorted or without a summary", i, m.Name)
		}
		seen[m.Name] = true
	}
	for _, want := range []string{"model", "real", "liif", "idm", "bicubic"} {
		if !seen[want] {
			t.Errorf("method %s is not in the table", want)
		}
	}
}
