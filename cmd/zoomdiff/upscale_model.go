package main

import (
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/pngstream"
	"github.com/zoomdiff/zoomdiff/progress"
	"github.com/zoomdiff/zoomdiff/resample"
)

// stdGain maps the per-pixel standard deviation to grey levels in the
// uncertainty map: 1/8 (32 of 255 levels) and above is white.
const stdGain = 8

// modelUpscale is one `zoomdiff upscale` with the diffusion model.
type modelUpscale struct {
	model     string
	sr        *diffusion.SR // the loaded model, or nil to load model
	in, out   string
	w, h      int
	opt       diffusion.SampleOptions
	mean, std string // extra outputs, "" for none
	band      int    // output rows decoded at a time
	write     imageio.WriteOptions
	quiet     bool
	stderr    io.Writer
	// report, when set, takes the progress (stage "sample" or "decode")
	// instead of the bars, and the closing "wrote" line is left out: folder
	// mode shows one bar for the whole run.
	report func(stage string, done, total int)
}

// samplePaths names the sample files: OUT itself for one sample, else
// OUT with -1, -2, … before its extension.
func samplePaths(out string, n int) []string {
	if n == 1 {
		return []string{out}
	}
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(out, ext)
	paths := make([]string, n)
	for k := range paths {
		paths[k] = fmt.Sprintf("%s-%d%s", base, k+1, ext)
	}
	return paths
}

