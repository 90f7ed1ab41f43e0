// Package featdist measures how far apart two sets of images are as
// distributions, the way generative models are scored: each image is
// mapped to a feature vector by a fixed network, a Gaussian is fitted to
// each set's features, and the Fréchet distance between the Gaussians is
// reported.
//
// Two feature networks are provided:
//
//   - a small CIFAR-10 classifier trained in this engine (Classifier,
//     Trainer, FeatureFD): cheap enough to run on a CPU in seconds, with no
//     outside weights, but its numbers are only comparable with numbers
//     from the same classifier file;
//   - Inception-v3 pool3 features (LoadInception, FID), the standard FID,
//     for users who supply the usual weights as a safetensors file.
package featdist

import (
	"errors"
	"fmt"
	"math"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/nn"
	"github.com/zoomdiff/zoomdiff/resample"
)

// ClassifierKind identifies classifier model files.
const ClassifierKind = "classifier"

// Config describes a classifier.
type Config struct {
	// Size is the square input side; other images are resized to it.
	Size int `json:"size"`
	// Widths are the channels of each stage. A stage halves the resolution
	// with a stride-2 3×3 convolution and then applies a stride-1 one, each
	// followed by group norm and ReLU; the last stage's width is the
	// feature dimension.
	Widths []int `json:"widths" opt:"widths" help:"channels per stage (the last is the feature dimension)"`
	// Classes names the outputs, in label order.
	Classes []string `json:"classes"`
}

// DefaultConfig is the CIFAR-10 feature network: 32×32 in, three stages
// down to 4×4, 128 features. About 19 MFLOP per image forward, which on
// a shared two-core CPU is what allows training it in minutes.
func DefaultConfig(classes []string) Config {
	return Config{Size: 32, Widths: []int{32, 64, 128}, Classes: append([]string(nil), classes...)}
}

func (c Config) validate() error {
	switch {
	case c.Size < 2:
		return fmt.Errorf("classifier: input size %d too small", c.Size)
	case len(c.Widths) == 0:
		return errors.New("classifier: no stages")
	case len(c.Classes) < 2:
		return fmt.Errorf("classifier: %d classes (need at least 2)", len(c.Classes))
	case c.Size>>len(c.Widths) < 1:
		return fmt.Errorf("classifier: %d stages halve a %d-pixel input to nothing", len(c.Widths), c.Size)
	}
	for i, w := range c.Widths {
		if w < 1 {
			return fmt.Errorf("classifier: stage %d width %d", i, w)
		}
	}
	return nil
}

// stage is one resolution level of the classifier.
type stage struct {
	down, conv   *nn.Conv
	norm1, norm2 *nn.GroupNorm
}

// Classifier is a small convolutional image classifier whose globally
// pooled last-stage activations serve as image features.
type Classifier struct {
	Config Config     // the architecture, stored in the model file
	Params *nn.Params // the weights, in checkpoint order
	// Card is the loaded file's metadata (test_accuracy, training figures).
	Card   map[string]string
	stages []stage
	head   *nn.Linear
}

// NewClassifier builds a classifier with weights drawn from seed.
func NewClassifier(cfg Config, seed uint64) (*Classifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := nn.NewParams(seed)
	m := &Classifier{Config: cfg, Params: p}
	cin := 3
	for i, w := range cfg.Widths {
		q := p.Sub(fmt.Sprintf("stage%d", i))
		s := stage{
			down:  newHeConv(q, "down", cin, w, 2),
			norm1: newNorm(q, "norm1", w),
			conv:  newHeConv(q, "conv", w, w, 1),
			norm2: newNorm(q, "norm2", w),
		}
		m.stages = append(m.stages, s)
		cin = w
	}
	m.head = nn.NewLinear(p, "head", cin, len(cfg.Classes), false)
	return m, nil
}

// newHeConv is a 3×3 convolution with He-uniform weights: PyTorch's
// default (bound 1/√fan_in) shrinks the signal by about √6 per ReLU layer,
// which the norms would undo but which slows the first steps.
func newHeConv(p *nn.Params, name string, cin, cout, stride int) *nn.Conv {
	q := p.Sub(name)
	bound := math.Sqrt(6 / float64(9*cin))
	return &nn.Conv{
		W:      q.New("w", nn.Uniform(bound), 3, 3, cin, cout),
		B:      q.New("b", nil, cout),
		Stride: stride,
		Pad:    1,
	}
}

// newNorm is group norm with groups of (up to) 8 channels: per-image
// statistics, so a feature does not depend on the rest of the batch.
func newNorm(p *nn.Params, name string, c int) *nn.GroupNorm {
	g := max(1, c/8)
	for c%g != 0 {
		g--
	}
	q := p.Sub(name)
	return &nn.GroupNorm{Groups: g, Gamma: q.New("gamma", nn.Const(1), c), Beta: q.New("beta", nil, c)}
}

