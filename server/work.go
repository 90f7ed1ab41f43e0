package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/render"
)

// outcome is the result of one request's work: its images, rendered when
// they are encoded.
type outcome struct {
	method string
	w, h   int
	seeds  []uint64
	note   string // methods.Note for the input, or ""
	// outputs has one single-sample Source per image. A streamed method's
	// (the model's) rows are decoded only as the PNG is written, so an
	// output of any size costs memory for a band, not for the image.
	outputs []render.Source
	// in is what the images were made from (alpha, greyness, profile: see
	// render.Run); a blank image for generated ones.
	in *imageio.Image
}

// encode writes image i as PNG to w through the one render path; band,
// when not nil, is called after every band of rows (the synchronous answer
// renews its write deadline there). A streamed method makes its rows here,
// so its panics are turned into errors here too (see safeRun).
func (o *outcome) encode(ctx context.Context, i int, w io.Writer, band func()) (err error) {
	defer recoverMethod(&err)
	k := render.KindOf(o.in, imageio.PNG, imageio.WriteOptions{})
	k.PNGLevel = pngLevel
	sink, err := render.NewSink(w, imageio.PNG, o.w, o.h, k)
	if err != nil {
		return err
	}
	opt := render.Options{Band: render.DefaultBand}
	if band != nil {
		opt.Progress = func(int, int) { band() }
	}
	return render.Run(ctx, o.outputs[i], o.in, render.Outputs{Samples: []render.Sink{sink}}, opt)
}

// randomSeed draws a seed for requests that give none. Kept below 2³² so
// that it is easy to read back and type in.
func randomSeed() uint64 { return uint64(rand.Uint32()) }

// targetSize works out the output size with render.TargetSize (the CLI's
// rules: ceil(n·scale), or WxH / Wx / xH keeping the aspect ratio) and
// applies the server's limits: output pixels (maxPixels, which depends on
// whether the method streams) and the per-side ratio.
func (s *Server) targetSize(inW, inH int, req *upscaleRequest, maxPixels int64, checkRatio bool) (w, h int, err error) {
	// The request's fields are already validated (scale within range, each
	// side below 2³¹), so the product fits and TargetSize cannot overflow;
	// its own pixel limit is lifted so that the server's message, naming
	// the method, reaches the client.
	w, h, err = render.TargetSize(inW, inH, req.scale, req.size, 1<<62)
	if err != nil {
		return 0, 0, errorf(http.StatusBadRequest, "%v", err)
	}
	if px := int64(w) * int64(h); px > maxPixels {
		return 0, 0, errorf(http.StatusBadRequest, "output %dx%d is %d pixels, over the server's limit of %d for method %s", w, h, px, maxPixels, req.method)
	}
	if req.size != "" && checkRatio {
		rx, ry := float64(w)/float64(inW), float64(h)/float64(inH)
		if lo, hi := min(rx, ry), max(rx, ry); lo < s.cfg.MinScale || hi > s.cfg.MaxScale {
			return 0, 0, errorf(http.StatusBadRequest, "size %dx%d scales the %dx%d input by ×%.3g × ×%.3g; the server allows ×%g to ×%g per side",
				w, h, inW, inH, rx, ry, s.cfg.MinScale, s.cfg.MaxScale)
		}
	}
	return w, h, nil
}

// precheck refuses what can be refused from the image header, before the
// request queues: not an image, too many input pixels, and (where they do
// not depend on the EXIF orientation that only decoding applies) too many
// output pixels. Everything is checked again on the decoded size.
func (s *Server) precheck(req *upscaleRequest) error {
	inW, inH, err := s.checkInput(req.image)
	if err != nil {
		return err
	}
	if req.size != "" {
		if w, h, _ := parseSize(req.size, false); w == 0 || h == 0 {
			return nil
		}
	}
	// With a scale or both sides given, the output's pixel count does not
	// depend on orientation; the per-side ratio does, so it waits. Which
	// limit applies depends on the method, known once it is made: here the
	// larger one.
	_, _, err = s.targetSize(inW, inH, req, max(s.cfg.MaxOutputPixels, s.cfg.MaxStreamedPixels), false)
	return err
}

// Stages of a job's work, as its view names them while it runs ("" where
// the method does not say).
const (
	stageCondition = "condition" // the model computes its condition from the input
	stageSampling  = "sampling"  // the sampler's steps
	stageEncoding  = "encoding"  // the images are rendered (a streamed method decodes them now) and compressed
)

// conditionShare is the part of each sample's progress that the model's
// condition takes, the sampling the rest. With the condition network it
// takes about a tenth of the default 2-step sampling's time (0.1 of 1.3 s
// for the ×4 example), with the exact encoder about as long as it (1.0 of
// 1.2 s), and less of a sampling with more steps: a tenth keeps the bar
// moving through a large input's condition (seconds) without promising
// much of the job.
const conditionShare = 0.1

// reporter receives a job's progress: the stage its work is in and the
// fraction of the work done, from 0 to 1.
type reporter func(stage string, fraction float64)

