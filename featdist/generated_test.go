package featdist

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

func writeImage(t *testing.T, path string, m *imageio.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imageio.Write(path, m); err != nil {
		t.Fatal(err)
	}
}

func TestLoadGeneratedAndSelfSSIM(t *testing.T) {
	dir := t.TempDir()
	src := randomImages(1, 3, 64, 64)
	for i, m := range src {
		for _, size := range []int{16, 32, 64} {
			r, err := resample.Image(m, size, size, resample.Options{Method: resample.Bicubic})
			if err != nil {
				t.Fatal(err)
			}
			writeImage(t, filepath.Join(dir, strconv.Itoa(size), "s"+strconv.Itoa(i)+".png"), r)
		}
	}
	// A sample only at one size is ignored by self-SSIM.
	writeImage(t, filepath.Join(dir, "64", "extra.png"), src[0])
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	groups, err := LoadGenerated(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if strings.Join(names, ",") != "16,32,64" {
		t.Fatalf("groups %v, want numeric order 16,32,64", names)
	}
	if len(groups[2].Images) != 4 {
		t.Errorf("group 64 has %d images", len(groups[2].Images))
	}
	s, n, err := SelfSSIM(groups)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || s < 0.5 || s > 1 {
		t.Errorf("self-SSIM %.3f over %d samples", s, n)
	}

	// A flat folder is one group; self-SSIM then has nothing to compare.
	flat := filepath.Join(dir, "16")
	groups, err = LoadGenerated(flat)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != "" || len(groups[0].Images) != 3 {
		t.Fatalf("flat folder: %d groups", len(groups))
	}
	if _, _, err := SelfSSIM(groups); err == nil {
		t.Error("self-SSIM of one group: no error")
	}
	if _, err := LoadGenerated(t.TempDir()); err == nil {
		t.Error("empty folder: no error")
	}
	bad := filepath.Join(t.TempDir(), "bad.png")
	if err := os.WriteFile(bad, []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGenerated(filepath.Dir(bad)); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("corrupt image: %v", err)
	}
}
