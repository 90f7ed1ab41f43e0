package tensor

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// Gather picks rows of feat: feat is [..., C] (an NHWC map is N·H·W rows of
// C features) and idx holds flat row indices, n·H·W + y·W + x for a map. The
// result is [len(idx), C], row q being feat's row idx[q]. It is how the
// implicit decoder reads the latent feature nearest to each query point.
//
// The backward step scatter-adds into feat's gradient. Many queries hit the
// same row, so rather than racing, each goroutine owns a contiguous range of
// feat rows and takes only the queries that land there, in query order: the
// sum for every row is then formed in the same order whatever the number of
// goroutines, and the result is bit-for-bit deterministic.
func (tp *Tape) Gather(feat *Tensor, idx []int32) *Tensor {
	if len(feat.Shape) == 0 {
		panic("tensor.Gather: scalar feat")
	}
	c := feat.Shape[len(feat.Shape)-1]
	rows := numel(feat.Shape[:len(feat.Shape)-1])
	for q, r := range idx {
		if r < 0 || int(r) >= rows {
			panic(fmt.Sprintf("tensor.Gather: idx[%d] = %d outside the %d rows of %v", q, r, rows, feat.Shape))
		}
	}
	out := tp.newOut([]int{len(idx), c}, feat)
	par.For(len(idx), shapeRowGrain(c), func(lo, hi int) {
		for q := lo; q < hi; q++ {
			r := int(idx[q])
			copy(out.Data[q*c:(q+1)*c], feat.Data[r*c:(r+1)*c])
		}
	})
	tp.record(out, func() {
		g := out.Grad
		if g == nil {
			return
		}
		gf := tp.grad(feat)
		// Every goroutine scans all of idx (cheap next to C additions per
		// hit), so split into only as many row ranges as there are workers,
		// and none at all when the whole job is small.
		grain := rows
		if len(idx)*c >= grainElems {
			grain = (rows + par.Workers() - 1) / par.Workers()
		}
		par.For(rows, grain, func(lo, hi int) {
			for q, r32 := range idx {
				r := int(r32)
				if r < lo || r >= hi {
					continue
				}
				dst := gf[r*c : (r+1)*c]
				for i, v := range g[q*c : (q+1)*c] {
					dst[i] += v
				}
			}
		})
	})
	return out
}
