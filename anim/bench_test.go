package anim

import (
	"image"
	"testing"
)

// BenchmarkMedianCut times the palette of a 30-frame 256×256 animation.
func BenchmarkMedianCut(b *testing.B) {
	fr := testFrames(30, 256, 256, false)
	fs := make([]*image.NRGBA, len(fr))
	for i, f := range fr {
		fs[i] = f.(*image.NRGBA)
	}
	for b.Loop() {
		MedianCut(fs, 256)
	}
}
