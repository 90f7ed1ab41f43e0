package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/pngstream"
	"github.com/zoomdiff/zoomdiff/progress"
	"github.com/zoomdiff/zoomdiff/render"
)

// runReconstruct is the auto-encoder round trip at any output size. The
// decoder renders bands of rows straight into a streaming PNG encoder, so
// memory does not grow with the output beyond one band.
func runReconstruct(args []string) error {
	fs := flag.NewFlagSet("reconstruct", flag.ContinueOnError)
	model := fs.String("model", "", "auto-encoder model file (default: the built-in one)")
	scale := fs.Float64("scale", 0, "output size as a multiple of the input size (default 1)")
	size := fs.String("size", "", "output size WxH (instead of --scale)")
	out := fs.String("o", "", "output PNG")
	band := fs.Int("band", 64, "output rows rendered at a time")
	maxPixels := fs.Int64("max-pixels", 1<<30, "largest output accepted, in pixels")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		return errors.New("usage: zoomdiff reconstruct [--model AE] INPUT [--scale S | --size WxH] -o OUT.png")
	}
	if !strings.HasSuffix(strings.ToLower(*out), ".png") {
		return fmt.Errorf("output %s: reconstruct writes PNG only", *out)
	}
	if *band < 1 {
		return fmt.Errorf("--band %d: want at least one row", *band)
	}
	m, err := models.AutoEncoder(*model)
	if err != nil {
		return err
	}
	img, err := imageio.Read(fs.Arg(0))
	if err != nil {
		return err
	}
	if *scale == 0 && *size == "" {
		*scale = 1
	}
	w, h, err := render.TargetSize(img.W, img.H, *scale, *size, *maxPixels)
	if err != nil {
		return err
	}
	start := time.Now()
	d, err := m.EncodeImage(img)
	if err != nil {
		return err
	}
	bar := progress.New(os.Stderr, "decode", h, *quiet)
	err = atomicfile.Write(*out, func(f io.Writer) error {
		pw := pngstream.NewWriter(f, w, h, false)
		for y := 0; y < h; y += *band {
			y1 := min(y+*band, h)
			if err := pw.WriteRows(clamp01(d.Rows(h, w, y, y1)), y1-y); err != nil {
				return err
			}
			bar.Update(y1, "")
		}
		return pw.Close()
	})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%dx%d) in %.1fs\n", *out, w, h, time.Since(start).Seconds())
	return nil
}

// clamp01 limits decoded values to the displayable range in place.
func clamp01(v []float32) []float32 {
	for i, x := range v {
		v[i] = min(max(x, 0), 1)
	}
	return v
}
