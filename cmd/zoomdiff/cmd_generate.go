package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/plot"
	"github.com/zoomdiff/zoomdiff/progress"
	"github.com/zoomdiff/zoomdiff/render"
)

// genSize is one output size of generate; name is its folder ("32" for a
// square, "48x32" otherwise).
type genSize struct {
	w, h int
	name string
}

// maxGenSide bounds a generated image's side; a contact sheet of many
// such images is the memory that matters.
const maxGenSide = 4096

// parseGenSizes reads "32,64,128" or "48x32,96x64". A size given twice
// ("32,32", or "32,32x32") is refused: it would decode the same images
// twice into one folder, and give eval-gen a duplicate row and a pair of
// a size with itself.
func parseGenSizes(s string) ([]genSize, error) {
	var out []genSize
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		sq := f
		if !strings.ContainsAny(f, "xX") {
			sq += "x" + f // N is N×N
		}
		w, h, err := render.ParseSize(sq)
		if err != nil || w < 1 || h < 1 || w > maxGenSide || h > maxGenSide {
			return nil, fmt.Errorf("size %q: want N or WxH with sides 1 to %d", f, maxGenSide)
		}
		name := strconv.Itoa(w)
		if w != h {
			name = fmt.Sprintf("%dx%d", w, h)
		}
		if slices.ContainsFunc(out, func(o genSize) bool { return o.name == name }) {
			return nil, fmt.Errorf("size %s is given twice", name)
		}
		out = append(out, genSize{w, h, name})
	}
	return out, nil
}

// writeGenerated decodes lats at size sz into OUT/NAME/0000.png, … and
// lays the first sheetMax of them on a contact sheet, OUT/sheet-NAME.png:
// a square grid, or a column per class when the samples cycle through a
// class-conditional generator's classes (byClass).
func writeGenerated(ctx context.Context, g *diffusion.Generator, lats []*diffusion.Latent, sz genSize, out string, sheetMax int, byClass, quiet bool) error {
	dir := filepath.Join(out, sz.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	digits := max(4, len(strconv.Itoa(len(lats)-1)))
	bar := progress.New(os.Stderr, "decode "+sz.name, len(lats), quiet)
	var sheet []image.Image
	for k, l := range lats {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, err := g.Render(l, sz.w, sz.h)
		if err != nil {
			return err
		}
		if err := imageio.Write(filepath.Join(dir, fmt.Sprintf("%0*d.png", digits, k)), img); err != nil {
			return err
		}
		if k < sheetMax {
			sheet = append(sheet, img.ToImage(false))
		}
		bar.Update(k+1, "")
	}
	bar.Finish()
	if len(sheet) == 0 {
		return nil
	}
	cols := int(math.Ceil(math.Sqrt(float64(len(sheet)))))
	if k := len(g.Model.Config.Classes); byClass && k > 0 && len(sheet) >= k {
		cols = k // sample i is of class i mod k: a column each
	}
	grid := plot.Grid(sheet, cols)
	return atomicfile.Write(filepath.Join(out, "sheet-"+sz.name+".png"), func(w io.Writer) error { return png.Encode(w, grid) })
}

func runGenerate(args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	model := fs.String("model", "", "generator file (default: the built-in one)")
	n := fs.Int("n", 16, "images to generate")
	size := fs.String("size", "", "output size N or WxH (default: the model's training size)")
	sizes := fs.String("sizes", "", "several output sizes, e.g. 32,64,128: the same samples decoded at each")
	seed := fs.Uint64("seed", 0, "random seed: sample k depends only on (seed, k)")
	steps := fs.Int("steps", diffusion.DefaultGenSteps, "denoising steps")
	eta := fs.Float64("eta", 0, "DDIM eta (0 deterministic, 1 DDPM-like)")
	sampler := fs.String("sampler", diffusion.DefaultGenSampler, diffusion.SamplerDDIM+", "+diffusion.SamplerDDPM+" or "+diffusion.SamplerDPM)
	class := fs.String("class", "", "class-conditional model: draw every sample from this class (name or number; default: the classes in turn)")
	guidance := &guidanceFlag{diffusion.GuidanceByModel}
	fs.Var(guidance, "guidance", "class-conditional model: classifier-free guidance weight in [0, 20] (0: none; higher is more typical of the class, less varied), or auto for the model's default")
	out := fs.String("o", "", "output folder: one subfolder of PNGs per size, and a contact sheet per size")
	sheetMax := fs.Int("sheet", 64, "images on each contact sheet (0: none)")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errors.New("usage: zoomdiff generate [--model FILE] --n N [--size WxH | --sizes 32,64,128] [--seed K] -o DIR")
	}
	if *size != "" && *sizes != "" {
		return errors.New("give --size or --sizes, not both")
	}
	// Refused rather than ignored: only DDIM has an η, and a negative
	// count of images on a sheet would silently mean none.
	if *eta != 0 && *sampler != diffusion.SamplerDDIM {
		return fmt.Errorf("--eta %g: DDIM's η, which the %s sampler does not use (add --sampler %s)", *eta, *sampler, diffusion.SamplerDDIM)
	}
	if *sheetMax < 0 {
		return fmt.Errorf("--sheet %d: want the images on each contact sheet, 0 for none", *sheetMax)
	}
	// Said before the sampling, not by the first write after it.
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return fmt.Errorf("-o %s is a file: it names the output folder", *out)
	}
	if *sizes == "" {
		*sizes = *size
	}
	g, err := models.Generator(*model)
	if err != nil {
		return err
	}
	natural := g.Model.Config.TrainLatent * g.Model.AE.Config.Factor()
	if *sizes == "" {
		*sizes = strconv.Itoa(natural)
	}
	szs, err := parseGenSizes(*sizes)
	if err != nil {
		return fmt.Errorf("--sizes: %w", err)
	}
	ctx, stop := signalContext()
	defer stop()
	bar := progress.New(os.Stderr, "sample (%)", 100, *quiet)
	opt := diffusion.DefaultGenSampleOptions()
	opt.Steps, opt.Eta, opt.Seed, opt.Sampler, opt.Class, opt.Guidance = *steps, *eta, *seed, *sampler, *class, guidance.w
	opt.Progress = func(done, total int) { bar.Update(done*100/total, "") }
	lats, err := g.Generate(ctx, *n, opt)
	bar.Finish()
	if err != nil {
		return err
	}
	for _, sz := range szs {
		if err := writeGenerated(ctx, g, lats, sz, *out, *sheetMax, *class == "", *quiet); err != nil {
			return err
		}
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "wrote %d images at %s into %s (natural size %d)\n", len(lats), *sizes, *out, natural)
	}
	return nil
}

// guidanceFlag is --guidance: a classifier-free guidance weight in
// [0, 20], or auto (diffusion.GuidanceByModel: the model's default).
type guidanceFlag struct{ w float64 }

func (g *guidanceFlag) String() string {
	if g == nil || g.w == diffusion.GuidanceByModel {
		return "auto"
	}
	return strconv.FormatFloat(g.w, 'g', -1, 64)
}

func (g *guidanceFlag) Set(s string) error {
	if s == "auto" {
		g.w = diffusion.GuidanceByModel
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 20) {
		return fmt.Errorf("guidance %s: want auto or a number in [0, 20]", s)
	}
	g.w = v
	return nil
}
