package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/progress"
	"github.com/zoomdiff/zoomdiff/render"
)

// fileUpscale is `zoomdiff upscale` of one file with any method, through
// the one render path: render.Prepare, then render.WriteFiles band by
// band (PNG streamed, so a model's output of any size is never held).
type fileUpscale struct {
	method    render.Method // folder mode prepares it once for every file
	scale     float64       // the --scale, or 0 with a size
	size      string        // the --size, or ""
	maxPixels int64
	samples   int
	mean, std string // extra outputs, "" for none
	band      int    // output rows rendered at a time
	write     imageio.WriteOptions
	quiet     bool
	stderr    io.Writer
	// note, when set, is methods.Note for the method and model: run hands
	// what it says of the input to noted, or prints it when noted is nil
	// (folder mode collects the notes for its closing summary).
	note  func(jpegQuality int) string
	noted func(in, note string)
	// report, when set, takes the progress (stage "sample (%)" or "decode")
	// instead of the bars, and the closing "wrote" line is left out: folder
	// mode shows one bar for the whole run.
	report func(stage string, done, total int)
}

// run upscales in to out (and the mean and std files). What the input
// carries survives in the samples and the mean: a grey input gives grey
// files, a 16-bit PNG input gives 16-bit PNGs, its ICC profile is
// embedded and its alpha resized (render's rules).
func (u *fileUpscale) run(ctx context.Context, in, out string) error {
	files := render.Files{Samples: render.SamplePaths(out, u.samples), Mean: u.mean, Std: u.std, Write: u.write}
	if err := files.Check(); err != nil {
		return err
	}
	if err := notInput(in, files.Paths()); err != nil {
		return err
	}
	inW, inH, err := imageio.Config(in)
	if err != nil {
		return err
	}
	w, h, err := render.TargetSize(inW, inH, u.scale, u.size, u.maxPixels)
	if errors.Is(err, render.ErrOverLimit) {
		return fmt.Errorf("%s: %w (raise the limit with --max-pixels)", in, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	lr, err := imageio.Read(in)
	if err != nil {
		return err
	}
	if u.note != nil && !u.quiet {
		switch n := u.note(lr.JPEGQuality); {
		case n == "":
		case u.noted != nil:
			u.noted(in, n)
		default:
			fmt.Fprintf(u.stderr, "note: %s: %s (--model real)\n", in, n)
		}
	}
	start := time.Now()
	var tm diffusion.Timings
	var bar stageBar = noBar{}
	if m, ok := u.method.(*diffusion.Upscaler); ok {
		m.Opt.Timings = &tm
		// The condition gets a bar of its own where it takes more than
		// one window (a large input: seconds); the sampling's bar starts
		// its clock after it, so that its ETA is the sampling's.
		m.Opt.ConditionProgress = func(done, total int) {
			if done == 0 && total > 1 {
				bar = u.bar("condition", total)
			}
			bar.Update(done, "")
		}
		m.Opt.Progress = func(done, total int) {
			if done == 0 {
				bar.Finish()
				bar = u.bar("sample (%)", 100)
			}
			bar.Update(done*100/total, "")
		}
	}
	src, err := render.Prepare(ctx, u.method, lr, w, h, u.scale, u.samples)
	bar.Finish()
	if err != nil {
		return err
	}
	renderStart := time.Now()
	bar = u.bar("decode", h)
	err = render.WriteFiles(ctx, src, lr, files, render.Options{Band: u.band, Progress: func(done, _ int) { bar.Update(done, "") }})
	bar.Finish()
	if err != nil {
		return err
	}
	if u.quiet || u.report != nil {
		return nil
	}
	paths := strings.Join(files.Paths(), ", ")
	if m, ok := u.method.(*diffusion.Upscaler); ok {
		fmt.Fprintf(u.stderr, "wrote %s (%dx%d, %d sample(s), %d step(s)) in %.1fs: encode %.1fs, diffusion %.1fs, decode %.1fs\n",
			paths, w, h, u.samples, m.Opt.Steps, time.Since(start).Seconds(),
			tm.Encode.Seconds(), tm.Diffusion.Seconds(), time.Since(renderStart).Seconds())
	} else {
		fmt.Fprintf(u.stderr, "wrote %s (%dx%d, %s)\n", paths, w, h, u.method.Name())
	}
	return nil
}

// notInput refuses outputs that are the input file itself (by name, a
// link or another path to it): the atomic write would replace the
// original with its upscale, which folder mode refuses too.
func notInput(in string, outs []string) error {
	inInfo, err := os.Stat(in)
	if err != nil {
		return nil // Config says what is wrong with the input
	}
	for _, o := range outs {
		if st, err := os.Stat(o); err == nil && os.SameFile(inInfo, st) {
			return fmt.Errorf("output %s is the input %s: it would replace the original (name another file)", o, in)
		}
	}
	return nil
}

// stageBar is where run reports a stage's progress: a progress.Bar, or
// the report hook.
type stageBar interface {
	Update(done int, status string)
	Finish()
}

// noBar is a stage without progress (a method that returns whole images).
type noBar struct{}

func (noBar) Update(int, string) {}
func (noBar) Finish()            {}

// reportBar passes a stage's progress to fileUpscale.report.
type reportBar struct {
	stage string
	total int
	f     func(stage string, done, total int)
}

func (r reportBar) Update(done int, _ string) { r.f(r.stage, done, r.total) }
func (r reportBar) Finish()                   {}

// bar returns the progress reporter of one stage.
func (u *fileUpscale) bar(stage string, total int) stageBar {
	if u.report != nil {
		return reportBar{stage: stage, total: total, f: u.report}
	}
	return progress.New(u.stderr, stage, total, u.quiet)
}
