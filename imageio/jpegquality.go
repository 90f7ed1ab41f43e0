package imageio

import "encoding/binary"

// jpegLuma is the luminance quantisation table of the JPEG standard
// (ITU T.81, Annex K), in the zig-zag order a DQT segment stores it: the
// table that IJG's libjpeg, Go's image/jpeg and most cameras and editors
// scale by the quality setting.
var jpegLuma = [64]int{
	16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
	26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
	56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
	95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
}

// ijgTable is jpegLuma scaled for quality q (1–100) as libjpeg scales it:
// by 5000/q percent below 50, by 200 − 2q percent from 50, each entry
// rounded and kept in 1–255.
func ijgTable(q int) [64]int {
	scale := 200 - 2*q
	if q < 50 {
		scale = 5000 / q
	}
	var t [64]int
	for i, v := range jpegLuma {
		t[i] = min(max((v*scale+50)/100, 1), 255)
	}
	return t
}

// jpegQualityOf is jpegQuality for a JPEG file, 0 for the other formats.
func jpegQualityOf(format string, data []byte) int {
	if format != "jpeg" {
		return 0
	}
	return jpegQuality(data)
}

// jpegQuality estimates the quality a JPEG file was saved at: the q of
// ijgTable nearest (in summed absolute difference) to the file's
// luminance table. 0 when the file has none. Encoders with tables of their
// own get the quality whose table is closest to theirs, which is what
// matters here: how coarsely the luminance was quantised.
func jpegQuality(data []byte) int {
	table := jpegLumaTable(data)
	if table == nil {
		return 0
	}
	best, bestErr := 0, -1
	for q := 1; q <= 100; q++ {
		t := ijgTable(q)
		e := 0
		for i, v := range table {
			e += max(v-t[i], t[i]-v)
		}
		if bestErr < 0 || e < bestErr {
			best, bestErr = q, e
		}
	}
	return best
}

// jpegLumaTable returns a JPEG file's luminance quantisation table (table
// 0 of the first DQT segment that defines it, in zig-zag order), or nil
// when it has none or the segment is malformed.
func jpegLumaTable(data []byte) []int {
	var table []int
	jpegSegments(data, func(marker byte, seg []byte) bool {
		if marker != 0xDB {
			return true
		}
		for len(seg) > 0 {
			precision, id := seg[0]>>4, seg[0]&15
			size := 64 << precision // 8- or 16-bit entries
			if precision > 1 || len(seg) < 1+size {
				return false
			}
			if id == 0 {
				table = make([]int, 64)
				for i := range table {
					if precision == 0 {
						table[i] = int(seg[1+i])
					} else {
						table[i] = int(binary.BigEndian.Uint16(seg[1+2*i:]))
					}
				}
				return false
			}
			seg = seg[1+size:]
		}
		return true
	})
	return table
}
