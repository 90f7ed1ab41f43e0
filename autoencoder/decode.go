package autoencoder

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Decoder renders one latent at any size. It runs the convolutional part
// of the decoder once, at the latent's resolution, and then answers
// queries for any band of output rows, so an output of any size can be
// produced a band at a time in bounded memory.
type Decoder struct {
	m    *Model
	z, f *tensor.Tensor
	// The view is the part of the latent's extent that the output covers,
	// as fractions (see SetView): all of it unless the image was padded
	// before encoding.
	viewY, viewX, viewH, viewW float32
}

// NewDecoder prepares z [1,h,w,LatentCh] for rendering.
func (m *Model) NewDecoder(z *tensor.Tensor) (*Decoder, error) {
	if len(z.Shape) != 4 || z.Shape[0] != 1 || z.Shape[3] != m.Config.LatentCh {
		return nil, fmt.Errorf("decode: latent has shape %v, want [1 h w %d]", z.Shape, m.Config.LatentCh)
	}
	return &Decoder{m: m, z: z, f: m.Features(nil, z), viewH: 1, viewW: 1}, nil
}

// SetView restricts rendering to the h×w fraction of the latent's extent
// whose top-left corner is at the fractions (y, x), the part that holds the
// image when it was padded before encoding (0 ≤ y, y+h ≤ 1, and the same
// for x and w).
func (d *Decoder) SetView(y, x, h, w float32) {
	d.viewY, d.viewX, d.viewH, d.viewW = y, x, h, w
}

// Rows renders output rows [y0, y1) of an outH×outW image as interleaved
// RGB (3·outW values a row), in batches of Config.QueryBatch queries.
func (d *Decoder) Rows(outH, outW, y0, y1 int) []float32 {
	return d.Window(outH, outW, y0, y1, 0, outW)
}

// Window renders the rectangle of rows [y0, y1) and columns [x0, x1) of an
// outH×outW image as interleaved RGB (3·(x1−x0) values a row): the cost is
// the window's, not the whole image's, which is what a zoom into a huge
// virtual image needs.
func (d *Decoder) Window(outH, outW, y0, y1, x0, x1 int) []float32 {
	ww := x1 - x0
	out := make([]float32, (y1-y0)*ww*3)
	batch := d.m.Config.QueryBatch
	if batch <= 0 {
		batch = 65536
	}
	total := (y1 - y0) * ww
	cellH, cellW := 2*d.viewH/float32(outH), 2*d.viewW/float32(outW)
	for q0 := 0; q0 < total; q0 += batch {
		q1 := min(q0+batch, total)
		ys := make([]float32, q1-q0)
		xs := make([]float32, q1-q0)
		for i := q0; i < q1; i++ {
			y, x := y0+i/ww, x0+i%ww
			ys[i-q0] = -1 + 2*d.viewY + d.viewH*(2*float32(y)+1)/float32(outH)
			xs[i-q0] = -1 + 2*d.viewX + d.viewW*(2*float32(x)+1)/float32(outW)
		}
		rgb := d.m.Query(nil, d.z, d.f, ys, xs, cellH, cellW)
		copy(out[q0*3:q1*3], rgb.Data)
	}
	return out
}

// Render decodes the whole outH×outW image (interleaved RGB, not clamped).
func (d *Decoder) Render(outH, outW int) []float32 { return d.Rows(outH, outW, 0, outH) }
