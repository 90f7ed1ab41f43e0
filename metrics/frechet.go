package metrics

import (
	"errors"
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/par"
)

// rowGrain keeps parallel loops over matrix rows to at least ~32k
// multiply-adds per goroutine, so small matrices stay on one core.
func rowGrain(rowLen int) int { return max(1, (1<<15)/max(1, rowLen)) }

// FitGaussian returns the mean (d values) and covariance (d×d, row-major)
// of n feature vectors of length d stored row by row in feats. The
// covariance is the unbiased estimate (divides by n−1), as numpy.cov and
// the reference FID code use.
func FitGaussian(feats []float64, n, d int) (mean, cov []float64, err error) {
	if n < 2 || d < 1 || len(feats) != n*d {
		return nil, nil, fmt.Errorf("FitGaussian: %d values for %d vectors of %d (need at least 2 vectors)", len(feats), n, d)
	}
	mean = make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range feats[i*d : (i+1)*d] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov = make([]float64, d*d)
	c := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range feats[i*d : (i+1)*d] {
			c[j] = v - mean[j]
		}
		// Upper triangle only; mirrored below.
		for j := 0; j < d; j++ {
			cj, row := c[j], cov[j*d:(j+1)*d]
			for k := j; k < d; k++ {
				row[k] += cj * c[k]
			}
		}
	}
	for j := 0; j < d; j++ {
		for k := j; k < d; k++ {
			v := cov[j*d+k] / float64(n-1)
			cov[j*d+k], cov[k*d+j] = v, v
		}
	}
	return mean, cov, nil
}

// Frechet is the Fréchet (2-Wasserstein) distance between the Gaussians
// N(mu1, cov1) and N(mu2, cov2) of dimension d, the quantity FID reports:
//
//	‖mu1 − mu2‖² + tr(cov1) + tr(cov2) − 2·tr((cov1·cov2)^½).
//
// The trace of the square root is computed as Σ√λ over the eigenvalues of
// the symmetric matrix cov1^½·cov2·cov1^½, which has the same eigenvalues as
// cov1·cov2 but, being symmetric, needs no complex arithmetic and no
// iterative non-symmetric square root; eigenvalues that rounding pushed
// below zero are treated as zero.
func Frechet(mu1, cov1, mu2, cov2 []float64, d int) (float64, error) {
	if d < 1 || len(mu1) != d || len(mu2) != d || len(cov1) != d*d || len(cov2) != d*d {
		return 0, fmt.Errorf("Frechet: dimension %d does not match the inputs", d)
	}
	var dist float64
	for i := range mu1 {
		t := mu1[i] - mu2[i]
		dist += t * t
	}
	for i := 0; i < d; i++ {
		dist += cov1[i*d+i] + cov2[i*d+i]
	}
	s1, err := SqrtPSD(cov1, d)
	if err != nil {
		return 0, fmt.Errorf("Frechet: %w", err)
	}
	m := mul(mul(s1, cov2, d), s1, d)
	symmetrize(m, d)
	vals, _, err := SymEig(m, d, false)
	if err != nil {
		return 0, fmt.Errorf("Frechet: %w", err)
	}
	for _, v := range vals {
		dist -= 2 * math.Sqrt(max(v, 0))
	}
	return dist, nil
}

// SqrtPSD returns the symmetric square root of a symmetric positive
// semi-definite d×d matrix, V·diag(√max(λ,0))·Vᵀ.
func SqrtPSD(a []float64, d int) ([]float64, error) {
	vals, vecs, err := SymEig(a, d, true)
	if err != nil {
		return nil, err
	}
	// vecs holds eigenvectors as rows: out = Σ_k √λ_k · v_k v_kᵀ.
	out := make([]float64, d*d)
	for k, l := range vals {
		s := math.Sqrt(max(l, 0))
		if s == 0 {
			continue
		}
		v := vecs[k*d : (k+1)*d]
		for i, vi := range v {
			f, row := s*vi, out[i*d:(i+1)*d]
			for j, vj := range v {
				row[j] += f * vj
			}
		}
	}
	return out, nil
}

func mul(a, b []float64, d int) []float64 {
	c := make([]float64, d*d)
	par.For(d, rowGrain(d*d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ci := c[i*d : (i+1)*d]
			for k, aik := range a[i*d : (i+1)*d] {
				if aik == 0 {
					continue
				}
				for j, bkj := range b[k*d : (k+1)*d] {
					ci[j] += aik * bkj
				}
			}
		}
	})
	return c
}

