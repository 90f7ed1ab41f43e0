package implicit

import (
	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/par"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
	"github.com/zoomdiff/zoomdiff/nn"
)

// Query is the head of LIIF (Chen et al. 2021): for each of the four
// latent cells of the local ensemble ens it runs the MLP on
//
//	[feature of the cell, RelY, RelX, CellY, CellX]
//
// (ReLU between the layers, none after the last) and blends the four
// predictions with the ensemble's area weights. feat returns the feature
// rows [len(idx), C] of the cells idx (ens.Index[k]), so the caller decides
// how features are read: a plain Gather, or a gather that unfolds 3×3
// neighbourhoods on the fly. The result is [Q, out] for the Q queries of
// ens, out being the last layer's width. Every implicit decoder in the
// project (the auto-encoder's and the baselines') evaluates its queries
// here.
func Query(tp *tensor.Tape, mlp []*nn.Linear, ens *Ensemble, feat func(idx []int32) *tensor.Tensor) *tensor.Tensor {
	if tp == nil {
		return queryInference(mlp, ens, feat)
	}
	q := len(ens.Index[0])
	var pred *tensor.Tensor
	for k := 0; k < 4; k++ {
		geo := tensor.New(q, 4)
		for i := 0; i < q; i++ {
			geo.Data[i*4] = ens.RelY[k][i]
			geo.Data[i*4+1] = ens.RelX[k][i]
			geo.Data[i*4+2] = ens.CellY
			geo.Data[i*4+3] = ens.CellX
		}
		hid := tp.Concat(feat(ens.Index[k]), geo)
		for i, l := range mlp {
			hid = l.Forward(tp, hid)
			if i < len(mlp)-1 {
				hid = tp.ReLU(hid)
			}
		}
		term := tp.Mul(hid, tensor.FromData(ens.Weight[k], q, 1))
		if pred == nil {
			pred = term
		} else {
			pred = tp.Add(pred, term)
		}
	}
	return pred
}

// queryChunk is how many queries queryInference runs through the MLP at a
// time: a chunk's widest activation (chunk × 128 floats, 256 KB) stays in
// a core's L2 cache between layers.
const queryChunk = 512

// queryInference is Query without a tape: the same sums in the same order,
// but a chunk of queries at a time on each core, each layer's output
// starting as its bias and accumulated in place by the GEMM, the ReLU
// applied while the chunk is in cache, and no tensor allocated per layer.
// With the whole batch at once (the taped path) each layer's output is tens
// of MB, so the bias, the ReLU and zeroing fresh memory each cost a pass
// through main memory: together as much time as the GEMMs.
func queryInference(mlp []*nn.Linear, ens *Ensemble, feat func(idx []int32) *tensor.Tensor) *tensor.Tensor {
	q := len(ens.Index[0])
	var feats [4]*tensor.Tensor
	for k := range feats {
		feats[k] = feat(ens.Index[k])
	}
	c := feats[0].Shape[1]
	widest := c + 4
	for _, l := range mlp {
		widest = max(widest, l.W.Shape[1])
	}
	outW := mlp[len(mlp)-1].W.Shape[1]
	pred := tensor.New(q, outW)
	par.For(q, queryChunk, func(lo, hi int) {
		src := make([]float32, queryChunk*widest)
		dst := make([]float32, queryChunk*widest)
		for a := lo; a < hi; a += queryChunk {
			m := min(queryChunk, hi-a)
			for k := range feats {
				in := c + 4
				for i := 0; i < m; i++ {
					row := src[i*in : (i+1)*in]
					copy(row, feats[k].Data[(a+i)*c:(a+i+1)*c])
					row[c], row[c+1], row[c+2], row[c+3] = ens.RelY[k][a+i], ens.RelX[k][a+i], ens.CellY, ens.CellX
				}
				x, y := src, dst
				for li, l := range mlp {
					out := l.W.Shape[1]
					for i := 0; i < m; i++ {
						copy(y[i*out:(i+1)*out], l.B.Data)
					}
					blas.SgemmSerial(false, false, m, out, in, 1, x, in, l.W.Data, out, 1, y, out)
					if li < len(mlp)-1 {
						vmath.ReLU(y[:m*out], y[:m*out])
					}
					x, y, in = y, x, out
				}
				w := ens.Weight[k]
				for i := 0; i < m; i++ {
					p := pred.Data[(a+i)*outW : (a+i+1)*outW]
					for j := range p {
						p[j] += x[i*outW+j] * w[a+i]
					}
				}
			}
		}
	})
	return pred
}
