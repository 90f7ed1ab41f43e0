package imageio

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
)

// isGIF reports whether data starts with a GIF signature.
func isGIF(data []byte) bool {
	return bytes.HasPrefix(data, []byte("GIF87a")) || bytes.HasPrefix(data, []byte("GIF89a"))
}

func gifConfig(b []byte) (image.Config, error) { return gif.DecodeConfig(bytes.NewReader(b)) }

// gifDecode decodes a still GIF. An animation is refused rather than cut
// to its first frame without a word.
func gifDecode(b []byte) (image.Image, error) {
	if n := gifFrames(b); n > 1 {
		return nil, fmt.Errorf("animated GIF of %d frames: zoomdiff upscales still images (save the frame you want as PNG)", n)
	}
	return gif.Decode(bytes.NewReader(b))
}

// gifFrames counts the image descriptors of a GIF file by walking its
// blocks, without decoding any; a malformed file counts what was found
// before the damage.
func gifFrames(b []byte) int {
	if len(b) < 13 {
		return 0
	}
	p := 13
	if b[10]&0x80 != 0 { // global colour table
		p += 3 << (b[10]&7 + 1)
	}
	n := 0
	for p < len(b) {
		switch b[p] {
		case 0x21: // extension: introducer, label, data sub-blocks
			p = skipGIFSubBlocks(b, p+2)
		case 0x2C: // image descriptor, local colour table, LZW code size, data sub-blocks
			n++
			if p+10 > len(b) {
				return n
			}
			flags := b[p+9]
			p += 10
			if flags&0x80 != 0 {
				p += 3 << (flags&7 + 1)
			}
			p = skipGIFSubBlocks(b, p+1)
		default: // trailer (0x3B) or damage
			return n
		}
	}
	return n
}

// skipGIFSubBlocks returns the offset after the data sub-blocks starting at
// p (each a length byte and that many bytes, ended by a zero length).
func skipGIFSubBlocks(b []byte, p int) int {
	for p < len(b) {
		k := int(b[p])
		p++
		if k == 0 {
			return p
		}
		p += k
	}
	return p
}
