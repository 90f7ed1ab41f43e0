package imageio

import (
	"bytes"
	"encoding/binary"
)

// jpegSegments calls f with the marker and payload of every segment of a
// JPEG file before its first scan, in order, until f returns false. It stops
// silently at the first malformed segment, so callers see only segments
// that are whole.
func jpegSegments(data []byte, f func(marker byte, seg []byte) bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return
		}
		marker := data[p+1]
		if marker == 0xFF { // fill byte
			p++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan / end of image: metadata is over
			return
		}
		if marker >= 0xD0 && marker <= 0xD7 || marker == 0x01 { // markers without a length
			p += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return
		}
		if !f(marker, data[p+4:p+2+n]) {
			return
		}
		p += 2 + n
	}
}

// Orient returns m transformed for display according to an EXIF
// orientation value: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate
// 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise. Values
// outside 2–8 return m itself.
func Orient(m *Image, o int) *Image {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.W, m.H
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	// src maps a destination pixel to the stored pixel it shows.
	var src func(x, y int) int
	switch o {
	case 2:
		src = func(x, y int) int { return y*w + (w - 1 - x) }
	case 3:
		src = func(x, y int) int { return (h-1-y)*w + (w - 1 - x) }
	case 4:
		src = func(x, y int) int { return (h-1-y)*w + x }
	case 5:
		src = func(x, y int) int { return x*w + y }
	case 6:
		src = func(x, y int) int { return (h-1-x)*w + y }
	case 7:
		src = func(x, y int) int { return (h-1-x)*w + (w - 1 - y) }
	case 8:
		src = func(x, y int) int { return x*w + (w - 1 - y) }
	}
	d := &Image{W: dw, H: dh, Gray: m.Gray, Depth: m.Depth, ICC: m.ICC, EXIF: m.EXIF, JPEGQuality: m.JPEGQuality, Pix: make([]float32, len(m.Pix))}
	if m.Alpha != nil {
		d.Alpha = make([]float32, len(m.Alpha))
	}
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			i, s := y*dw+x, src(x, y)
			copy(d.Pix[3*i:3*i+3], m.Pix[3*s:3*s+3])
			if d.Alpha != nil {
				d.Alpha[i] = m.Alpha[s]
			}
		}
	}
	return d
}

// exifMarker opens the APP1 segment that holds a JPEG's EXIF block.
const exifMarker = "Exif\x00\x00"

// MaxEXIF is the largest EXIF block carried from an input to its outputs:
// what one JPEG APP1 segment holds, so that every output format can carry
// it. A larger one (rare: long maker notes) is left out.
const MaxEXIF = 65535 - 2 - len(exifMarker)

// jpegEXIF returns the TIFF structure of a JPEG's EXIF block, or nil.
func jpegEXIF(data []byte) []byte {
	var b []byte
	jpegSegments(data, func(marker byte, seg []byte) bool {
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte(exifMarker)) {
			b = seg[len(exifMarker):]
			return false
		}
		return true
	})
	return b
}

// exifOf returns a file's EXIF block (a TIFF structure, as PNG's eXIf
// chunk holds it: capture time, camera, exposure, GPS…) made upright: its
// orientation, which Decode applies to the pixels, is set to 1, so that
// viewers do not turn the outputs a second time. It is nil when there is
// none, or it is malformed or over MaxEXIF.
func exifOf(format string, data []byte) []byte {
	b := rawEXIF(format, data)
	if len(b) < 8 || len(b) > MaxEXIF || !isTIFF(b) {
		return nil
	}
	b = bytes.Clone(b)
	if typ, count, v, bo, ok := tiffTag(b, tagOrientation); ok && typ == 3 && count == 1 {
		bo.PutUint16(v, 1) // v is b's own bytes
	}
	return b
}

// rawEXIF returns the EXIF block (a TIFF structure) that a JPEG, PNG or
// WebP file holds, as it is there, or nil.
func rawEXIF(format string, data []byte) []byte {
	switch format {
	case "jpeg":
		return jpegEXIF(data)
	case "png":
		return pngChunk(data, "eXIf")
	case "webp":
		return bytes.TrimPrefix(webpChunk(data, "EXIF"), []byte(exifMarker)) // some writers keep the JPEG prefix
	}
	return nil
}

// jpegEXIFSegment is an APP1 segment holding the EXIF block b.
func jpegEXIFSegment(b []byte) []byte {
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(exifMarker)+len(b)))
	seg = append(seg, exifMarker...)
	return append(seg, b...)
}
