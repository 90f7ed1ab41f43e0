package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/gif"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

func writeBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testImage is a w×h colour image with varied values (grey when gray).
func testImage(w, h int, gray bool) *imageio.Image {
	m := imageio.New(w, h)
	m.Gray = gray
	for i := range m.Pix {
		m.Pix[i] = float32((i*37)%251) / 255
		if gray {
			m.Pix[i] = float32((i/3*37)%251) / 255
		}
	}
	return m
}

func encodeTo(t *testing.T, m *imageio.Image, f imageio.Format, opt imageio.WriteOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := imageio.Encode(&b, m, f, opt); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// listFiles is every file under dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func checkSize(t *testing.T, path string, w, h int) {
	t.Helper()
	if gw, gh, err := imageio.Config(path); err != nil || gw != w || gh != h {
		t.Errorf("%s: %dx%d (%v), want %dx%d", path, gw, gh, err, w, h)
	}
}

// folderTree writes the input tree of the folder tests under root/in:
// three images (one a JPEG turned by EXIF, one BMP, in sub-folders), a
// corrupt PNG and a text file. It returns root/in and the outputs one
// bicubic ×2 run of it writes.
func folderTree(t *testing.T, root string) (in string, outputs []string) {
	t.Helper()
	in = filepath.Join(root, "in")
	writeBytes(t, filepath.Join(in, "a.png"), encodeTo(t, testImage(12, 8, false), imageio.PNG, imageio.WriteOptions{}))
	// Stored 8×4, displayed 4×8: orientation 6 is a quarter turn.
	jpg := imagetest.WithOrientation(encodeTo(t, testImage(8, 4, false), imageio.JPEG, imageio.WriteOptions{}), 6)
	writeBytes(t, filepath.Join(in, "sub1", "b.JPG"), jpg)
	var bm bytes.Buffer
	if err := bmp.Encode(&bm, testImage(6, 5, false).ToImage(false)); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, filepath.Join(in, "sub2", "c.bmp"), bm.Bytes())
	writeBytes(t, filepath.Join(in, "sub2", "bad.png"), []byte("\x89PNG\r\n\x1a\nthis is not a PNG"))
	writeBytes(t, filepath.Join(in, "notes.txt"), []byte("not an image"))
	return in, []string{"a.png", "sub1/b.JPG", "sub2/c.png"}
}

// Folder mode upscales every image in the tree to the same relative path,
// reports the corrupt one and fails at the end, and skips what exists
// unless --overwrite.
func TestUpscaleFolder(t *testing.T) {
	root := t.TempDir()
	in, want := folderTree(t, root)
	out := filepath.Join(root, "out")
	args := []string{in, "-o", out, "--scale", "2", "--method", "bicubic", "--quiet"}
	var err error
	stderr := captureStderr(t, func() { err = runUpscale(args) })
	if err == nil || !strings.Contains(err.Error(), "1 of 4 files failed") || !strings.Contains(err.Error(), "bad.png") {
		t.Fatalf("error %v, want one saying 1 of 4 files failed, naming bad.png", err)
	}
	if !strings.Contains(stderr, filepath.Join("sub2", "bad.png")) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--quiet printed %q, want one line naming sub2/bad.png", stderr)
	}
	if got := listFiles(t, out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("outputs %q, want %q", got, want)
	}
	checkSize(t, filepath.Join(out, "a.png"), 24, 16)
	checkSize(t, filepath.Join(out, "sub1", "b.JPG"), 8, 16)
	checkSize(t, filepath.Join(out, "sub2", "c.png"), 12, 10)
	// The rotation is applied to the pixels, and the EXIF block comes
	// along upright (orientation 1), so a viewer does not turn it again:
	// read back, the output is 8×16 as written.
	if b, _ := os.ReadFile(filepath.Join(out, "sub1", "b.JPG")); !bytes.Contains(b, []byte("Exif\x00\x00")) {
		t.Error("the JPEG output lost the input's EXIF block")
	}
	if m, err := imageio.Read(filepath.Join(out, "sub1", "b.JPG")); err != nil || m.W != 8 || m.H != 16 || m.EXIF == nil {
		t.Errorf("the JPEG output reads back turned or without EXIF (%v)", err)
	}

	// A second run skips the outputs that exist: replace one with a marker
	// and see it stay.
	marker := encodeTo(t, testImage(1, 1, false), imageio.PNG, imageio.WriteOptions{})
	writeBytes(t, filepath.Join(out, "a.png"), marker)
	stderr = captureStderr(t, func() { err = runUpscale(args[:len(args)-1]) }) // not quiet
	if err == nil || !strings.Contains(err.Error(), "1 of 4 files failed") {
		t.Errorf("second run: error %v", err)
	}
	for _, s := range []string{"skipped a.png", "skipped " + filepath.Join("sub2", "c.bmp"), "failed " + filepath.Join("sub2", "bad.png"), "0 upscaled, 3 skipped, 1 failed of 4 files"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("second run printed %q, want it to say %q", stderr, s)
		}
	}
	checkSize(t, filepath.Join(out, "a.png"), 1, 1)
	// --overwrite redoes them.
	captureStderr(t, func() { err = runUpscale(append(args, "--overwrite")) })
	if err == nil {
		t.Error("--overwrite run: bad.png did not fail")
	}
	checkSize(t, filepath.Join(out, "a.png"), 24, 16)
}

