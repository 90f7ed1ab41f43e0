package autoencoder

import (
	"fmt"
	"math"
	"sync"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/resample"
)

// DefaultDetailScale is the most output pixels per latent cell that Rows
// renders exactly by default (see Decoder.SetDetailScale). Measured on SR
// latents of 64×64 crops (built-in model, 5 DPM-Solver steps) decoded at
// ×200, 100-row bands against the exact decode, PSNR (RGB): Set14 baboon's
// fur 37.0–37.8 dB at 8, 42.3–43.3 at 16, 45.8–46.9 at 24, 48.5–49.6 at
// 32, 52.7–53.8 at 48; the example photo 49.7 at 24 and 52.3 at 32
// (models' BenchmarkDecodeDetail). 32 keeps
// every output within 45 dB of the exact decode with a margin, and makes
// ×200 cost what ×32 does plus a resize.
const DefaultDetailScale = 32

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

	detail float64 // see SetDetailScale
	// The resizing stream of the output size Rows was last asked for,
	// when that size is above the detail scale.
	mu               sync.Mutex
	stream           *resample.Stream
	streamH, streamW int
}

// NewDecoder prepares z [1,h,w,LatentCh] for rendering.
func (m *Model) NewDecoder(z *tensor.Tensor) (*Decoder, error) {
	if len(z.Shape) != 4 || z.Shape[0] != 1 || z.Shape[3] != m.Config.LatentCh {
		return nil, fmt.Errorf("decode: latent has shape %v, want [1 h w %d]", z.Shape, m.Config.LatentCh)
	}
	return &Decoder{m: m, z: z, f: m.Features(nil, z), viewH: 1, viewW: 1, detail: DefaultDetailScale}, nil
}

// SetDetailScale sets the most output pixels per latent cell that Rows
// renders by querying the decoder for every pixel. A larger output is
// rendered at s pixels per cell and resized up to its size with bicubic
// interpolation: beyond some scale the decoder's output within a cell is
// so smooth that interpolating it loses almost nothing, while querying
// costs the same for every pixel. s is at least 1; math.Inf(1) queries
// every pixel at any size. Window always queries every pixel.
func (d *Decoder) SetDetailScale(s float64) error {
	if !(s >= 1) {
		return fmt.Errorf("decode: detail scale %v, want at least 1", s)
	}
	d.mu.Lock()
	d.detail, d.stream = s, nil
	d.mu.Unlock()
	return nil
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
// Above the detail scale (SetDetailScale) the rows are resized from a
// smaller rendering, made a band at a time: taking bands from the top down
// renders each of its rows once. 0 ≤ y0 < y1 ≤ outH.
func (d *Decoder) Rows(outH, outW, y0, y1 int) []float32 {
	// The rendering's size: at most detail pixels a latent cell of the
	// view, at most the output's (an infinite detail scale included).
	mid := func(out, cells int, view float32) int {
		// The view is a float32 fraction of the cells (5/24 say): round
		// away its error before the ceiling, or a rendering at exactly
		// detail pixels an input pixel gets a row or column more.
		if v := d.detail * float64(cells) * float64(view); v < float64(out) {
			return max(1, int(math.Ceil(v*(1-1e-6))))
		}
		return out
	}
	midH, midW := mid(outH, d.z.Shape[1], d.viewH), mid(outW, d.z.Shape[2], d.viewW)
	if midH == outH && midW == outW {
		return d.Window(outH, outW, y0, y1, 0, outW)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stream == nil || d.streamH != outH || d.streamW != outW {
		st, err := resample.NewStream(midW, midH, 3, outW, outH, resample.Bicubic, func(a, b int) []float32 {
			return d.Window(midH, midW, a, b, 0, midW)
		})
		if err != nil {
			panic(fmt.Sprintf("autoencoder.Decoder: %v", err)) // the sizes are positive by construction
		}
		d.stream, d.streamH, d.streamW = st, outH, outW
	}
	rows, err := d.stream.Rows(y0, y1)
	if err != nil {
		panic(fmt.Sprintf("autoencoder.Decoder.Rows: %v", err))
	}
	return rows
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
			ys[i-q0] = -1 + 2*d.viewY + d.viewH*(implicit.Centre(y, outH)+1)
			xs[i-q0] = -1 + 2*d.viewX + d.viewW*(implicit.Centre(x, outW)+1)
		}
		rgb := d.m.Query(nil, d.z, d.f, ys, xs, cellH, cellW)
		copy(out[q0*3:q1*3], rgb.Data)
	}
	return out
}

// Render decodes the whole outH×outW image (interleaved RGB, not clamped).
func (d *Decoder) Render(outH, outW int) []float32 { return d.Rows(outH, outW, 0, outH) }
