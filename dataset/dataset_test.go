package dataset

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// Every crop is one of the 8 flips/rotations of a window of the photo.
func TestCropIsARotatedWindow(t *testing.T) {
	p := Photo{W: 5, H: 4, Pix: make([]uint8, 5*4*3)}
	for i := range p.Pix {
		p.Pix[i] = uint8(i)
	}
	s := &Set{Photos: []Photo{p}}
	rng := rand.New(rand.NewPCG(1, 1))
	seen := map[[4]float32]bool{}
	for it := 0; it < 200; it++ {
		dst := make([]float32, 3*3*3)
		s.Crop(rng, 3, dst)
		// The centre pixel of a 3×3 crop is fixed by rotations and flips.
		c := dst[4*3 : 5*3]
		found := false
		for y := 1; y < 3; y++ {
			for x := 1; x < 4; x++ {
				if c[0] == float32(p.Pix[(y*5+x)*3])/255 {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("crop centre %v is not an interior pixel", c)
		}
		seen[[4]float32{dst[0], dst[2*3], dst[6*3], dst[8*3]}] = true
	}
	if len(seen) < 8 {
		t.Fatalf("only %d distinct crops in 200 draws: augmentation missing", len(seen))
	}
}

func TestLoadDirs(t *testing.T) {
	dir := t.TempDir()
	big, small := imageio.New(8, 8), imageio.New(2, 2)
	if err := imageio.Write(filepath.Join(dir, "a.png"), big); err != nil {
		t.Fatal(err)
	}
	if err := imageio.Write(filepath.Join(dir, "sub", "b.png"), small); err == nil {
		t.Fatal("writing into a missing folder should fail")
	}
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	if err := imageio.Write(filepath.Join(dir, "sub", "b.png"), small); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	s, err := LoadDirs([]string{dir}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Photos) != 1 || s.Photos[0].W != 8 {
		t.Fatalf("want only the 8x8 photo, got %d photos", len(s.Photos))
	}
	if _, err := LoadDirs([]string{dir}, 100); err == nil {
		t.Fatal("no usable photo must be an error")
	}
	if _, err := LoadDirs([]string{filepath.Join(dir, "missing")}, 1); err == nil {
		t.Fatal("a missing folder must be an error")
	}
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not a png"), 0o644)
	if _, err := LoadDirs([]string{dir}, 4); err == nil {
		t.Fatal("a corrupt image must be reported")
	}
}

// TestHeldOut checks the held-out split: listed files are left out of a
// folder and are all that DIR@heldout lists, matched on folder and name.
func TestHeldOut(t *testing.T) {
	if n := len(heldOut); n != 24 {
		t.Fatalf("%d held-out photos, want 24", n)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "bsds500test")
	other := filepath.Join(root, "elsewhere")
	for _, d := range []string{dir, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"103029.jpg", "100007.jpg"} { // the first is held out
			if err := os.WriteFile(filepath.Join(d, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		dir  string
		want string
	}{
		{dir, "100007.jpg"},
		{dir + HeldOutSuffix, "103029.jpg"},
		{other, "100007.jpg 103029.jpg"},
		{other + HeldOutSuffix, ""},
	}
	for _, c := range cases {
		files, err := ImageFiles(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		if got := strings.Join(names, " "); got != c.want {
			t.Errorf("ImageFiles(%s) = %q, want %q", c.dir, got, c.want)
		}
	}
}
