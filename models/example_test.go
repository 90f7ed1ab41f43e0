package models_test

import (
	"context"
	"log"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
)

// Super-resolve a photo ×4 with the built-in model: two samples, written
// as PNG, with the default sampler. (Compiled by go test, not run: it
// takes tens of seconds on a CPU.)
func ExampleSR() {
	sr, err := models.SR("") // "" is the built-in model; or a path to your own
	if err != nil {
		log.Fatal(err)
	}
	lr, err := imageio.Read("photo.png")
	if err != nil {
		log.Fatal(err)
	}
	outs, err := sr.Upscale(context.Background(), lr, 4*lr.W, 4*lr.H, diffusion.SampleOptions{Samples: 2, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	for i, out := range outs {
		if err := imageio.Write([]string{"out-1.png", "out-2.png"}[i], out); err != nil {
			log.Fatal(err)
		}
	}
}
