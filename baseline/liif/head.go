package liif

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/nn"
)

// Head is LIIF's implicit decoder: an MLP queried at continuous
// coordinates of a feature map, with LIIF's three refinements — 3×3
// feature unfolding (optional), the local ensemble of the four nearest
// feature vectors blended by area, and cell decoding (the output pixel's
// size is an input) — all evaluated by implicit.Query. The IDM baseline
// uses the same head to up-sample its encoder's features.
type Head struct {
	mlp    []*nn.Linear
	unfold bool
	out    int
}

// NewHead adds a head over feats-channel feature maps to p: MLP layers of
// the hidden widths (ReLU between) and a last linear layer to out values.
func NewHead(p *nn.Params, feats int, hidden []int, out int, unfold bool) *Head {
	h := &Head{unfold: unfold, out: out}
	in := feats
	if unfold {
		in *= 9
	}
	in += 4 // relative coordinate (2) and cell size (2)
	for i, w := range hidden {
		h.mlp = append(h.mlp, nn.NewLinear(p, fmt.Sprintf("fc%d", i), in, w, false))
		in = w
	}
	h.mlp = append(h.mlp, nn.NewLinear(p, fmt.Sprintf("fc%d", len(hidden)), in, out, false))
	return h
}

// Prepare turns an encoder's feature map [N,h,w,C] into the map Query
// reads. With unfolding it is padded by one zero pixel on every side: each
// query then gathers its cells' 3×3 neighbourhoods itself, instead of the
// whole map being unfolded into one nine times wider, which is what runs
// LIIF out of memory on large inputs.
func (h *Head) Prepare(tp *tensor.Tape, f *tensor.Tensor) *tensor.Tensor {
	if !h.unfold {
		return f
	}
	return tp.Pad(f, 1, 1, 1, 1)
}

// size is the feature map's own size, without Prepare's padding.
func (h *Head) size(f *tensor.Tensor) (n, fh, fw int) {
	if h.unfold {
		return f.Shape[0], f.Shape[1] - 2, f.Shape[2] - 2
	}
	return f.Shape[0], f.Shape[1], f.Shape[2]
}

// Query evaluates the head at query points on the prepared map f: ys and
// xs hold LIIF coordinates ([−1, 1], pixel centres at −1 + (2i+1)/n) of
// every image's queries back to back, the same number per image, and
// cellH, cellW the output pixel's size in the same units (2/outH, 2/outW).
// The result is [len(ys), out].
func (h *Head) Query(tp *tensor.Tape, f *tensor.Tensor, ys, xs []float32, cellH, cellW float32) *tensor.Tensor {
	n, fh, fw := h.size(f)
	return h.eval(tp, f, implicit.LocalEnsemble(n, fh, fw, ys, xs, cellH, cellW))
}

// QueryImage is Query for queries that all belong to image i of f's
// batch, so that each image of a batch can have its own cell size, as
// LIIF's training draws a scale per patch.
func (h *Head) QueryImage(tp *tensor.Tape, f *tensor.Tensor, i int, ys, xs []float32, cellH, cellW float32) *tensor.Tensor {
	_, fh, fw := h.size(f)
	ens := implicit.LocalEnsemble(1, fh, fw, ys, xs, cellH, cellW)
	for k := range ens.Index {
		for q := range ens.Index[k] {
			ens.Index[k][q] += int32(i * fh * fw)
		}
	}
	return h.eval(tp, f, ens)
}

func (h *Head) eval(tp *tensor.Tape, f *tensor.Tensor, ens *implicit.Ensemble) *tensor.Tensor {
	feat := func(idx []int32) *tensor.Tensor { return tp.Gather(f, idx) }
	if h.unfold {
		_, fh, fw := h.size(f)
		feat = func(idx []int32) *tensor.Tensor { return unfoldGather(tp, f, idx, fh, fw) }
	}
	return implicit.Query(tp, h.mlp, ens, feat)
}

// unfoldGather returns, for each cell idx[q] (a flat n·h·w index of the
// unpadded map), its 3×3 neighbourhood read from p, the map zero-padded by
// one: [len(idx), 9·C], neighbour (dy, dx) of the 3×3 window at columns
// (3·dy+dx)·C to (3·dy+dx+1)·C. LIIF's F.unfold orders the same values
// channel-major; the order is only a permutation of the first layer's
// inputs, and no PyTorch weights are loaded here.
func unfoldGather(tp *tensor.Tape, p *tensor.Tensor, idx []int32, h, w int) *tensor.Tensor {
	parts := make([]*tensor.Tensor, 0, 9)
	for dy := range 3 {
		for dx := range 3 {
			at := make([]int32, len(idx)) // the gather's backward keeps it
			for q, r := range idx {
				img, y, x := int(r)/(h*w), int(r)%(h*w)/w, int(r)%w
				at[q] = int32((img*(h+2)+y+dy)*(w+2) + x + dx)
			}
			parts = append(parts, tp.Gather(p, at))
		}
	}
	return tp.Concat(parts...)
}

// Rows renders rows [y0, y1) of an outH×outW image from the prepared map
// f of one image: interleaved, out values a pixel. Queries go through the
// MLP about batch at a time (whole rows, at least one), so memory depends
// on the batch and the width, never on the output's height.
func (h *Head) Rows(f *tensor.Tensor, outH, outW, y0, y1, batch int) []float32 {
	out := make([]float32, 0, (y1-y0)*outW*h.out)
	step := max(1, batch/outW)
	cellH, cellW := 2/float32(outH), 2/float32(outW)
	for ya := y0; ya < y1; ya += step {
		yb := min(ya+step, y1)
		ys := make([]float32, 0, (yb-ya)*outW)
		xs := make([]float32, 0, (yb-ya)*outW)
		for y := ya; y < yb; y++ {
			cy := implicit.Centre(y, outH)
			for x := range outW {
				ys = append(ys, cy)
				xs = append(xs, implicit.Centre(x, outW))
			}
		}
		out = append(out, h.Query(nil, f, ys, xs, cellH, cellW).Data...)
	}
	return out
}
