package anim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestZZPin(t *testing.T) {
	out := os.Getenv("PIN_OUT")
	if out == "" {
		t.Skip()
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var lines string
	for trial := 0; trial < 8; trial++ {
		w, h := 1+rng.IntN(40), 1+rng.IntN(30)
		var frames []image.Image
		for f := 0; f < 1+trial%4; f++ {
			m := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i := range m.Pix {
				switch trial % 3 {
				case 0:
					m.Pix[i] = byte(rng.IntN(256))
				case 1:
					m.Pix[i] = byte(i % 7 * 30)
				default:
					m.Pix[i] = byte(rng.IntN(2) * 255)
				}
				if i%4 == 3 && trial%2 == 0 {
					m.Pix[i] = 255
				}
			}
			frames = append(frames, m)
		}
		opt := Options{Delay: time.Duration(trial) * 37 * time.Millisecond, Plays: trial % 3}
		var a, g bytes.Buffer
		if err := EncodeAPNG(&a, frames, opt); err != nil {
			t.Fatal(err)
		}
		if err := EncodeGIF(&g, frames, opt); err != nil {
			t.Fatal(err)
		}
		lines += fmt.Sprintf("%d apng %x gif %x\n", trial, sha256.Sum256(a.Bytes()), sha256.Sum256(g.Bytes()))
	}
	for _, bad := range [][]image.Image{nil, {nil}, {image.NewNRGBA(image.Rect(0, 0, 2, 2)), image.NewNRGBA(image.Rect(0, 0, 3, 2))}} {
		lines += fmt.Sprintln(EncodeAPNG(&bytes.Buffer{}, bad, Options{}), EncodeGIF(&bytes.Buffer{}, bad, Options{}))
	}
	lines += fmt.Sprintln(EncodeAPNG(&bytes.Buffer{}, []image.Image{image.NewNRGBA(image.Rect(0, 0, 2, 2))}, Options{Plays: -1}))
	lines += fmt.Sprintln(WriteAPNG("/nonexistent/x.png", []image.Image{image.NewNRGBA(image.Rect(0, 0, 2, 2))}, Options{}))
	lines += fmt.Sprintln(WriteGIF("/nonexistent/x.gif", []image.Image{image.NewNRGBA(image.Rect(0, 0, 2, 2))}, Options{}))
	os.WriteFile(out, []byte(lines), 0o644)
}
