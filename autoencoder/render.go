package autoencoder

import (
	"context"
	"fmt"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
)

// Source renders latents band by band as a render.Source: sample k is
// Decs[k] decoded at W×H, clamped to [0, 1], rows only when asked for, so
// memory grows with the latents, not with the output.
type Source struct {
	W, H int
	Decs []*Decoder
}

// Size returns the output size.
func (s *Source) Size() (w, h int) { return s.W, s.H }

// Samples returns the number of latents.
func (s *Source) Samples() int { return len(s.Decs) }

// Rows decodes rows [y0, y1) of sample k, clamped to [0, 1].
func (s *Source) Rows(k, y0, y1 int) ([]float32, error) {
	return FinishRGB(s.Decs[k].Rows(s.H, s.W, y0, y1), false), nil
}

// AlphaRows is nil: the decoder draws colour only.
func (s *Source) AlphaRows(y0, y1 int) []float32 { return nil }

// FinishRGB turns decoded interleaved RGB into displayable output in
// place: clamped to [0, 1] and, for a grey input, grey again. It returns v.
func FinishRGB(v []float32, gray bool) []float32 {
	for i, x := range v {
		v[i] = min(max(x, 0), 1)
	}
	if gray {
		for p := 0; p < len(v); p += 3 {
			g := (v[p] + v[p+1] + v[p+2]) / 3
			v[p], v[p+1], v[p+2] = g, g, g
		}
	}
	return v
}

// Reconstruct is the auto-encoder's round trip as a render method (method
// "reconstruct"): the input is encoded and its latent decoded at the size
// asked for, any size, streamed in bands. It is what stage 1 alone draws,
// the baseline the diffusion model adds detail to.
type Reconstruct struct{ Model *Model }

// Name returns "reconstruct".
func (Reconstruct) Name() string { return "reconstruct" }

// Upscale renders lr's round trip at w×h in memory.
func (r Reconstruct) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	imgs, err := render.Upscale(ctx, r, lr, w, h, 0, 1)
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// Deterministic marks the round trip as drawing one output for an input.
func (Reconstruct) Deterministic() {}

// Stream encodes lr and returns its latent's decoding at w×h; the round
// trip is deterministic, so n must be 1.
func (r Reconstruct) Stream(ctx context.Context, lr *imageio.Image, w, h, n int) (render.Source, error) {
	if n != 1 {
		return nil, fmt.Errorf("the auto-encoder's round trip draws one output, not %d", n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := r.Model.EncodeImage(lr)
	if err != nil {
		return nil, err
	}
	return &Source{W: w, H: h, Decs: []*Decoder{d}}, nil
}
