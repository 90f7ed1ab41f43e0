package diffusion

import (
	"context"
	"fmt"
	"time"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Limits on what one call accepts: the latents of every sample are held
// whole (a few floats per input pixel each) and Upscale returns whole
// images. Larger outputs go through Latents and a Decoder, band by band.
const (
	MaxInputPixels  = 1 << 24
	MaxOutputPixels = 1 << 28
)

// Latent is one sampled latent of an input, ready to be decoded at any size.
type Latent struct {
	// Z is the raw (denormalised) latent [1,H,W,C]. It covers the input
	// with up to SampleOptions.Margin pixels of mirrored context on every
	// side (see SR.fitMargin), padded on the right and bottom to the U-Net's
	// size multiple.
	Z *tensor.Tensor
	// ViewY, ViewX, ViewH and ViewW are the part of Z's extent that the
	// input covers, as fractions: its top-left corner and its size (see
	// autoencoder.Decoder.SetView).
	ViewY, ViewX, ViewH, ViewW float32
	// InW and InH are the input's size in pixels.
	InW, InH int
}

// Latents samples opt.Samples latents for the low-resolution image lr, of
// any size. Each can be decoded at any output size with Decoder; that is
// how a caller streams an output too big to hold, band by band. The
// denoiser runs over overlapping windows (see SampleOptions.Tile) and the
// condition is encoded in windows too, so memory grows with the input's
// latent, not with the network's activations over it. Cancelling ctx stops
// between denoising steps.
func (s *SR) Latents(ctx context.Context, lr *imageio.Image, opt SampleOptions) ([]*Latent, error) {
	if s.Config.Generator {
		return nil, errNotSR
	}
	if err := lr.Check(); err != nil {
		return nil, fmt.Errorf("sr input: %w", err)
	}
	if int64(lr.W)*int64(lr.H) > MaxInputPixels {
		return nil, fmt.Errorf("sr input %dx%d has more than %d pixels", lr.W, lr.H, MaxInputPixels)
	}
	if err := opt.resolve(s); err != nil {
		return nil, err
	}
	m := s.UNet.Config.Multiple()
	mgY, mgX := s.fitMargin(lr.H, opt), s.fitMargin(lr.W, opt)
	ph, pw := roundUp(lr.H+2*mgY, m), roundUp(lr.W+2*mgX, m)
	padded := reflectPad(lr.Pix, lr.W, lr.H, pw, ph, mgY, mgX)
	start := time.Now()
	cond, err := s.encodeCondTiled(ctx, padded, ph, pw, opt)
	if err != nil {
		return nil, err
	}
	encoded := time.Now()
	z, err := s.sampleLatents(ctx, ph*s.Config.upFactor(), pw*s.Config.upFactor(), cond, 0, opt)
	if err != nil {
		return nil, err
	}
	s.denormalize(z.Data)
	h, w, c := z.Shape[1], z.Shape[2], z.Shape[3]
	out := make([]*Latent, opt.Samples)
	for k := range out {
		zk := tensor.FromData(z.Data[k*h*w*c:(k+1)*h*w*c], 1, h, w, c)
		if err := s.project(ctx, zk, padded, ph, pw, opt.Consistency); err != nil {
			return nil, err
		}
		out[k] = &Latent{Z: zk, InW: lr.W, InH: lr.H,
			ViewY: float32(mgY) / float32(ph), ViewX: float32(mgX) / float32(pw),
			ViewH: float32(lr.H) / float32(ph), ViewW: float32(lr.W) / float32(pw)}
	}
	if opt.Timings != nil {
		*opt.Timings = Timings{Encode: encoded.Sub(start), Diffusion: time.Since(encoded)}
	}
	return out, nil
}

// project makes a sampled latent z (raw, covering the padded input of
// ph×pw pixels) agree with the input, in rounds: the decoder renders z at
// the input's size, and the residual input − render is added to the
// latent's image channels, the area average that the global skip carries
// to the output through bicubic interpolation. It is back-projection
// (Irani & Peleg) done in the latent, so it costs decodes at the input's
// size only, whatever the output size. Diffusion samples drift from the
// input by a few grey levels; a few rounds bring the output, down-sampled,
// back onto it.
func (s *SR) project(ctx context.Context, z *tensor.Tensor, lr []float32, ph, pw, rounds int) error {
	if rounds <= 0 {
		return nil
	}
	if !s.AE.Config.GlobalSkip {
		return fmt.Errorf("consistency rounds need an auto-encoder with the global skip")
	}
	k, c := s.Config.upFactor(), z.Shape[3]
	lw := pw * k
	for range rounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := s.AE.NewDecoder(z)
		if err != nil {
			return err
		}
		got := d.Render(ph, pw)
		for y := range ph * k {
			for x := range lw {
				p := (y/k*pw + x/k) * 3
				zp := z.Data[(y*lw+x)*c:]
				for ch := range 3 {
					zp[ch] += lr[p+ch] - got[p+ch]
				}
			}
		}
	}
	return nil
}

