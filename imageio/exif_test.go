package imageio

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"slices"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio/imagetest"
)

// A JPEG's EXIF block is kept, upright (orientation 1, the other tags as
// they were), and written again into PNG and JPEG output, where it reads
// back the same and turns nothing twice (pngstream's tests check the
// streamed PNG).
func TestEXIFCarriedUpright(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, quadrants(), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		data := append([]byte{0xFF, 0xD8}, imagetest.EXIFSegment(6, bo)...)
		data = append(data, plain.Bytes()[2:]...)
		m, err := Decode(data, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.W != 16 || m.H != 32 || m.EXIF == nil {
			t.Fatalf("%v: %dx%d, EXIF %v; want the picture turned and its EXIF kept", bo, m.W, m.H, m.EXIF != nil)
		}
		if o := tiffOrientation(m.EXIF); o != 1 {
			t.Errorf("%v: kept EXIF says orientation %d, want 1", bo, o)
		}
		if _, _, v, _, ok := tiffTag(m.EXIF, 0x010F); !ok || string(v) != "Go\x00\x00" {
			t.Errorf("%v: the camera make tag came back as %q", bo, v)
		}
		outs := map[string][]byte{}
		for name, f := range map[string]Format{"PNG": PNG, "JPEG": JPEG} {
			var b bytes.Buffer
			if err := Encode(&b, m, f, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			outs[name] = b.Bytes()
		}
		for name, b := range outs {
			back, err := Decode(b, ReadOptions{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(back.EXIF, m.EXIF) || back.W != 16 || back.H != 32 {
				t.Errorf("%v %s: read back %dx%d with EXIF %x, want 16x32 with %x", bo, name, back.W, back.H, back.EXIF, m.EXIF)
			}
		}
		var none bytes.Buffer
		if err := Encode(&none, m, JPEG, WriteOptions{EXIF: []byte{}}); err != nil {
			t.Fatal(err)
		}
		if back, _ := Decode(none.Bytes(), ReadOptions{}); back == nil || back.EXIF != nil {
			t.Errorf("%v: an empty WriteOptions.EXIF still wrote the block", bo)
		}
	}
}

// EXIF blocks that are not TIFF structures, or too large for one APP1
// segment, are left out on reading and refused on writing.
func TestEXIFBounds(t *testing.T) {
	if exifOf("png", append([]byte("\x89PNG\r\n\x1a\n"), PNGChunk("eXIf", []byte("not a TIFF at all"))...)) != nil {
		t.Error("a malformed eXIf chunk was kept")
	}
	big := append([]byte("II*\x00\x08\x00\x00\x00"), make([]byte, MaxEXIF)...)
	if exifOf("png", append([]byte("\x89PNG\r\n\x1a\n"), PNGChunk("eXIf", big)...)) != nil {
		t.Error("an EXIF block over MaxEXIF was kept")
	}
	m := New(2, 2)
	if err := Encode(&bytes.Buffer{}, m, JPEG, WriteOptions{EXIF: big}); err == nil {
		t.Error("an EXIF block over MaxEXIF was written")
	}
}

// A PNG's eXIf orientation is applied to its pixels as a JPEG's is, since
// the EXIF carried to the outputs says 1: an output must not show the
// picture turned otherwise than its input did. Config swaps the sides too.
func TestPNGEXIFOrientationApplied(t *testing.T) {
	seg := imagetest.EXIFSegment(6, binary.LittleEndian)
	m := FromImage(quadrants())
	var b bytes.Buffer
	if err := Encode(&b, m, PNG, WriteOptions{EXIF: seg[4+len(exifMarker):]}); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b.Bytes(), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.W != 16 || back.H != 32 {
		t.Fatalf("%dx%d, want the 32x16 picture turned to 16x32", back.W, back.H)
	}
	if want := Orient(m, 6); !slices.Equal(back.Pix, want.Pix) {
		t.Error("pixels not turned as orientation 6 says")
	}
	if o := tiffOrientation(back.EXIF); o != 1 {
		t.Errorf("kept EXIF says orientation %d, want 1", o)
	}
	if in, err := ProbeBytes(b.Bytes()); err != nil || in.W != 16 || in.H != 32 {
		t.Errorf("probed %dx%d (%v), want 16x32", in.W, in.H, err)
	}
}
