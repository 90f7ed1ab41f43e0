// Package implicit is the geometry of implicit decoding, shared by the
// auto-encoder's decoder and the baselines: LIIF coordinates (pixel
// centres in [−1, 1]), the local ensemble of the four latent cells around a
// query, the query MLP that blends them, and the drawing of training
// targets (distinct pixels of a crop at some output size).
package implicit

import (
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// Ensemble is the geometry of LIIF's local ensemble for a batch of query
// points: for every query, the four latent cells around it, where the query
// sits relative to each cell's centre, and how much each cell's prediction
// counts. It holds no features: the decoder gathers them with Gather(feat,
// Index[k]) and builds each MLP input row as
//
//	[feature, RelY[k][q], RelX[k][q], CellY, CellX]
//
// then blends the four predictions as Σ_k Weight[k][q] · pred_k[q].
//
// Neighbour k ∈ 0..3 comes from the shift (vy, vx) = (−1,−1), (−1,+1),
// (+1,−1), (+1,+1) of the query by half a latent cell (LIIF's rx = 1/h,
// a cell being 2/h wide), in the order of LIIF's nested vx/vy loops (LIIF
// calls the row shift vx). Away from the border the four cells are the
// ones whose centres surround the query. The values are float32 like LIIF's; they are
// computed in float64 first so the cell choice does not hinge on rounding.
type Ensemble struct {
	// Index[k][q] is the flat row, n·h·w + y·w + x, of neighbour k's latent
	// cell in the [n, h, w, C] feature map, for Gather.
	Index [4][]int32
	// RelY/RelX[k][q] are the query minus that cell's centre, multiplied by
	// h resp. w as LIIF's rel_coord is: a unit is half a cell, and for
	// queries in [−1, 1] the values lie in [−2, 2].
	RelY, RelX [4][]float32
	// Weight[k][q] is LIIF's area weight: the area |RelY·RelX| of the
	// diagonally opposite neighbour (3−k) over the sum of all four (see
	// LocalEnsemble for the zero-area guard). The four weights of a query
	// sum to 1 and blending with them is bilinear interpolation with
	// half-pixel centres and edge clamping.
	Weight [4][]float32
	// CellY, CellX are the output pixel size in the same units (LIIF's
	// rel_cell: cell·h and cell·w), the same for every query.
	CellY, CellX float32
}

// liifShiftEps is LIIF's eps_shift: it nudges a query lying exactly on a
// cell boundary into a definite cell, so the ± shifts always reach two
// different cells away from the border.
const liifShiftEps = 1e-6

// liifAreaEps keeps an area positive when a query sits on a cell centre, so
// the weights never divide 0 by 0 (LIIF's +1e-9; see LocalEnsemble).
const liifAreaEps = 1e-9

// LocalEnsemble computes the LIIF local-ensemble geometry for queries on an
// n×h×w latent map. Coordinates follow LIIF: y and x lie in [−1, 1], pixel
// centres of an h-row grid are at −1 + (2i+1)/h (see Grid), y indexes
// rows (H) and x columns (W).
//
// ys and xs hold the query coordinates of all images back to back: with
// Q = len(ys)/n queries per image, query q belongs to image q/Q, so len(ys)
// must equal len(xs) and be a multiple of n. Every result slice has len(ys)
// entries in the same order. cellH and cellW are the size of one output
// pixel in the same [−1, 1] units (2/outH, 2/outW for an outH×outW image).
//
// For each neighbour LIIF shifts the query by ±1/h (±1/w) plus 1e-6, clamps
// it to [−1+1e-6, 1−1e-6] and takes the cell containing it (LIIF's
// grid_sample "nearest"; on an exact boundary this takes the upper cell,
// where PyTorch would round half to even — the eps shift makes that case
// unreachable for queries inside the grid). The relative coordinate is then
// measured from the unshifted query.
//
// One deliberate difference from LIIF: LIIF guards against zero areas by
// adding 1e-9 to each product |Δy·Δx|, and so fails when a query sits
// exactly on the centre of the last cell along one axis (the last output
// row or column at ×1 or ×3, say): both shifts along that axis pick the same
// cell with Δ = 0, all four areas become 1e-9, the weights all 1/4, and the
// interpolation along the other axis is lost. Here the guard goes on each
// side, area = (|Δy|+1e-9)·(|Δx|+1e-9): the weights are LIIF's to within
// ~1e-9 everywhere else and stay bilinear in that case.
func LocalEnsemble(n, h, w int, ys, xs []float32, cellH, cellW float32) *Ensemble {
	if n <= 0 || h <= 0 || w <= 0 {
		panic(fmt.Sprintf("implicit.LocalEnsemble: bad map size n=%d h=%d w=%d", n, h, w))
	}
	if len(ys) != len(xs) || len(ys)%n != 0 {
		panic(fmt.Sprintf("implicit.LocalEnsemble: %d y and %d x coordinates for %d images", len(ys), len(xs), n))
	}
	total := len(ys)
	perImage := total / n
	e := &Ensemble{CellY: cellH * float32(h), CellX: cellW * float32(w)}
	for k := range 4 {
		e.Index[k] = make([]int32, total)
		e.RelY[k] = make([]float32, total)
		e.RelX[k] = make([]float32, total)
		e.Weight[k] = make([]float32, total)
	}
	// The queries are independent; the work is light, so only big batches
	// are split.
	par.For(total, 1<<12, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			img := q / perImage
			y, x := float64(ys[q]), float64(xs[q])
			var iy, ix [2]int
			var ry, rx [2]float64
			for s, v := range [2]float64{-1, 1} {
				iy[s], ry[s] = liifCell(y, v, h)
				ix[s], rx[s] = liifCell(x, v, w)
			}
			var area [4]float64
			var sum float64
			for k := range 4 {
				sy, sx := k>>1, k&1
				e.Index[k][q] = int32((img*h+iy[sy])*w + ix[sx])
				e.RelY[k][q] = float32(ry[sy])
				e.RelX[k][q] = float32(rx[sx])
				area[k] = (math.Abs(ry[sy]) + liifAreaEps) * (math.Abs(rx[sx]) + liifAreaEps)
				sum += area[k]
			}
			for k := range 4 {
				e.Weight[k][q] = float32(area[3-k] / sum)
			}
		}
	})
	return e
}

