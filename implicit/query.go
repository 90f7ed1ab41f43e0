package implicit

import (
	"github.com/zoomdiff/zoomdiff/engine/tensor"
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
