package featdist

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
)

// Featurizer maps images to feature vectors: both the classifier and
// Inception-v3 are one.
type Featurizer interface {
	// FeatureDim is the length of one feature vector.
	FeatureDim() int
	// Features returns len(imgs) vectors, row by row.
	Features(imgs []*imageio.Image) ([]float64, error)
}

// Stats is the Gaussian fitted to one image set's features: what FID
// compares, and what is worth caching for a fixed reference set.
type Stats struct {
	N    int       // images the statistics come from
	Dim  int       // feature length
	Mean []float64 // Dim values
	Cov  []float64 // Dim×Dim, row-major, unbiased
}

// FitStats computes the feature statistics of imgs (at least two).
func FitStats(f Featurizer, imgs []*imageio.Image) (*Stats, error) {
	if len(imgs) < 2 {
		return nil, fmt.Errorf("feature statistics need at least 2 images, got %d", len(imgs))
	}
	feats, err := f.Features(imgs)
	if err != nil {
		return nil, err
	}
	return StatsOf(feats, len(imgs), f.FeatureDim())
}

// StatsOf fits the statistics of n feature vectors of length d, stored
// row by row in feats (as Featurizer.Features returns them).
func StatsOf(feats []float64, n, d int) (*Stats, error) {
	mean, cov, err := metrics.FitGaussian(feats, n, d)
	if err != nil {
		return nil, err
	}
	return &Stats{N: n, Dim: d, Mean: mean, Cov: cov}, nil
}

// Distance is the Fréchet distance between two sets' statistics.
func Distance(a, b *Stats) (float64, error) {
	if a.Dim != b.Dim {
		return 0, fmt.Errorf("feature statistics of dimension %d and %d", a.Dim, b.Dim)
	}
	return metrics.Frechet(a.Mean, a.Cov, b.Mean, b.Cov, a.Dim)
}

// FrechetDistance fits a Gaussian to each set's features and returns the
// Fréchet distance between them.
func FrechetDistance(f Featurizer, setA, setB []*imageio.Image) (float64, error) {
	a, err := FitStats(f, setA)
	if err != nil {
		return 0, fmt.Errorf("set A: %w", err)
	}
	b, err := FitStats(f, setB)
	if err != nil {
		return 0, fmt.Errorf("set B: %w", err)
	}
	return Distance(a, b)
}

// FeatureFD is the Fréchet distance between two image sets in the
// classifier's feature space ("feature FD"). Like FID it has a bias that
// grows as the sets shrink, so only compare values computed with the same
// set sizes (and the same classifier file).
func FeatureFD(model *Classifier, setA, setB []*imageio.Image) (float64, error) {
	return FrechetDistance(model, setA, setB)
}
