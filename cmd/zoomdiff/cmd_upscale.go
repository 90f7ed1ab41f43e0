package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
)

func init() {
	register(&command{name: "upscale", summary: "resize an image by any scale or to any size", run: runUpscale})
}

// paramFlags collects repeated --param name=value settings for a method.
type paramFlags map[string]string

func (p paramFlags) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	p[k] = v
	return nil
}

func methodList() string {
	var names []string
	for _, m := range evaluate.Methods() {
		names = append(names, m.Name)
	}
	return strings.Join(names, "|")
}

func runUpscale(args []string) error {
	fs := flag.NewFlagSet("upscale", flag.ContinueOnError)
	method := fs.String("method", "bicubic", "upscaling method: "+methodList())
	model := fs.String("model", "", "weights file, for learned methods")
	params := paramFlags{}
	fs.Var(params, "param", "method setting name=value (repeatable)")
	scale := fs.Float64("scale", 0, "scale factor, any real number above 0 (output ceil(W·S)×ceil(H·S))")
	size := fs.String("size", "", "output size WxH, or Wx / xH to keep the aspect ratio")
	out := fs.String("o", "", "output file, .png or .jpg (required)")
	maxPixels := fs.Int64("max-pixels", evaluate.DefaultMaxOutputPixels, "refuse outputs with more pixels than this")
	quality := fs.Int("quality", 95, "JPEG quality 1-100")
	bits16 := fs.Bool("16", false, "write 16-bit PNG")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT [flags]")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	scaleSet := false
	fs.Visit(func(f *flag.Flag) { scaleSet = scaleSet || f.Name == "scale" })
	switch {
	case scaleSet && !(*scale > 0):
		return fmt.Errorf("scale %g: want a finite number above 0", *scale)
	case fs.NArg() != 1:
		return errors.New("want exactly one input file (usage: zoomdiff upscale INPUT (--scale S | --size WxH) -o OUTPUT)")
	case *out == "":
		return errors.New("no output file: give -o OUTPUT")
	case scaleSet == (*size != ""):
		return errors.New("give exactly one of --scale and --size")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, h, err := evaluate.UpscaleFile(ctx, evaluate.UpscaleRequest{
		Input: fs.Arg(0), Output: *out,
		Method: *method, Options: evaluate.Options{Model: *model, Params: params},
		Scale: *scale, Size: *size, MaxPixels: *maxPixels,
		Write: imageio.WriteOptions{Quality: *quality, Bits16: *bits16},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%dx%d, %s)\n", *out, w, h, *method)
	return nil
}
