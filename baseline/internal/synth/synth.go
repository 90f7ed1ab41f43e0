// Package synth makes the small synthetic photos the baselines' tests
// train and upscale on: smooth colour waves plus a little texture, so a
// few training steps have something learnable and the tests need no
// data folder.
package synth

import (
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// Image is a w×h photo drawn from seed.
func Image(w, h int, seed uint64) *imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 7))
	var fy, fx, ph [3]float64
	for c := range 3 {
		fy[c], fx[c], ph[c] = 0.05+0.3*rng.Float64(), 0.05+0.3*rng.Float64(), 6*rng.Float64()
	}
	m := imageio.New(w, h)
	for y := range h {
		for x := range w {
			for c := range 3 {
				v := 0.5 + 0.3*math.Sin(fy[c]*float64(y)+fx[c]*float64(x)+ph[c]) + 0.05*rng.NormFloat64()
				m.Pix[(y*w+x)*3+c] = float32(min(max(v, 0), 1))
			}
		}
	}
	return m
}

// Set is a training set of n such w×h photos.
func Set(n, w, h int, seed uint64) *dataset.Set {
	s := &dataset.Set{}
	for i := range n {
		m := Image(w, h, seed+uint64(i))
		p := dataset.Photo{W: w, H: h, Pix: make([]uint8, len(m.Pix))}
		for j, v := range m.Pix {
			p.Pix[j] = imageio.To8(v)
		}
		s.Photos = append(s.Photos, p)
	}
	return s
}