// TestUpscaleFolderOutputPlace: an output folder inside the input folder
// is not walked into, even on a second run; the input folder itself, a
// file, folder-less options and empty folders are refused.
func TestUpscaleFolderOutputPlace(t *testing.T) {
	root := t.TempDir()
	in, want := folderTree(t, root)
	out, empty := filepath.Join(root, "out"), filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(in, "up")
	var err error
	for range 2 {
		captureStderr(t, func() { err = runUpscale([]string{in, "-o", inner, "--scale", "2", "--method", "bicubic", "--quiet"}) })
		if err == nil || !strings.Contains(err.Error(), "1 of 4 files failed") {
			t.Fatalf("-o inside the input: error %v, want 1 of 4 files failed", err)
		}
	}
	if got := listFiles(t, inner); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("-o inside the input: outputs %q, want %q", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{in, "-o", in, "--scale", "2", "--method", "bicubic"}, "is the input folder"},
		{[]string{in, "-o", filepath.Join(root, "x.png"), "--scale", "2", "--method", "bicubic"}, "names the output folder"},
		{[]string{in, "-o", out, "--scale", "2", "--mean", filepath.Join(root, "m.png")}, "not for folder mode"},
		{[]string{in, "-o", out, "--scale", "2", "--method", "no-such-method"}, "unknown method"},
		{[]string{empty, "-o", filepath.Join(root, "o2"), "--scale", "2", "--method", "bicubic"}, "no images"},
	} {
		if err := runUpscale(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("upscale %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// Folder mode stops at Ctrl-C (a cancelled context) between or inside
// files, leaving complete outputs and no partial ones.
func TestUpscaleFolderInterrupted(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	for _, n := range []string{"1.png", "2.png", "3.png"} {
		writeBytes(t, filepath.Join(in, n), encodeTo(t, testImage(4, 4, false), imageio.PNG, imageio.WriteOptions{}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	f := &folderUpscale{in: in, out: out, quiet: true, stderr: io.Discard,
		outputs: func(o string) []string { return []string{o} },
		one: func(ctx context.Context, in, out string, _ func(string, int, int)) error {
			calls++
			return atomicfile.Write(out, func(w io.Writer) error {
				w.Write([]byte("half an image"))
				if calls == 2 {
					cancel() // Ctrl-C in the middle of the second file
					return ctx.Err()
				}
				return nil
			})
		}}
	err := f.run(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted after 1 of 3") {
		t.Errorf("error %v, want an interruption after 1 of 3 files", err)
	}
	if got := listFiles(t, out); strings.Join(got, " ") != "1.png" || calls != 2 {
		t.Errorf("left %q after %d calls, want only 1.png after 2", got, calls)
	}
}

// The model path in folder mode, on tiny images: a 16-bit grey PNG with a
// colour profile is streamed as a 16-bit grey PNG that keeps more than 8
// bits and the profile, a 16-bit colour PNG stays 16-bit colour, and a
// JPEG keeps its profile.
func TestUpscaleFolderModel(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	m := testImage(12, 12, true)
	for i := range m.Pix {
		m.Pix[i] = float32((i/3*1009+123)%65536) / 65535
	}
	prof := imagetest.FakeICC(700)
	m.ICC = prof
	writeBytes(t, filepath.Join(in, "g", "grey16.png"), encodeTo(t, m, imageio.PNG, imageio.WriteOptions{Bits16: true}))
	c := testImage(12, 10, false)
	c.ICC = prof
	writeBytes(t, filepath.Join(in, "c.jpg"), encodeTo(t, c, imageio.JPEG, imageio.WriteOptions{}))
	writeBytes(t, filepath.Join(in, "rgb16.png"), encodeTo(t, c, imageio.PNG, imageio.WriteOptions{Bits16: true, ICC: []byte{}}))
	if err := runUpscale([]string{in, "-o", out, "--scale", "2", "--steps", "1", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	if info, err := imageio.Probe(filepath.Join(out, "c.jpg")); err != nil || !bytes.Equal(info.ICC, prof) || info.W != 24 {
		t.Errorf("model JPEG output: %+v (%v), want 24 wide with the input's profile", info, err)
	}
	if rgb, ok := decodeFile(t, filepath.Join(out, "rgb16.png"), png.Decode).(*image.RGBA64); !ok || !has16(rgb.Pix) {
		t.Errorf("model output of a 16-bit colour PNG is not 16-bit colour with more than 8 bits")
	}
	path := filepath.Join(out, "g", "grey16.png")
	img := decodeFile(t, path, png.Decode)
	g, ok := img.(*image.Gray16)
	if !ok || g.Bounds().Dx() != 24 || g.Bounds().Dy() != 24 {
		t.Fatalf("model output is %T %v, want a 24×24 *image.Gray16", img, img.Bounds())
	}
	if !has16(g.Pix) {
		t.Error("the model's 16-bit output holds only 8-bit values")
	}
	if info, err := imageio.Probe(path); err != nil || !bytes.Equal(info.ICC, prof) {
		t.Errorf("model output profile %d bytes (%v), want the input's %d", len(info.ICC), err, len(prof))
	}
}

// has16 reports whether big-endian 16-bit samples include one that 8 bits
// cannot represent (not a multiple of 257).
func has16(pix []byte) bool {
	for i := 0; i+1 < len(pix); i += 2 {
		if (uint16(pix[i])<<8|uint16(pix[i+1]))%257 != 0 {
			return true
		}
	}
	return false
}

// A 16-bit PNG gives a 16-bit PNG without --16, keeping more than 8 bits;
// an 8-bit one stays 8-bit.
func TestUpscaleKeeps16Bits(t *testing.T) {
	dir := t.TempDir()
	m := testImage(10, 8, false)
	for i := range m.Pix {
		m.Pix[i] = float32((i*2039+77)%65536) / 65535
	}
	in16, in8 := filepath.Join(dir, "in16.png"), filepath.Join(dir, "in8.png")
	writeBytes(t, in16, encodeTo(t, m, imageio.PNG, imageio.WriteOptions{Bits16: true}))
	writeBytes(t, in8, encodeTo(t, m, imageio.PNG, imageio.WriteOptions{}))
	out16, out8 := filepath.Join(dir, "out16.png"), filepath.Join(dir, "out8.png")
	for _, c := range [][2]string{{in16, out16}, {in8, out8}} {
		if err := runUpscale([]string{c[0], "-o", c[1], "--scale", "2", "--method", "bicubic", "--quiet"}); err != nil {
			t.Fatal(err)
		}
	}
	img := decodeFile(t, out16, png.Decode)
	var pix []byte
	switch o := img.(type) {
	case *image.RGBA64:
		pix = o.Pix
	case *image.NRGBA64:
		pix = o.Pix
	default:
		t.Fatalf("16-bit input gave %T", img)
	}
	if !has16(pix) {
		t.Error("the 16-bit output holds only 8-bit values")
	}
	if info, err := imageio.Probe(out8); err != nil || info.Depth != 8 {
		t.Errorf("8-bit input gave depth %d (%v)", info.Depth, err)
	}
}

// The input's ICC profile is embedded, byte for byte, in PNG and JPEG
// output, from PNG and JPEG input (a profile over one APP2 segment too).
func TestUpscaleKeepsICC(t *testing.T) {
	dir := t.TempDir()
	prof := imagetest.FakeICC(70000)
	m := testImage(10, 8, false)
	m.ICC = prof
	inPNG, inJPG := filepath.Join(dir, "in.png"), filepath.Join(dir, "in.jpg")
	writeBytes(t, inPNG, encodeTo(t, m, imageio.PNG, imageio.WriteOptions{}))
	writeBytes(t, inJPG, encodeTo(t, m, imageio.JPEG, imageio.WriteOptions{}))
	for _, c := range [][2]string{{inPNG, "png2png.png"}, {inJPG, "jpg2jpg.jpg"}, {inJPG, "jpg2png.png"}, {inPNG, "png2jpg.jpg"}} {
		out := filepath.Join(dir, c[1])
		if err := runUpscale([]string{c[0], "-o", out, "--scale", "1.5", "--method", "bicubic", "--quiet"}); err != nil {
			t.Fatal(err)
		}
		info, err := imageio.Probe(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(info.ICC, prof) || info.W != 15 || info.H != 12 {
			t.Errorf("%s: %dx%d with a %d-byte profile, want 15x12 with the input's %d bytes", c[1], info.W, info.H, len(info.ICC), len(prof))
		}
	}
}

// A grey input gives a grey output, PNG and JPEG, with a resampler and
// with the model.
func TestUpscaleGreyStaysGrey(t *testing.T) {
	dir := t.TempDir()
	m := testImage(12, 12, true)
	inPNG, inJPG := filepath.Join(dir, "in.png"), filepath.Join(dir, "in.jpg")
	writeBytes(t, inPNG, encodeTo(t, m, imageio.PNG, imageio.WriteOptions{}))
	writeBytes(t, inJPG, encodeTo(t, m, imageio.JPEG, imageio.WriteOptions{}))
	for _, c := range []struct {
		in, out string
		extra   []string
	}{
		{inPNG, "bicubic.png", []string{"--method", "bicubic"}},
		{inJPG, "bicubic.jpg", []string{"--method", "bicubic"}},
		{inPNG, "model.png", []string{"--steps", "1"}},
		{inPNG, "model.jpg", []string{"--steps", "1"}},
	} {
		out := filepath.Join(dir, c.out)
		if err := runUpscale(append([]string{c.in, "-o", out, "--scale", "2", "--quiet"}, c.extra...)); err != nil {
			t.Fatal(err)
		}
		g, err := imageio.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		if !g.Gray || g.W != 24 {
			t.Errorf("%s: grey %v, width %d; want a grey 24-pixel-wide image", c.out, g.Gray, g.W)
		}
	}
}

// A photographer's 16-bit TIFF with a colour profile, in folder mode:
// written as a 16-bit TIFF again, the profile kept; and as a 16-bit PNG
// when asked for one.
func TestUpscaleTIFF(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	m := testImage(10, 8, false)
	for i := range m.Pix {
		m.Pix[i] = float32((i*2039+77)%65536) / 65535
	}
	prof := imagetest.FakeICC(500)
	m.ICC = prof
	writeBytes(t, filepath.Join(in, "shot.tiff"), encodeTo(t, m, imageio.TIFF, imageio.WriteOptions{Bits16: true}))
	if err := runUpscale([]string{in, "-o", out, "--scale", "2", "--method", "bicubic", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	asPNG := filepath.Join(dir, "shot.png")
	if err := runUpscale([]string{filepath.Join(in, "shot.tiff"), "-o", asPNG, "--scale", "2", "--method", "bicubic", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(out, "shot.tiff"), asPNG} {
		info, err := imageio.Probe(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.W != 20 || info.H != 16 || info.Depth != 16 || !bytes.Equal(info.ICC, prof) {
			t.Fatalf("%s: %dx%d at %d bits with a %d-byte profile, want 20x16 at 16 bits with the input's %d bytes", path, info.W, info.H, info.Depth, len(info.ICC), len(prof))
		}
		m, err := imageio.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		held := false
		for _, v := range m.Pix {
			held = held || imageio.To16(v)%257 != 0
		}
		if !held {
			t.Errorf("%s holds only 8-bit values", path)
		}
	}
}

// a.png keeps its name whatever the walk's order: a.gif and a.webp, which
// become .png too, come first in the walk but fail, not a.png.
func TestUpscaleFolderNameClash(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	writeBytes(t, filepath.Join(in, "a.png"), encodeTo(t, testImage(6, 4, false), imageio.PNG, imageio.WriteOptions{}))
	var g bytes.Buffer
	if err := gif.Encode(&g, testImage(3, 2, false).ToImage(false), nil); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, filepath.Join(in, "a.gif"), g.Bytes())
	var err error
	stderr := captureStderr(t, func() { err = runUpscale([]string{in, "-o", out, "--scale", "2", "--method", "bicubic", "--quiet"}) })
	if err == nil || !strings.Contains(err.Error(), "1 of 2 files failed: a.gif") {
		t.Errorf("error %v, want a.gif to fail", err)
	}
	if !strings.Contains(stderr, "already the output of a.png") {
		t.Errorf("printed %q, want a.gif's output said to be a.png's", stderr)
	}
	checkSize(t, filepath.Join(out, "a.png"), 12, 8) // a.png's, not a.gif's 6×4
}