// run samples the latents of the input, then decodes every sample band by
// band into its file, with the mean and the standard-deviation map
// computed from the same bands. PNGs are streamed, so memory does not
// grow with the output size; JPEG outputs are held whole before encoding.
//
// What the input carries survives in the samples and the mean: a grey
// input gives grey files, a 16-bit PNG input gives 16-bit PNGs, and its
// ICC profile is embedded. The standard-deviation map is a plain 8-bit
// (or --16) RGB picture without a profile.
func (u *modelUpscale) run(ctx context.Context) error {
	s := u.sr
	if s == nil {
		var err error
		if s, err = models.SR(u.model); err != nil {
			return err
		}
	}
	if err := s.CheckOptions(u.opt); err != nil {
		return err
	}
	n := max(u.opt.Samples, 1)
	if u.std != "" && n < 2 {
		return fmt.Errorf("--std needs at least 2 samples (have %d)", n)
	}
	paths := samplePaths(u.out, n)
	var extra []string
	for _, p := range []string{u.mean, u.std} {
		if p != "" {
			extra = append(extra, p)
		}
	}
	all := append(append([]string(nil), paths...), extra...)
	formats := make([]imageio.Format, len(all))
	for i, p := range all {
		var err error
		if formats[i], err = imageio.FormatFor(p); err != nil {
			return err
		}
	}
	lr, err := imageio.Read(u.in)
	if err != nil {
		return err
	}
	// Per output: the samples and the mean keep the input's kind.
	kinds := make([]sinkKind, len(all))
	for i := range all {
		k := sinkKind{alpha: lr.Alpha != nil, write: u.write}
		if u.std == "" || i < len(all)-1 {
			k.gray = lr.Gray
			k.write.Bits16 = u.write.Bits16 || formats[i] == imageio.PNG && lr.Depth > 8
			if k.write.ICC == nil {
				k.write.ICC = lr.ICC
			}
		}
		kinds[i] = k
	}
	start := time.Now()
	var tm diffusion.Timings
	u.opt.Timings = &tm
	bar := u.bar("sample", u.opt.Steps)
	u.opt.Progress = func(done, total int) { bar.Update(done, "") }
	lats, err := s.Latents(ctx, lr, u.opt)
	bar.Finish()
	if err != nil {
		return err
	}
	decs := make([]*autoencoder.Decoder, n)
	for k, l := range lats {
		if decs[k], err = s.Decoder(l); err != nil {
			return err
		}
	}
	decodeStart := time.Now()
	var alphaPlan *resample.Alpha
	if lr.Alpha != nil {
		if alphaPlan, err = resample.NewAlpha(lr.Alpha, lr.W, lr.H, u.w, u.h); err != nil {
			return err
		}
	}
	bar = u.bar("decode", u.h)
	err = atomicfile.WriteAll(all, func(ws []io.Writer) error {
		sinks := make([]rowSink, len(all))
		for i := range all {
			sinks[i] = newRowSink(ws[i], formats[i], u.w, u.h, kinds[i])
		}
		for y0 := 0; y0 < u.h; y0 += u.band {
			if err := ctx.Err(); err != nil {
				return err
			}
			y1 := min(y0+u.band, u.h)
			rows := make([][]float32, n)
			for k, d := range decs {
				rows[k] = diffusion.FinishRGB(d.Rows(u.h, u.w, y0, y1), lr.Gray)
			}
			bands := rows
			if u.mean != "" || u.std != "" {
				mean, std := meanStd(rows)
				if u.mean != "" {
					bands = append(bands, mean)
				}
				if u.std != "" {
					bands = append(bands, std)
				}
			}
			var alpha []float32
			if alphaPlan != nil {
				alpha = alphaPlan.Rows(y0, y1)
			}
			for i, b := range bands {
				if err := sinks[i].WriteRows(withAlpha(b, alpha), y1-y0); err != nil {
					return err
				}
			}
			bar.Update(y1, "")
		}
		for _, sk := range sinks {
			if err := sk.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if !u.quiet && u.report == nil {
		fmt.Fprintf(u.stderr, "wrote %s (%dx%d, %d sample(s), %d steps) in %.1fs: encode %.1fs, diffusion %.1fs, decode %.1fs\n",
			strings.Join(all, ", "), u.w, u.h, n, u.opt.Steps, time.Since(start).Seconds(),
			tm.Encode.Seconds(), tm.Diffusion.Seconds(), time.Since(decodeStart).Seconds())
	}
	return nil
}

// stageBar is where run reports a stage's progress: a progress.Bar, or
// the report hook.
type stageBar interface {
	Update(done int, status string)
	Finish()
}

// reportBar passes a stage's progress to modelUpscale.report.
type reportBar struct {
	stage string
	total int
	f     func(stage string, done, total int)
}

func (r reportBar) Update(done int, _ string) { r.f(r.stage, done, r.total) }
func (r reportBar) Finish()                   {}

// bar returns the progress reporter of one stage.
func (u *modelUpscale) bar(stage string, total int) stageBar {
	if u.report != nil {
		return reportBar{stage: stage, total: total, f: u.report}
	}
	return progress.New(u.stderr, stage, total, u.quiet)
}

// meanStd is the per-value mean of the samples' rows and the uncertainty
// map: the sample standard deviation, averaged over R, G and B, times
// stdGain, in grey.
func meanStd(rows [][]float32) (mean, std []float32) {
	n := float64(len(rows))
	mean = make([]float32, len(rows[0]))
	std = make([]float32, len(rows[0]))
	for p := 0; p < len(mean); p += 3 {
		var sd float64
		for c := p; c < p+3; c++ {
			var s, ss float64
			for _, r := range rows {
				s += float64(r[c])
				ss += float64(r[c]) * float64(r[c])
			}
			m := s / n
			mean[c] = float32(m)
			if n > 1 {
				sd += math.Sqrt(max(0, (ss-n*m*m)/(n-1)))
			}
		}
		g := float32(min(1, stdGain*sd/3))
		std[p], std[p+1], std[p+2] = g, g, g
	}
	return mean, std
}

// withAlpha interleaves RGB rows with alpha (nil: RGB unchanged).
func withAlpha(rgb, alpha []float32) []float32 {
	if alpha == nil {
		return rgb
	}
	out := make([]float32, 0, len(alpha)*4)
	for i, a := range alpha {
		out = append(out, rgb[3*i], rgb[3*i+1], rgb[3*i+2], a)
	}
	return out
}

// rowSink takes an image's rows top to bottom.
type rowSink interface {
	WriteRows(pix []float32, n int) error
	Close() error
}

// sinkKind is how one output is stored: with alpha, as grey, and the
// write options (bit depth, ICC profile, JPEG quality).
type sinkKind struct {
	alpha, gray bool
	write       imageio.WriteOptions
}

// newRowSink streams PNG (8 or 16 bits, RGB or grey, with the profile);
// JPEG is gathered whole and encoded by imageio on Close.
func newRowSink(w io.Writer, f imageio.Format, width, height int, k sinkKind) rowSink {
	if f == imageio.PNG {
		return pngstream.NewWriterOptions(w, width, height, zlib.DefaultCompression,
			pngstream.Options{Alpha: k.alpha, Gray: k.gray, Bits16: k.write.Bits16, ICC: k.write.ICC})
	}
	return &wholeSink{w: w, f: f, opt: k.write, m: &imageio.Image{W: width, H: height, Gray: k.gray}, alpha: k.alpha}
}

type wholeSink struct {
	w     io.Writer
	f     imageio.Format
	opt   imageio.WriteOptions
	m     *imageio.Image
	alpha bool
}

func (s *wholeSink) WriteRows(pix []float32, n int) error {
	if !s.alpha {
		s.m.Pix = append(s.m.Pix, pix...)
		return nil
	}
	for i := 0; i < len(pix); i += 4 {
		s.m.Pix = append(s.m.Pix, pix[i:i+3]...)
		s.m.Alpha = append(s.m.Alpha, pix[i+3])
	}
	return nil
}

func (s *wholeSink) Close() error { return imageio.Encode(s.w, s.m, s.f, s.opt) }