// Decoder prepares l for rendering at any size through the implicit
// decoder, restricted to the part of the latent that holds the input.
func (s *SR) Decoder(l *Latent) (*autoencoder.Decoder, error) {
	if l == nil || l.Z == nil {
		return nil, fmt.Errorf("decode: no latent")
	}
	d, err := s.AE.NewDecoder(l.Z)
	if err != nil {
		return nil, err
	}
	d.SetView(l.ViewY, l.ViewX, l.ViewH, l.ViewW)
	return d, nil
}

// Stream samples opt.Samples latents of lr and returns them as a
// render.Source whose rows are decoded at outW×outH (any size: the scale
// need not be an integer, nor the same on both axes) only when asked for,
// so memory grows with the input, not with the output.
func (s *SR) Stream(ctx context.Context, lr *imageio.Image, outW, outH int, opt SampleOptions) (render.Source, error) {
	if outW < 1 || outH < 1 {
		return nil, fmt.Errorf("sr output size %dx%d: want at least 1x1", outW, outH)
	}
	if opt.Temperature == TemperatureByScale && lr != nil && lr.W > 0 && lr.H > 0 {
		opt.Temperature = TemperatureFor(max(float64(outW)/float64(lr.W), float64(outH)/float64(lr.H)))
	}
	lats, err := s.Latents(ctx, lr, opt)
	if err != nil {
		return nil, err
	}
	src := &autoencoder.Source{W: outW, H: outH, Decs: make([]*autoencoder.Decoder, len(lats))}
	for k, l := range lats {
		if src.Decs[k], err = s.Decoder(l); err != nil {
			return nil, err
		}
		// Detail is per input pixel, the decoder's scale per latent cell.
		if err := src.Decs[k].SetDetailScale(opt.Detail / float64(s.Config.upFactor())); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// Upscale super-resolves lr to outW×outH and returns opt.Samples
// candidates in memory, clamped to [0, 1], through the one render path
// (render.Run: alpha resized by its rule, grey input, grey output).
// Outputs too big to hold go through Stream and render.WriteFiles.
func (s *SR) Upscale(ctx context.Context, lr *imageio.Image, outW, outH int, opt SampleOptions) ([]*imageio.Image, error) {
	if outW < 1 || outH < 1 || int64(outW)*int64(outH) > MaxOutputPixels {
		return nil, fmt.Errorf("sr output size %dx%d: want 1 to %d pixels", outW, outH, MaxOutputPixels)
	}
	// Checked on a copy: the temperature's default depends on the scale,
	// which Stream resolves.
	chk := opt
	if err := chk.resolve(s); err != nil {
		return nil, err
	}
	return render.Upscale(ctx, &Upscaler{SR: s, Opt: opt}, lr, outW, outH, 0, chk.Samples)
}

// encodeCondTiled encodes the padded LR image (ph×pw, multiples of the
// U-Net's Multiple) as the normalised condition latent, by the model's
// condition network where it has one (unless opt.ExactCondition) and by
// the encoder otherwise.
//
// An input larger than one window is computed window by window with a
// margin of context on every side that is then discarded, so the
// activations at full resolution stay bounded. The network's margin is
// its reach, so its windows give exactly the whole input's answer. The
// encoder's windows are opt.EncodeTile latent pixels and a smaller input
// is encoded in one pass, exactly as in training; its GroupNorm statistics
// are per window, as they were per training crop.
func (s *SR) encodeCondTiled(ctx context.Context, pix []float32, ph, pw int, opt SampleOptions) (*tensor.Tensor, error) {
	k := s.Config.upFactor()
	encode, tile, margin := s.encodeCond, opt.EncodeTile, (encodeMargin+k-1)/k
	if s.Cond != nil && !opt.ExactCondition {
		encode, tile, margin = s.condFromNet, condNetWindow, s.Cond.Config.Reach()
	}
	lh, lw := ph*k, pw*k
	report := opt.ConditionProgress
	if report == nil {
		report = func(int, int) {}
	}
	if lh <= tile && lw <= tile {
		report(0, 1)
		z := encode(tensor.FromData(pix, 1, ph, pw, 3))
		report(1, 1)
		return z, nil
	}
	c := s.AE.Config.LatentCh
	out := tensor.New(1, lh, lw, c)
	// Windows are cut in LR pixels; each covers k latent pixels per LR
	// pixel. The windows along a side are as many as tile demands and of
	// equal size, so no thin last window pays a full margin for a few
	// pixels.
	coreY, coreX := balancedCore(ph, max(1, tile/k)), balancedCore(pw, max(1, tile/k))
	done, total := 0, ((ph+coreY-1)/coreY)*((pw+coreX-1)/coreX)
	report(done, total)
	for y0 := 0; y0 < ph; y0 += coreY {
		for x0 := 0; x0 < pw; x0 += coreX {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			y1, x1 := min(y0+coreY, ph), min(x0+coreX, pw)
			ey0, ex0 := max(0, y0-margin), max(0, x0-margin)
			ey1, ex1 := min(ph, y1+margin), min(pw, x1+margin)
			win := tensor.New(1, ey1-ey0, ex1-ex0, 3)
			for y := ey0; y < ey1; y++ {
				copy(win.Data[(y-ey0)*(ex1-ex0)*3:(y-ey0+1)*(ex1-ex0)*3], pix[(y*pw+ex0)*3:(y*pw+ex1)*3])
			}
			z := encode(win)
			zw := (ex1 - ex0) * k
			for y := y0 * k; y < y1*k; y++ {
				src := z.Data[((y-ey0*k)*zw+(x0-ex0)*k)*c:]
				copy(out.Data[(y*lw+x0*k)*c:(y*lw+x1*k)*c], src[:(x1-x0)*k*c])
			}
			done++
			report(done, total)
		}
	}
	return out, nil
}

// condNetWindow is the side, in input pixels, of the windows the
// condition network runs on: its 64-channel activations over a window
// and its margins take about 20 MB each, and the margins add 16 % to the
// work.
const condNetWindow = 256

// encodeMargin is the context, in latent pixels, around each window of a
// tiled encoding: the default encoder's receptive field reaches 38 image
// pixels (9.5 latent pixels at f = 4) from its centre, so beyond 10 the
// margin only feeds the GroupNorm statistics. 16 before: Set5/Set14 ×4
// PSNR-Y 30.113/27.064 dB with 16, 30.121/27.069 with 10 and 30.124/27.071
// with 8, for 19 % less encoding on the example.
const encodeMargin = 10

// balancedCore is the side of each of the fewest equal windows, none
// larger than core, that cover n pixels.
func balancedCore(n, core int) int {
	w := (n + core - 1) / core
	return (n + w - 1) / w
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// fitMargin is the margin, at most opt.Margin, that an input side of n
// pixels gets: the largest that adds no U-Net window along that side, so
// the context is free where the window grid has slack and never
// multiplies the diffusion's cost (64 input pixels with a 64-pixel tile
// would otherwise take four windows a step instead of one).
func (s *SR) fitMargin(n int, opt SampleOptions) int {
	m, up := s.UNet.Config.Multiple(), s.Config.upFactor()
	windows := func(side int) int { return tileCount(roundUp(side, m)*up, opt.Tile, opt.Overlap, m) }
	base := windows(n)
	for mg := opt.Margin; mg > 0; mg-- {
		if windows(n+2*mg) == base {
			return mg
		}
	}
	return 0
}

// reflectPad places an interleaved RGB image of w×h at (offX, offY) in a
// pw×ph canvas (pw ≥ w+offX, ph ≥ h+offY) and fills the rest by mirror
// reflection about the image's edges (symmetric, edge pixels repeated,
// period 2n), which works for any size down to a single pixel and gives
// the encoder natural-looking content rather than a hard edge.
func reflectPad(pix []float32, w, h, pw, ph, offY, offX int) []float32 {
	if w == pw && h == ph {
		return pix
	}
	out := make([]float32, pw*ph*3)
	for y := range ph {
		sy := resample.Mirror(y-offY, h)
		for x := range pw {
			sx := resample.Mirror(x-offX, w)
			copy(out[(y*pw+x)*3:(y*pw+x)*3+3], pix[(sy*w+sx)*3:(sy*w+sx)*3+3])
		}
	}
	return out
}
