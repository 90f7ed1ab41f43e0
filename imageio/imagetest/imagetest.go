// Package imagetest makes the metadata test files need: colour profiles
// and EXIF orientation blocks, for the tests of imageio and of the
// commands that must carry them through.
package imagetest

import (
	"bytes"
	"encoding/binary"
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
