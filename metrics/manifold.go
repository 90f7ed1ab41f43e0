package metrics

import (
	"fmt"
	"sort"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// DefaultManifoldK is the neighbourhood size of PrecisionRecall by
// default: k = 3, the value Kynkäänniemi et al. (2019) recommend.
const DefaultManifoldK = 3

// PrecisionRecall is the improved precision and recall of a generator
// (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
// Assessing Generative Models"). Each set's manifold is estimated as the
// union of balls around its feature vectors, each ball reaching the
// vector's k-th nearest neighbour in its own set. Precision is the
// fraction of generated vectors inside the real manifold (are the samples
// realistic?), recall the fraction of real vectors inside the generated
// manifold (is the data's variety covered?). FD mixes the two; these tell
// sharper-but-fewer from varied-but-blurry.
//
// real and gen hold nr and ng vectors of length d row by row. Both sets
// need more than k vectors; compare values only at equal set sizes, as
// the radii shrink as a set grows.
func PrecisionRecall(real []float64, nr int, gen []float64, ng, d, k int) (precision, recall float64, err error) {
	if k < 1 || d < 1 || nr <= k || ng <= k || len(real) != nr*d || len(gen) != ng*d {
		return 0, 0, fmt.Errorf("PrecisionRecall: %d real and %d generated vectors of %d (%d and %d values) with k = %d: want more than k vectors in each set",
			nr, ng, d, len(real), len(gen), k)
	}
	rr := kthNeighbourDist2(real, nr, d, k)
	rg := kthNeighbourDist2(gen, ng, d, k)
	return coveredFraction(gen, ng, real, rr, d), coveredFraction(real, nr, gen, rg, d), nil
}

// kthNeighbourDist2 returns, for each of the n vectors of x, the squared
// distance to its k-th nearest other vector of x.
func kthNeighbourDist2(x []float64, n, d, k int) []float64 {
	out := make([]float64, n)
	par.For(n, rowGrain(n*d), func(lo, hi int) {
		dist := make([]float64, 0, n-1)
		for i := lo; i < hi; i++ {
			dist = dist[:0]
			for j := 0; j < n; j++ {
				if j != i {
					dist = append(dist, dist2(x[i*d:(i+1)*d], x[j*d:(j+1)*d]))
				}
			}
			sort.Float64s(dist)
			out[i] = dist[k-1]
		}
	})
	return out
}

// coveredFraction is the fraction of the n vectors of q that lie within
// the ball of squared radius r2[j] around some vector j of centres.
func coveredFraction(q []float64, n int, centres, r2 []float64, d int) float64 {
	inside := make([]bool, n)
	par.For(n, rowGrain(len(centres)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			qi := q[i*d : (i+1)*d]
			for j, r := range r2 {
				if dist2(qi, centres[j*d:(j+1)*d]) <= r {
					inside[i] = true
					break
				}
			}
		}
	})
	c := 0
	for _, in := range inside {
		if in {
			c++
		}
	}
	return float64(c) / float64(n)
}

// dist2 is the squared Euclidean distance between a and b.
func dist2(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		e := v - b[i]
		s += e * e
	}
	return s
}