func symmetrize(a []float64, d int) {
	for i := 0; i < d; i++ {
		for j := i + 1; j < d; j++ {
			v := 0.5 * (a[i*d+j] + a[j*d+i])
			a[i*d+j], a[j*d+i] = v, v
		}
	}
}

// ErrNoConvergence is returned by SymEig if the QL iteration stalls, which
// only non-finite input should cause.
var ErrNoConvergence = errors.New("symmetric eigen-decomposition did not converge")

// SymEig computes the eigenvalues of a symmetric d×d matrix a (row-major,
// only read), in ascending order, and with vectors true the matching
// orthonormal eigenvectors as the rows of vecs (row k belongs to vals[k]).
//
// It reduces a to tridiagonal form with Householder reflections and then
// runs the implicitly shifted QL iteration on the tridiagonal matrix: O(d³)
// with a small constant, which matters for FID's 2048-dimensional features
// where cyclic Jacobi would need several times more work.
func SymEig(a []float64, d int, vectors bool) (vals, vecs []float64, err error) {
	if d < 1 || len(a) != d*d {
		return nil, nil, fmt.Errorf("SymEig: %d values for a %dx%d matrix", len(a), d, d)
	}
	for _, v := range a {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, errors.New("SymEig: matrix has non-finite entries")
		}
	}
	w := append([]float64(nil), a...)
	var z []float64 // Qᵀ: row i is column i of the accumulated transform
	if vectors {
		z = make([]float64, d*d)
		for i := 0; i < d; i++ {
			z[i*d+i] = 1
		}
	}
	diag, off := tridiagonalize(w, d, z)
	if err := tridiagQL(diag, off, z, d); err != nil {
		return nil, nil, err
	}
	// Sort ascending, permuting the vectors with their values.
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	for i := 1; i < d; i++ { // insertion sort: d is at most a few thousand
		for j := i; j > 0 && diag[order[j]] < diag[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	vals = make([]float64, d)
	if vectors {
		vecs = make([]float64, d*d)
	}
	for k, i := range order {
		vals[k] = diag[i]
		if vectors {
			copy(vecs[k*d:(k+1)*d], z[i*d:(i+1)*d])
		}
	}
	return vals, vecs, nil
}

// tridiagonalize overwrites the symmetric matrix w with H·w·H for successive
// Householder reflections H that zero column k below the sub-diagonal, and
// returns the diagonal and sub-diagonal (off[i] couples i and i+1;
// off[d−1] = 0). If z is not nil it is multiplied on the left by each H, so
// that z ends as Qᵀ with w_original = Q·T·Qᵀ.
func tridiagonalize(w []float64, d int, z []float64) (diag, off []float64) {
	v := make([]float64, d)
	p := make([]float64, d)
	for k := 0; k+2 < d; k++ {
		m := d - k - 1 // length of the column below the diagonal
		x := v[:m]
		alpha, ok := householder(x, w, d, k)
		if !ok {
			continue
		}
		reflectTrailing(w, d, k, x, p[:m])
		w[(k+1)*d+k], w[k*d+k+1] = alpha, alpha
		for i := 1; i < m; i++ {
			w[(k+1+i)*d+k], w[k*d+k+1+i] = 0, 0
		}
		if z != nil {
			reflectRows(z, d, k, x)
		}
	}
	diag = make([]float64, d)
	off = make([]float64, d)
	for i := 0; i < d; i++ {
		diag[i] = w[i*d+i]
		if i+1 < d {
			off[i] = w[(i+1)*d+i]
		}
	}
	return diag, off
}

// householder sets x (length d−k−1) to the unit vector v of the reflection
// H = I − 2vvᵀ that maps column k of w below the diagonal onto alpha·e₀,
// and returns alpha. ok is false when the column is already zero, and
// there is nothing to reflect.
func householder(x, w []float64, d, k int) (alpha float64, ok bool) {
	var norm float64
	for i := range x {
		x[i] = w[(k+1+i)*d+k]
		norm += x[i] * x[i]
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return 0, false
	}
	// Reflect x onto −sign(x₀)·‖x‖·e₀; the sign avoids cancellation in
	// x₀ − alpha.
	alpha = -math.Copysign(norm, x[0])
	x[0] -= alpha
	var vn float64
	for _, t := range x {
		vn += t * t
	}
	vn = math.Sqrt(vn)
	if vn == 0 {
		return 0, false
	}
	for i := range x {
		x[i] /= vn
	}
	return alpha, true
}

// reflectTrailing applies the reflection of unit vector x to the trailing
// block of w below and right of (k, k) from both sides, using pp (len(x)
// values) as scratch.
func reflectTrailing(w []float64, d, k int, x, pp []float64) {
	// A ← A − 2vqᵀ − 2qvᵀ with p = A v, q = p − (vᵀp) v, which equals
	// H·A·H for H = I − 2vvᵀ.
	m := len(x)
	par.For(m, rowGrain(m), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := w[(k+1+i)*d+k+1 : (k+1+i)*d+d]
			var s float64
			for j, t := range x {
				s += row[j] * t
			}
			pp[i] = s
		}
	})
	var kk float64
	for i, t := range x {
		kk += t * pp[i]
	}
	for i := range pp {
		pp[i] -= kk * x[i]
	}
	par.For(m, rowGrain(m), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := w[(k+1+i)*d+k+1 : (k+1+i)*d+d]
			xi, qi := 2*x[i], 2*pp[i]
			for j := range row {
				row[j] -= xi*pp[j] + qi*x[j]
			}
		}
	})
}