// FeatureDim is the length of a feature vector.
func (m *Classifier) FeatureDim() int { return m.Config.Widths[len(m.Config.Widths)-1] }

// Forward maps x [N,Size,Size,3] with values in [0, 1] to the logits
// [N,Classes] and the features [N,FeatureDim].
func (m *Classifier) Forward(tp *tensor.Tape, x *tensor.Tensor) (logits, feats *tensor.Tensor) {
	// Centre the pixels: CIFAR's mean is about 0.47 and its spread 0.25.
	h := tp.AffineScalar(x, 4, -2)
	for _, s := range m.stages {
		h = tp.ReLU(s.norm1.Forward(tp, s.down.Forward(tp, h)))
		h = tp.ReLU(s.norm2.Forward(tp, s.conv.Forward(tp, h)))
	}
	feats = globalAvgPool(tp, h)
	return m.head.Forward(tp, feats), feats
}

// globalAvgPool averages each channel over all pixels: [N,H,W,C] → [N,C].
// It is a product with a constant averaging matrix so that the tape can
// differentiate it.
func globalAvgPool(tp *tensor.Tape, x *tensor.Tensor) *tensor.Tensor {
	n, hw, c := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3]
	avg := tensor.New(1, 1, hw)
	for i := range avg.Data {
		avg.Data[i] = 1 / float32(hw)
	}
	avgs := tensor.New(n, 1, hw)
	for b := 0; b < n; b++ {
		copy(avgs.Data[b*hw:], avg.Data)
	}
	out := tp.MatMul(avgs, tp.Reshape(x, n, hw, c), false, false) // [N,1,C]
	return tp.Reshape(out, n, c)
}

// Batch packs images into an [N,Size,Size,3] tensor, resizing (bicubic,
// antialiased) any that are not Size×Size.
func (m *Classifier) Batch(imgs []*imageio.Image) (*tensor.Tensor, error) {
	return packImages(imgs, m.Config.Size, m.Config.Size)
}

func packImages(imgs []*imageio.Image, w, h int) (*tensor.Tensor, error) {
	x := tensor.New(len(imgs), h, w, 3)
	for i, img := range imgs {
		if err := img.Check(); err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		if img.W != w || img.H != h {
			r, err := resample.Image(img, w, h, resample.Options{Method: resample.Bicubic})
			if err != nil {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
			img = r
		}
		copy(x.Data[i*w*h*3:], img.Pix)
	}
	return x, nil
}

// featureBatch is how many images one inference forward pass holds.
const featureBatch = 100

// Features returns the feature vectors of imgs, row by row (len(imgs) ×
// FeatureDim values).
func (m *Classifier) Features(imgs []*imageio.Image) ([]float64, error) {
	d := m.FeatureDim()
	out := make([]float64, 0, len(imgs)*d)
	for lo := 0; lo < len(imgs); lo += featureBatch {
		x, err := m.Batch(imgs[lo:min(lo+featureBatch, len(imgs))])
		if err != nil {
			return nil, err
		}
		_, f := m.Forward(nil, x)
		for _, v := range f.Data {
			out = append(out, float64(v))
		}
	}
	return out, nil
}

// Predict returns the most likely class index of each image.
func (m *Classifier) Predict(imgs []*imageio.Image) ([]int, error) {
	var out []int
	for lo := 0; lo < len(imgs); lo += featureBatch {
		x, err := m.Batch(imgs[lo:min(lo+featureBatch, len(imgs))])
		if err != nil {
			return nil, err
		}
		logits, _ := m.Forward(nil, x)
		out = append(out, argmaxRows(logits.Data, len(m.Config.Classes))...)
	}
	return out, nil
}

func argmaxRows(v []float32, c int) []int {
	out := make([]int, len(v)/c)
	for r := range out {
		row := v[r*c : (r+1)*c]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}

// Save writes the classifier to path atomically; card is free-form
// metadata (e.g. the test accuracy).
func (m *Classifier) Save(path string, card map[string]string) error {
	return checkpoint.Save(path, ClassifierKind, m.Config, m.Params.List(), card, safetensors.F32)
}

// LoadClassifier reads a classifier written by Save.
func LoadClassifier(path string) (*Classifier, error) {
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := checkpoint.Rebuild(c, ClassifierKind, func(cfg Config) (*Classifier, []checkpoint.Named, error) {
		m, err := NewClassifier(cfg, 0)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Params.List(), nil
	})
	if err != nil {
		return nil, err
	}
	m.Card = c.Meta
	return m, nil
}
