package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/plot"
	"github.com/zoomdiff/zoomdiff/resample"
)

func runStrip(args []string) error {
	fs := flag.NewFlagSet("strip", flag.ContinueOnError)
	out := fs.String("o", "", "output PNG")
	height := fs.Int("height", 256, "panel height in pixels")
	crop := fs.String("crop", "", "the same region of every image, as fractions X,Y,W,H of its size (e.g. 0.4,0.3,0.25,0.25)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff strip -o OUT.png [--height H] [--crop X,Y,W,H] IMAGE[=LABEL] ...")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: zoomdiff strip -o OUT.png [--height H] [--crop X,Y,W,H] IMAGE[=LABEL] ...")
	}
	if err := checkPNGOutput(*out); err != nil {
		return err
	}
	if *height < 8 || *height > 4096 {
		return fmt.Errorf("--height %d outside [8, 4096]", *height)
	}
	region := [4]float64{0, 0, 1, 1}
	if *crop != "" {
		parts := strings.Split(*crop, ",")
		if len(parts) != 4 {
			return fmt.Errorf("--crop %q: want X,Y,W,H", *crop)
		}
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || !(v >= 0 && v <= 1) {
				return fmt.Errorf("--crop %q: %q is not a fraction in [0, 1]", *crop, p)
			}
			region[i] = v
		}
		if region[2] == 0 || region[3] == 0 || region[0]+region[2] > 1 || region[1]+region[3] > 1 {
			return fmt.Errorf("--crop %q: the region must be non-empty and inside the image", *crop)
		}
	}
	var panels []plot.Panel
	for _, arg := range fs.Args() {
		path, label, _ := strings.Cut(arg, "=")
		img, err := imageio.Read(path)
		if err != nil {
			return err
		}
		x0, y0 := int(region[0]*float64(img.W)), int(region[1]*float64(img.H))
		w, h := max(1, int(region[2]*float64(img.W))), max(1, int(region[3]*float64(img.H)))
		if img, err = img.Crop(x0, y0, min(w, img.W-x0), min(h, img.H-y0)); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		// Enlarged panels keep their pixels visible (nearest), as SR
		// figures show inputs; reduced ones are antialiased.
		m := resample.Bicubic
		if *height > img.H {
			m = resample.Nearest
		}
		pw := max(1, int(float64(img.W)*float64(*height)/float64(img.H)+0.5))
		if img, err = resample.Image(img, pw, *height, resample.Options{Method: m}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		panels = append(panels, plot.Panel{Image: img.ToImage(false), Label: label})
	}
	return plot.WriteStrip(*out, panels)
}