// reflectRows multiplies the rows k+1… of z on the left by the reflection
// of unit vector x: Z ← Z − 2 v (vᵀ Z).
func reflectRows(z []float64, d, k int, x []float64) {
	m := len(x)
	// t = vᵀZ column by column, so each goroutine owns its columns.
	t := make([]float64, d)
	par.For(d, rowGrain(m), func(lo, hi int) {
		tt := t[lo:hi]
		for i, xi := range x {
			for j, zij := range z[(k+1+i)*d+lo : (k+1+i)*d+hi] {
				tt[j] += xi * zij
			}
		}
	})
	par.For(m, rowGrain(d), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := z[(k+1+i)*d : (k+2+i)*d]
			f := 2 * x[i]
			for j := range row {
				row[j] -= f * t[j]
			}
		}
	})
}

// tridiagQL diagonalises the symmetric tridiagonal matrix (diag, off) in
// place with implicitly shifted QL sweeps (Wilkinson-type shift from the
// leading 2×2 block), applying each plane rotation to the rows of z when z
// is not nil. On return diag holds the eigenvalues.
func tridiagQL(diag, off, z []float64, d int) error {
	// An off-diagonal is negligible beside its two diagonal entries, or
	// beside the whole matrix: a singular matrix (a covariance of fewer
	// vectors than dimensions) has runs of eigenvalues at rounding level,
	// where the first test alone is never met.
	var norm float64
	for i := range d {
		norm = max(norm, math.Abs(diag[i])+math.Abs(off[i]))
	}
	floor := 0x1p-52 * norm
	for l := 0; l < d; l++ {
		for iter := 0; ; iter++ {
			// Find the first negligible off-diagonal at or after l: the block
			// l..m is unreduced.
			m := l
			for ; m < d-1; m++ {
				if a := math.Abs(off[m]); a <= 1e-15*(math.Abs(diag[m])+math.Abs(diag[m+1])) || a <= floor {
					break
				}
			}
			if m == l {
				break
			}
			if iter == 100 {
				return ErrNoConvergence
			}
			// Shift: the eigenvalue of the top 2×2 block closer to diag[l].
			g := (diag[l+1] - diag[l]) / (2 * off[l])
			r := math.Hypot(g, 1)
			g = diag[m] - diag[l] + off[l]/(g+math.Copysign(r, g))
			s, c, p := 1.0, 1.0, 0.0
			i := m - 1
			underflow := false
			for ; i >= l; i-- {
				f, b := s*off[i], c*off[i]
				r = math.Hypot(f, g)
				off[i+1] = r
				if r == 0 {
					// The rotation degenerated: the matrix split here.
					diag[i+1] -= p
					off[m] = 0
					underflow = true
					break
				}
				s, c = f/r, g/r
				g = diag[i+1] - p
				r = (diag[i]-g)*s + 2*c*b
				p = s * r
				diag[i+1] = g + p
				g = c*r - b
				if z != nil {
					zi, zj := z[i*d:(i+1)*d], z[(i+1)*d:(i+2)*d]
					for k := range zi {
						t := zj[k]
						zj[k] = s*zi[k] + c*t
						zi[k] = c*zi[k] - s*t
					}
				}
			}
			if underflow {
				continue
			}
			diag[l] -= p
			off[l] = g
			off[m] = 0
		}
	}
	return nil
}
