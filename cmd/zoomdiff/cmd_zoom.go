package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/anim"
	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/progress"
)

// zoomView is the geometry of a zoom: frames of fw×fh pixels into an
// image of aspect fw:fh, the first showing it whole and the last
// magnified maxZoom times around (cx, cy), fractions of the width and
// height.
type zoomView struct {
	fw, fh, frames  int
	maxZoom, cx, cy float64
}

// frame renders frame i: the image decoded at the frame's size times the
// zoom (growing geometrically, so the motion looks even), and only the
// window the frame shows, so the cost does not grow with the zoom.
func (v zoomView) frame(d *autoencoder.Decoder, i int) *imageio.Image {
	z := 1.0
	if v.frames > 1 {
		z = math.Pow(v.maxZoom, float64(i)/float64(v.frames-1))
	}
	w, h := int(math.Round(float64(v.fw)*z)), int(math.Round(float64(v.fh)*z))
	x0 := min(max(int(math.Round(v.cx*float64(w)))-v.fw/2, 0), w-v.fw)
	y0 := min(max(int(math.Round(v.cy*float64(h)))-v.fh/2, 0), h-v.fh)
	pix := autoencoder.FinishRGB(d.Window(h, w, y0, y0+v.fh, x0, x0+v.fw), false)
	return &imageio.Image{W: v.fw, H: v.fh, Pix: pix}
}

// zoomLatent samples the latent to zoom into: the super-resolved input
// with the SR model when input is set, else sample number sample of the
// generator's seed, and returns it with its decoder. Each is sampled as
// its own command samples it (upscale's model and sampler for the
// input, generate's for a seed, so zoom --seed K --sample k zooms into
// generate's sample k), with params (steps, seed) over those defaults.
func zoomLatent(ctx context.Context, model, input string, sample int, params map[string]string, progress func(done, total int)) (*autoencoder.Decoder, *diffusion.Latent, error) {
	var (
		s    *diffusion.SR
		lats []*diffusion.Latent
	)
	if input != "" {
		m, err := models.SRMethod(model, "builtin:sr", "", params)
		if err != nil {
			return nil, nil, err
		}
		up := m.(*diffusion.Upscaler)
		lr, err := imageio.Read(input)
		if err != nil {
			return nil, nil, err
		}
		s, up.Opt.Progress = up.SR, progress
		if lats, err = s.Latents(ctx, lr, up.Opt); err != nil {
			return nil, nil, err
		}
		sample = 0
	} else {
		if sample < 0 || sample >= diffusion.MaxGenerate {
			return nil, nil, fmt.Errorf("--sample %d: want 0 to %d", sample, diffusion.MaxGenerate-1)
		}
		g, err := models.Generator(model)
		if err != nil {
			return nil, nil, err
		}
		s = g.Model
		opt, err := diffusion.ParseSampleOptions(s.Config.SampleOptions(), params)
		if err != nil {
			return nil, nil, err
		}
		opt.Progress = progress
		if lats, err = g.Generate(ctx, sample+1, opt); err != nil {
			return nil, nil, err
		}
	}
	d, err := s.Decoder(lats[sample])
	return d, lats[sample], err
}

// maxZoomFrame bounds a frame's sides: --frame bounds the width, and the
// input's aspect sets the height.
const maxZoomFrame = 2048

func runZoom(args []string) error {
	fs := flag.NewFlagSet("zoom", flag.ContinueOnError)
	model := fs.String("model", "", "generator (with --seed) or SR model (with --input); default the built-in one")
	seed := fs.Uint64("seed", 0, "zoom into a generated sample of this seed")
	sample := fs.Int("sample", 0, "which sample of the seed (as numbered by generate)")
	input := fs.String("input", "", "zoom into this image, super-resolved, instead of a generated one")
	out := fs.String("o", "", "output animation: .gif, or .png / .apng for an animated PNG")
	frame := fs.Int("frame", 256, "frame width in pixels (the height follows the image's aspect)")
	frames := fs.Int("frames", 48, "frames in the animation")
	maxZoom := fs.Float64("max-zoom", 8, "magnification of the last frame over the first")
	centre := fs.String("centre", "0.5,0.5", "point zoomed into, as fractions x,y of the width and height")
	delay := fs.Duration("delay", 80*time.Millisecond, "time each frame shows")
	steps := fs.Int("steps", 0, "denoising steps (default: the model's own, as upscale and generate sample it)")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errors.New("usage: zoomdiff zoom [--model FILE] (--seed K | --input IMG) -o zoom.gif|zoom.png")
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".gif" && ext != ".png" && ext != ".apng" {
		return fmt.Errorf("%s: want a .gif, .png or .apng output", *out)
	}
	if err := atomicfile.CheckDir(*out); err != nil {
		return err
	}
	var cx, cy float64
	if _, err := fmt.Sscanf(*centre, "%g,%g", &cx, &cy); err != nil || !(cx >= 0 && cx <= 1 && cy >= 0 && cy <= 1) {
		return fmt.Errorf("--centre %q: want x,y fractions in [0, 1]", *centre)
	}
	switch {
	case *frame < 16 || *frame > maxZoomFrame:
		return fmt.Errorf("--frame %d: want 16 to %d pixels", *frame, maxZoomFrame)
	case *frames < 1 || *frames > 1000:
		return fmt.Errorf("--frames %d: want 1 to 1000", *frames)
	case !(*maxZoom >= 1 && *maxZoom <= 10000):
		return fmt.Errorf("--max-zoom %g: want 1 to 10000", *maxZoom)
	case *delay < 0: // else refused by the encoder, after all the work
		return fmt.Errorf("--delay %v: want a duration of 0 or more (0: 100ms)", *delay)
	}
	ctx, stop := signalContext()
	defer stop()
	bar := progress.New(os.Stderr, "sample (%)", 100, *quiet)
	params := map[string]string{"seed": strconv.FormatUint(*seed, 10)}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "steps" {
			params["steps"] = strconv.Itoa(*steps)
		}
	})
	d, lat, err := zoomLatent(ctx, *model, *input, *sample, params, func(done, total int) { bar.Update(done*100/total, "") })
	if err != nil {
		return err
	}
	bar.Finish()
	v := zoomView{fw: *frame, fh: max(1, int(math.Round(float64(*frame)*float64(lat.InH)/float64(lat.InW)))),
		frames: *frames, maxZoom: *maxZoom, cx: cx, cy: cy}
	if v.fh > maxZoomFrame {
		return fmt.Errorf("frames of %dx%d for the %dx%d input: want at most %d rows (a smaller --frame)", v.fw, v.fh, lat.InW, lat.InH, maxZoomFrame)
	}
	bar = progress.New(os.Stderr, "frames", v.frames, *quiet)
	imgs := make([]image.Image, v.frames)
	for i := range imgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		imgs[i] = v.frame(d, i).ToImage(false)
		bar.Update(i+1, "")
	}
	bar.Finish()
	ao := anim.Options{Delay: *delay}
	if ext == ".gif" {
		err = anim.WriteGIF(*out, imgs, ao)
	} else {
		err = anim.WriteAPNG(*out, imgs, ao)
	}
	if err == nil && !*quiet {
		fmt.Fprintf(os.Stderr, "wrote %d frames of %dx%d, x1 to x%g of the %dx%d image, to %s\n",
			v.frames, v.fw, v.fh, v.maxZoom, lat.InW, lat.InH, *out)
	}
	return err
}
