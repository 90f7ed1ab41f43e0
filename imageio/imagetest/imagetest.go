// Package imagetest makes the metadata test files need: colour profiles,
// EXIF orientation blocks and TIFF files with tags, for the tests of
// imageio and of the commands that must carry them through.
package imagetest

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// FakeICC is an n-byte (n ≥ 132) profile that looks like a real one: a
// header with its size, version 4.3, a display class in RGB with an XYZ
// connection space and the "acsp" signature, an empty tag table, then
// filler that is not the same every 256 bytes, so that a misplaced split
// shows.
func FakeICC(n int) []byte {
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p[0:], uint32(n))
	binary.BigEndian.PutUint32(p[8:], 0x04300000)
	copy(p[12:], "mntrRGB XYZ ")
	copy(p[36:], "acsp")
	for i := 132; i < n; i++ {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

// EXIFSegment is a JPEG APP1 segment holding a minimal TIFF in byte
// order bo whose IFD0 has two entries: an unrelated one first, so that a
// reader's scan is exercised, then the orientation o.
func EXIFSegment(o uint16, bo binary.ByteOrder) []byte {
	var t bytes.Buffer
	if bo == binary.LittleEndian {
		t.WriteString("II")
	} else {
		t.WriteString("MM")
	}
	w := func(v any) { _ = binary.Write(&t, bo, v) }
	w(uint16(42))
	w(uint32(8)) // IFD0 right after the header
	w(uint16(2))
	w(uint16(0x010F)) // make: ASCII, 4 bytes
	w(uint16(2))
	w(uint32(4))
	t.WriteString("Go\x00\x00")
	w(uint16(0x0112)) // orientation: one SHORT
	w(uint16(3))
	w(uint32(1))
	w(o)
	w(uint16(0))
	w(uint32(0)) // no next IFD
	body := append([]byte("Exif\x00\x00"), t.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(body)+2))
	return append(seg, body...)
}

// WithOrientation inserts an EXIF block with orientation o after a JPEG's
// SOI marker.
func WithOrientation(jpg []byte, o uint16) []byte {
	out := append([]byte{0xFF, 0xD8}, EXIFSegment(o, binary.BigEndian)...)
	return append(out, jpg[2:]...)
}

// TIFFTag is one extra entry of the directory TIFF writes: a SHORT
// (Short set) or an UNDEFINED byte string (Bytes).
type TIFFTag struct {
	Tag   uint16
	Short uint16
	Bytes []byte
}

// TIFF is an uncompressed little-endian TIFF of w×h pixels with spp
// samples a pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; alpha unassociated)
// of 8 or 16 bits, samples taken from v (0–65535, scaled down for 8 bits),
// its one strip first and its directory after the pixels, as many writers
// place it, with the extra tags (orientation, ICC profile) in it.
func TIFF(w, h, spp, bits int, v []uint16, extra ...TIFFTag) []byte {
	le := binary.LittleEndian
	var pix []byte
	for _, s := range v[:w*h*spp] {
		if bits == 16 {
			pix = le.AppendUint16(pix, s)
		} else {
			pix = append(pix, byte(s>>8))
		}
	}
	b := append([]byte("II*\x00"), 0, 0, 0, 0)
	b = append(b, pix...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	photometric := uint16(2)
	if spp <= 2 {
		photometric = 1
	}
	type entry struct {
		tag, typ uint16
		count    uint32
		data     []byte // the value bytes
	}
	short := func(tag uint16, vs ...uint16) entry {
		var d []byte
		for _, x := range vs {
			d = le.AppendUint16(d, x)
		}
		return entry{tag, 3, uint32(len(vs)), d}
	}
	long := func(tag uint16, x uint32) entry { return entry{tag, 4, 1, le.AppendUint32(nil, x)} }
	bps := make([]uint16, spp)
	for i := range bps {
		bps[i] = uint16(bits)
	}
	es := []entry{short(256, uint16(w)), short(257, uint16(h)), short(258, bps...), short(259, 1), short(262, photometric),
		long(273, 8), short(277, uint16(spp)), short(278, uint16(h)), long(279, uint32(len(pix)))}
	if spp == 2 || spp == 4 {
		es = append(es, short(338, 2))
	}
	for _, x := range extra {
		if x.Bytes != nil {
			es = append(es, entry{x.Tag, 7, uint32(len(x.Bytes)), x.Bytes})
		} else {
			es = append(es, short(x.Tag, x.Short))
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return int(a.tag) - int(b.tag) })
	ifd := len(b)
	le.PutUint32(b[4:], uint32(ifd))
	// Values longer than four bytes go after the directory.
	data := ifd + 2 + 12*len(es) + 4
	var tail []byte
	b = le.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.count)
		if len(e.data) <= 4 {
			b = append(b, append(e.data, make([]byte, 4-len(e.data))...)...)
			continue
		}
		b = le.AppendUint32(b, uint32(data+len(tail)))
		tail = append(tail, e.data...)
		if len(tail)%2 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0) // no next directory
	return append(b, tail...)
}