// runUpscale decodes the upload and makes req.samples upscales, sample i
// with seed+i. report, if not nil, receives the stage and the fraction
// done: each sample an equal share, split between the model's condition
// and its sampling.
func (s *Server) runUpscale(ctx context.Context, req *upscaleRequest, report reporter) (*outcome, error) {
	lr, err := imageio.Decode(req.image, imageio.ReadOptions{MaxPixels: s.cfg.MaxInputPixels})
	switch {
	case errors.Is(err, imageio.ErrTooLarge):
		return nil, errorf(http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, imageio.ErrUnsupported):
		return nil, errorf(http.StatusUnsupportedMediaType, "%v", err)
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "cannot decode the image: %v", err)
	}
	limit := s.cfg.MaxOutputPixels
	if s.streams(req.method) {
		limit = max(limit, s.cfg.MaxStreamedPixels)
	}
	w, h, err := s.targetSize(lr.W, lr.H, req, limit, true)
	if err != nil {
		return nil, err
	}
	out := &outcome{method: req.method, w: w, h: h, in: lr, note: methods.Note(req.method, s.cfg.Model, lr.JPEGQuality)}
	for i := range req.samples {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seed := req.seed + uint64(i)
		params := maps.Clone(req.params)
		// Only a method that draws samples takes a seed; the others may
		// refuse any param (LIIF takes none).
		if s.generative(req.method) {
			params["seed"] = strconv.FormatUint(seed, 10)
		}
		up, err := s.upscaler(req.method, params)
		if err != nil {
			// Factories fail on bad settings (an unknown param, steps the
			// model cannot do) or a missing weights file: the request's
			// problem or a configuration one, never a crash.
			return nil, errorf(http.StatusBadRequest, "method %s is not available with these settings: %v", req.method, err)
		}
		if report != nil {
			report("", float64(i)/float64(req.samples))
			// stage reports done of total as the part [from, to] of sample
			// i's share, interpolated so that its ends are exact and the
			// fraction never steps back between stages.
			stage := func(name string, from, to float64) func(done, total int) {
				return func(done, total int) {
					if total > 0 {
						f := float64(done) / float64(total)
						report(name, (float64(i)+from*(1-f)+to*f)/float64(req.samples))
					}
				}
			}
			cond := 0.0
			// The model reports its condition through its options alone:
			// ProgressReporter has no room for a second stage.
			if m, ok := up.(*diffusion.Upscaler); ok {
				cond = conditionShare
				m.Opt.ConditionProgress = stage(stageCondition, 0, cond)
			}
			if p, ok := up.(ProgressReporter); ok {
				p.SetProgress(stage(stageSampling, cond, 1))
			}
		}
		src, err := render.Prepare(ctx, up, lr, w, h, req.scale, 1)
		if err != nil {
			return nil, err
		}
		out.outputs = append(out.outputs, src)
		out.seeds = append(out.seeds, seed)
	}
	if report != nil {
		report("", 1)
	}
	return out, nil
}

// runGenerate asks the generator for req.n images and checks what it gives.
func (s *Server) runGenerate(ctx context.Context, req *generateRequest, report reporter) (*outcome, error) {
	if report != nil {
		report("", 0)
	}
	imgs, err := s.cfg.Generator.Generate(ctx, req.n, req.w, req.h, req.seed, req.class, req.guidance)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("generate: %w", err)
	}
	if len(imgs) != req.n {
		return nil, fmt.Errorf("generator returned %d images, want %d", len(imgs), req.n)
	}
	out := &outcome{method: "generate", w: req.w, h: req.h, in: &imageio.Image{W: req.w, H: req.h}}
	for i, m := range imgs {
		if err := m.Check(); err != nil {
			return nil, fmt.Errorf("generator image %d: %w", i, err)
		}
		if m.W != req.w || m.H != req.h {
			return nil, fmt.Errorf("generator returned %dx%d, want %dx%d", m.W, m.H, req.w, req.h)
		}
		if !imageio.Finite(m.Pix) || !imageio.Finite(m.Alpha) {
			return nil, fmt.Errorf("generator returned NaN or infinite values")
		}
		out.outputs = append(out.outputs, render.Images{m})
		// Seeds are per batch: image i is the i-th draw of seed.
		out.seeds = append(out.seeds, req.seed)
	}
	if report != nil {
		report("", 1)
	}
	return out, nil
}

// safeRun calls run, turning a panic in a method into an error: net/http
// would only drop the connection for a handler, and a panic in a job's
// goroutine would take the whole server down.
func safeRun(ctx context.Context, report reporter, run func(context.Context, reporter) (*outcome, error)) (out *outcome, err error) {
	defer recoverMethod(&err)
	return run(ctx, report)
}

// recoverMethod, deferred, turns a panic into *err.
func recoverMethod(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("method panicked: %v", r)
	}
}

// classify turns a work error into the answer for it. client is the
// request's own context (nil for jobs), ctx the work context.
func (s *Server) classify(ctx, client context.Context, err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case client != nil && client.Err() != nil:
		// Nobody will read this; 499 (nginx's "client closed request")
		// keeps the metrics honest.
		return errorf(499, "client closed the request")
	case s.workCtx.Err() != nil || errors.Is(err, errShuttingDown):
		return &apiError{Code: http.StatusServiceUnavailable, Msg: "server is shutting down; retry on another instance or later", RetryAfter: 5}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return &apiError{Code: http.StatusServiceUnavailable, Msg: fmt.Sprintf("the request did not finish within the server's %v limit (queueing included); try a smaller output or retry later", s.cfg.Timeout), RetryAfter: s.pool.retryAfter()}
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, "cancelled")
	}
	return errorf(http.StatusInternalServerError, "%v", err)
}
