package baseline

import (
	"strings"
	"testing"
)

func TestIsRandom(t *testing.T) {
	for _, c := range []struct {
		model string
		ok    bool
		err   string
	}{
		{"random:liif", true, ""}, {"x.safetensors", false, ""}, {"random:lif", false, "random:liif"}, {"random:", false, "random:liif"},
	} {
		ok, err := IsRandom(c.model, "liif")
		if ok != c.ok || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("IsRandom(%q) = %v, %v", c.model, ok, err)
		}
	}
}
