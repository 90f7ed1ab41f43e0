package models_test

import (
	"context"
	"log"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
)

// Super-resolve a photo ×4 as zoomdiff upscale does by default: the
// built-in model's few-step student in its own 2 DDIM steps, two samples,
// written as PNG. models.SR("") is the full model (10 DPM-Solver steps by
// its SampleOptions: about 3x slower); a path loads your own. (Compiled
// by go test, not run.)
func ExampleSR() {
	sr, err := models.SR("builtin:student")
	if err != nil {
		log.Fatal(err)
	}
	lr, err := imageio.Read("photo.png")
	if err != nil {
		log.Fatal(err)
	}
	opt := sr.Config.SampleOptions() // the model's own defaults
	opt.Samples, opt.Seed = 2, 1
	outs, err := sr.Upscale(context.Background(), lr, 4*lr.W, 4*lr.H, opt)
	if err != nil {
		log.Fatal(err)
	}
	for i, out := range outs {
		if err := imageio.Write([]string{"out-1.png", "out-2.png"}[i], out); err != nil {
			log.Fatal(err)
		}
	}
}

// Render a huge output band by band through the one render path, as the
// CLI and the server do: the latents are sampled once, rows decoded as the
// PNG is written, so ×32 of a photo needs memory for a band, not for the
// image; the mean of the samples and their uncertainty map come along.
// (Compiled, not run.)
func ExampleSR_stream() {
	sr, err := models.SR("")
	if err != nil {
		log.Fatal(err)
	}
	lr, err := imageio.Read("photo.png")
	if err != nil {
		log.Fatal(err)
	}
	up := &diffusion.Upscaler{SR: sr, Opt: diffusion.DefaultSampleOptions()}
	up.Opt.Seed = 1
	src, err := render.Prepare(context.Background(), up, lr, 32*lr.W, 32*lr.H, 32, 2)
	if err != nil {
		log.Fatal(err)
	}
	files := render.Files{Samples: render.SamplePaths("big.png", 2), Mean: "big-mean.png", Std: "big-std.png"}
	if err := render.WriteFiles(context.Background(), src, lr, files, render.Options{Band: render.DefaultBand}); err != nil {
		log.Fatal(err)
	}
}
