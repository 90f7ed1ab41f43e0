package dataset

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// member is one file of a test archive.
type member struct {
	name string
	data []byte
	dir  bool
}

func pngBytes(t *testing.T, w, h int, v uint8) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.NRGBA{v, uint8(x), uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tarBytes(t *testing.T, members []member, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var w = &b
	var zw *gzip.Writer
	var tw *tar.Writer
	if gz {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(w)
	}
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if m.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// classArchive has two classes of n images each (written in reverse name
// order, to check the loader sorts), a folder entry and a non-image file.
func classArchive(t *testing.T, n int) []member {
	ms := []member{{name: "train/", dir: true}, {name: "train/README.txt", data: []byte("not an image")}}
	for _, class := range []string{"dog", "cat"} {
		for i := n - 1; i >= 0; i-- {
			ms = append(ms, member{name: fmt.Sprintf("./train/%s/%04d.png", class, i), data: pngBytes(t, 8, 6, uint8(10*i))})
		}
	}
	return ms
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTarPlainAndGzip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		// The name says nothing about compression: detection is by content.
		p := writeTemp(t, "data.tar", tarBytes(t, classArchive(t, 5), gz))
		l, err := LoadTar(p, TarOptions{})
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if len(l.Photos) != 10 || len(l.Labels) != 10 {
			t.Fatalf("gz=%v: %d photos, %d labels, want 10", gz, len(l.Photos), len(l.Labels))
		}
		if strings.Join(l.Classes, ",") != "cat,dog" {
			t.Fatalf("classes %v", l.Classes)
		}
		for i, p := range l.Photos {
			wantClass := i / 5
			if l.Labels[i] != wantClass {
				t.Errorf("photo %d (%s) label %d, want %d", i, p.Name, l.Labels[i], wantClass)
			}
			if want := fmt.Sprintf("/%04d.png", i%5); !strings.HasSuffix(p.Name, want) {
				t.Errorf("photo %d is %s, want sorted by name (…%s)", i, p.Name, want)
			}
			if p.W != 8 || p.H != 6 || p.Pix[0] != uint8(10*(i%5)) || p.Pix[3*9+1] != 1 {
				t.Errorf("photo %d pixels wrong: %dx%d %v", i, p.W, p.H, p.Pix[:6])
			}
		}
		img := l.Photos[1].Image()
		if img.W != 8 || img.Pix[0] != 10.0/255 {
			t.Errorf("Image(): %dx%d first value %v", img.W, img.H, img.Pix[0])
		}
	}
}

func TestLoadTarMinSideAndLimit(t *testing.T) {
	ms := classArchive(t, 3)
	ms = append(ms, member{name: "tiny/a.png", data: pngBytes(t, 2, 2, 0)})
	p := writeTemp(t, "d.tgz", tarBytes(t, ms, true))
	l, err := LoadTar(p, TarOptions{MinSide: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Photos) != 6 || len(l.Classes) != 2 {
		t.Fatalf("MinSide: %d photos in %v", len(l.Photos), l.Classes)
	}
	l, err = LoadTar(p, TarOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Photos) != 2 {
		t.Fatalf("Limit: %d photos", len(l.Photos))
	}
}

func TestLoadTarCorruptMember(t *testing.T) {
	ms := classArchive(t, 2)
	bad := pngBytes(t, 8, 8, 1)
	bad = bad[:len(bad)/2] // a cut PNG: the header parses, the pixels do not
	ms = append(ms, member{name: "train/cat/broken.png", data: bad})
	for _, gz := range []bool{false, true} {
		_, err := ReadTar(bytes.NewReader(tarBytes(t, ms, gz)), TarOptions{})
		if err == nil || !strings.Contains(err.Error(), "train/cat/broken.png") {
			t.Errorf("gz=%v: error %v, want one naming the broken member", gz, err)
		}
	}
	ms[len(ms)-1].data = []byte("garbage, not an image at all")
	_, err := ReadTar(bytes.NewReader(tarBytes(t, ms, true)), TarOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Errorf("garbage member: error %v", err)
	}
}

func TestLoadTarTruncated(t *testing.T) {
	ms := classArchive(t, 6)
	for _, gz := range []bool{false, true} {
		full := tarBytes(t, ms, gz)
		// Every cut must give an error, never a panic or a silent short set.
		cuts := []int{len(full) * 3 / 10, len(full) / 2, len(full) * 77 / 100, len(full) * 95 / 100}
		if !gz {
			// Exactly between members, and just before the end marker.
			cuts = append(cuts, 3*512, len(full)-1024)
		}
		for _, n := range cuts {
			frac := float64(n) / float64(len(full))
			cut := full[:n]
			_, err := ReadTar(bytes.NewReader(cut), TarOptions{})
			if err == nil {
				t.Errorf("gz=%v cut at %.0f%%: no error", gz, 100*frac)
				continue
			}
			if !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "member") {
				t.Errorf("gz=%v cut at %.0f%%: error %q does not say where", gz, 100*frac, err)
			}
		}
	}
	// A gzip file whose last bytes (the CRC and length trailer) are gone
	// still inflates completely; only the trailer check can notice.
	full := tarBytes(t, ms, true)
	if _, err := ReadTar(bytes.NewReader(full[:len(full)-4]), TarOptions{}); err == nil {
		t.Error("gzip without its trailer: no error")
	}
	corrupt := append([]byte(nil), full...)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC
	if _, err := ReadTar(bytes.NewReader(corrupt), TarOptions{}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("bad gzip checksum: error %v", err)
	}
	if _, err := LoadTar(filepath.Join(t.TempDir(), "missing.tar"), TarOptions{}); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := ReadTar(bytes.NewReader(nil), TarOptions{}); err == nil {
		t.Error("empty archive: no error")
	}
}

func TestSplit(t *testing.T) {
	l, err := ReadTar(bytes.NewReader(tarBytes(t, classArchive(t, 10), true)), TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, held, err := l.Split(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(train.Photos) != 14 || len(held.Photos) != 6 {
		t.Fatalf("split 3/class of 2×10: %d train, %d held", len(train.Photos), len(held.Photos))
	}
	names := map[string]bool{}
	per := map[int]int{}
	for i, p := range held.Photos {
		names[p.Name] = true
		per[held.Labels[i]]++
	}
	if per[0] != 3 || per[1] != 3 {
		t.Errorf("held per class %v, want 3 each", per)
	}
	for _, p := range train.Photos {
		if names[p.Name] {
			t.Errorf("%s is in both halves", p.Name)
		}
	}
	// Spread out: not the first three or last three of a class.
	if !strings.HasSuffix(held.Photos[0].Name, "0003.png") || !strings.HasSuffix(held.Photos[2].Name, "0009.png") {
		t.Errorf("held cat images %s %s %s", held.Photos[0].Name, held.Photos[1].Name, held.Photos[2].Name)
	}
	again, _, _ := l.Split(3)
	for i := range again.Photos {
		if again.Photos[i].Name != train.Photos[i].Name {
			t.Fatal("split is not deterministic")
		}
	}
	if _, _, err := l.Split(10); err == nil {
		t.Error("holding back a whole class: no error")
	}
	if sub := l.PerClass(4); len(sub.Photos) != 8 {
		t.Errorf("PerClass(4): %d photos", len(sub.Photos))
	}
}

// TestLoadCIFAR reads the real archive when the shared data is present.
func TestLoadCIFAR(t *testing.T) {
	root, err := DataDir()
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	p := filepath.Join(root, "gen", "cifar10-train.tar.gz")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no CIFAR-10 archive: %v", err)
	}
	if testing.Short() {
		t.Skip("reading 50,000 JPEGs takes seconds")
	}
	l, err := LoadTar(p, TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Photos) != 50000 || len(l.Classes) != 10 {
		t.Fatalf("%d photos in %d classes", len(l.Photos), len(l.Classes))
	}
	train, held, err := l.Split(500)
	if err != nil {
		t.Fatal(err)
	}
	if len(train.Photos) != 45000 || len(held.Photos) != 5000 {
		t.Fatalf("split: %d / %d", len(train.Photos), len(held.Photos))
	}
	t.Logf("classes %v", l.Classes)
}

// A source without images says so, and names a least size only when one
// was asked for ("of at least 0 px" read as a broken check).
func TestNoImagesMessage(t *testing.T) {
	p := writeTemp(t, "notes.tar", tarBytes(t, []member{{name: "a/notes.txt", data: []byte("x")}}, true))
	if _, err := LoadTar(p, TarOptions{}); err == nil || !strings.Contains(err.Error(), "no images") || strings.Contains(err.Error(), "at least") {
		t.Errorf("archive without images: %v", err)
	}
	empty := t.TempDir()
	if _, err := LoadDirs([]string{empty}, 1); err == nil || !strings.Contains(err.Error(), "no images") || strings.Contains(err.Error(), "at least") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := LoadDirs([]string{empty}, 32); err == nil || !strings.Contains(err.Error(), "at least 32 px") {
		t.Errorf("empty folder, 32-pixel photos wanted: %v", err)
	}
}
