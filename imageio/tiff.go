package imageio

import (
	"bytes"
	"encoding/binary"
	"image"

	"golang.org/x/image/tiff"
)

// TIFF tags read from the first image file directory.
const (
	tagBitsPerSample = 258
	tagPhotometric   = 262
	tagOrientation   = 0x0112
	tagICCProfile    = 34675
)

// tiffTypeSize is the size in bytes of one value of each TIFF field type
// (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG,
// SRATIONAL, FLOAT, DOUBLE); 0 for unknown types.
var tiffTypeSize = [...]int{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// isTIFF reports whether data starts with a TIFF header (either byte
// order).
func isTIFF(data []byte) bool {
	return bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*"))
}

// tiffTag finds tag in the first image file directory of a TIFF structure
// t (a TIFF file, or the body of an EXIF block) and returns its type, its
// value count, its value bytes (in the field or at their offset) and the
// byte order. ok is false when the tag is absent or any part of the
// structure it needs is malformed: metadata that cannot be read counts as
// none, since the pixels are still good.
func tiffTag(t []byte, tag uint16) (typ uint16, count uint32, value []byte, bo binary.ByteOrder, ok bool) {
	if len(t) < 8 {
		return 0, 0, nil, nil, false
	}
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, 0, nil, nil, false
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0, 0, nil, nil, false
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 0, 0, nil, nil, false
	}
	entries := int64(bo.Uint16(t[ifd:]))
	for i := int64(0); i < entries; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 0, 0, nil, nil, false
		}
		if bo.Uint16(t[e:]) != tag {
			continue
		}
		typ, count = bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		if int(typ) >= len(tiffTypeSize) || tiffTypeSize[typ] == 0 {
			return 0, 0, nil, nil, false
		}
		n := int64(count) * int64(tiffTypeSize[typ])
		if n <= 4 {
			return typ, count, t[e+8 : e+8+n], bo, true
		}
		off := int64(bo.Uint32(t[e+8:]))
		if off < 8 || off+n > int64(len(t)) {
			return 0, 0, nil, nil, false
		}
		return typ, count, t[off : off+n], bo, true
	}
	return 0, 0, nil, nil, false
}

// tiffShort returns the first value of a SHORT tag, or 0 when it is absent
// or not a SHORT.
func tiffShort(t []byte, tag uint16) int {
	typ, count, v, bo, ok := tiffTag(t, tag)
	if !ok || typ != 3 || count < 1 {
		return 0
	}
	return int(bo.Uint16(v))
}

// tiffOrientation is the orientation tag (1–8) of a TIFF structure, or 0
// when absent or invalid.
func tiffOrientation(t []byte) int {
	if o := tiffShort(t, tagOrientation); o >= 1 && o <= 8 {
		return o
	}
	return 0
}

// tiffICC is the ICC profile a TIFF file embeds (tag 34675), or nil.
func tiffICC(t []byte) []byte {
	typ, _, v, _, ok := tiffTag(t, tagICCProfile)
	if !ok || (typ != 7 && typ != 1) || len(v) == 0 || len(v) > MaxICC {
		return nil
	}
	return bytes.Clone(v)
}

// tiffDepth is a TIFF file's bits per sample: 16 when its samples are 16
// bits (x/image/tiff then decodes 16-bit images), else 8.
func tiffDepth(t []byte) int {
	if tiffShort(t, tagBitsPerSample) == 16 {
		return 16
	}
	return 8
}

// tiffGray reports whether a TIFF file is greyscale (photometric
// interpretation 0 or 1), with or without alpha.
func tiffGray(t []byte) bool {
	typ, count, v, bo, ok := tiffTag(t, tagPhotometric)
	return ok && typ == 3 && count >= 1 && bo.Uint16(v) <= 1
}

func tiffConfig(b []byte) (image.Config, error) { return tiff.DecodeConfig(bytes.NewReader(b)) }

func tiffDecode(b []byte) (image.Image, error) { return tiff.Decode(bytes.NewReader(b)) }