// liifCell returns the cell of a size-cell axis that LIIF picks for
// coordinate c shifted by v half-cells, and c's offset from that cell's
// centre times size.
func liifCell(c, v float64, size int) (int, float64) {
	s := float64(size)
	shifted := c + v/s + liifShiftEps
	shifted = min(max(shifted, -1+liifShiftEps), 1-liifShiftEps)
	i := int(math.Floor((shifted + 1) * s / 2))
	i = min(max(i, 0), size-1)
	return i, (c - centre64(i, size)) * s
}

// Grid returns the centres of an h×w pixel grid in LIIF coordinates,
// row-major: ys[i·w+j] = −1 + (2i+1)/h and xs[i·w+j] = −1 + (2j+1)/w. These
// are the query points for decoding a whole h×w image (LIIF's make_coord).
func Grid(h, w int) (ys, xs []float32) {
	ys, xs = make([]float32, h*w), make([]float32, h*w)
	for i := range h {
		cy := Centre(i, h)
		for j := range w {
			ys[i*w+j] = cy
			xs[i*w+j] = Centre(j, w)
		}
	}
	return ys, xs
}

// Centre is the coordinate of pixel i's centre on an axis of n pixels:
// −1 + (2i+1)/n. It is the one place that formula is written.
func Centre(i, n int) float32 { return float32(centre64(i, n)) }

// centre64 is Centre in float64, for the cell choice.
func centre64(i, n int) float64 { return -1 + (2*float64(i)+1)/float64(n) }
