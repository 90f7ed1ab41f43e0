package featdist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of logits [N,C]
// (row-major) against the class indices labels, the gradient of that mean
// with respect to the logits ((softmax − one-hot)/N), and how many rows
// the largest logit got right. It works in float64 and subtracts each
// row's maximum, so large logits neither overflow nor lose the loss.
func SoftmaxCrossEntropy(logits []float32, labels []int, c int) (loss float64, grad []float32, correct int, err error) {
	n := len(labels)
	if c < 1 || n == 0 || len(logits) != n*c {
		return 0, nil, 0, fmt.Errorf("cross-entropy: %d logits for %d labels of %d classes", len(logits), n, c)
	}
	grad = make([]float32, len(logits))
	p := make([]float64, c)
	for r, y := range labels {
		if y < 0 || y >= c {
			return 0, nil, 0, fmt.Errorf("cross-entropy: label %d of row %d outside [0, %d)", y, r, c)
		}
		row := logits[r*c : (r+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == y {
			correct++
		}
		m := float64(row[best])
		var s float64
		for j, v := range row {
			p[j] = math.Exp(float64(v) - m)
			s += p[j]
		}
		loss += math.Log(s) - (float64(row[y]) - m)
		for j := range p {
			g := p[j] / s
			if j == y {
				g--
			}
			grad[r*c+j] = float32(g / float64(n))
		}
	}
	return loss / float64(n), grad, correct, nil
}

// TrainKind identifies the classifier's training states.
const TrainKind = ClassifierKind + "-train"

// TrainOptions is the classifier's training recipe. Start from
// DefaultTrainOptions: every field means what it holds, zero included.
// The budget is a number of steps, as for every other stage: a wall-time
// budget would make the learning-rate schedule, and so the weights,
// depend on how busy the machine was, and a resumed run could not follow
// the schedule of an uninterrupted one.
type TrainOptions struct {
	trainloop.Recipe
	// Shift is the largest random shift of an image, in pixels each way
	// (edge pixels repeat); images are also flipped left-right at random.
	Shift int `opt:"shift" help:"largest random shift of a training image in pixels (0: none)"`
}

// DefaultTrainOptions is the recipe of the shipped classifier: batches of
// 64, Adam at 2e-3 after 100 warm-up steps, then a cosine down to 0 over
// the 8,310 steps its 14-minute run took (it followed the cosine over
// wall time), no clipping, no EMA, and the usual CIFAR augmentation.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Recipe: trainloop.Recipe{Steps: 8310, Batch: 64, LR: 2e-3, Warmup: 100, Seed: 1}, Shift: 2}
}

// Check refuses options no run can use.
func (o TrainOptions) Check() error {
	if err := o.Recipe.Check(); err != nil {
		return err
	}
	if o.Shift < 0 {
		return fmt.Errorf("train options: shift %d must not be negative", o.Shift)
	}
	return nil
}

// Trainer fits a classifier to labelled photos with Adam and softmax
// cross-entropy, through trainloop. Each image is randomly flipped
// left-right and shifted by up to Shift pixels, the usual CIFAR
// augmentation, which matters because the classifier's features should
// not hinge on exact pixel positions. Every random draw derives from the
// seed and the step, so State and Resume continue a run exactly.
type Trainer struct {
	Model *Classifier
	Data  *dataset.Labeled
	Opt   TrainOptions
	*trainloop.Optimizer

	x      *tensor.Tensor // the batch's images, reused every step
	labels []int
	order  []int // the photo order of the epoch numbered epoch (-1 before the first)
	epoch  int
}

// NewTrainer sets up training of m on data. Photos must be Size×Size and
// labels must index the model's classes.
func NewTrainer(m *Classifier, data *dataset.Labeled, opt TrainOptions) (*Trainer, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if err := checkData(m.Config, data); err != nil {
		return nil, fmt.Errorf("classifier trainer: %w", err)
	}
	size, ps := m.Config.Size, m.Params.Tensors()
	t := &Trainer{Model: m, Data: data, Opt: opt, x: tensor.New(opt.Batch, size, size, 3), labels: make([]int, opt.Batch), epoch: -1}
	t.Optimizer = trainloop.NewOptimizer(&t.Opt.Recipe, ps)
	return t, nil
}

// checkData refuses data the classifier of cfg cannot be trained on.
func checkData(cfg Config, data *dataset.Labeled) error {
	if len(data.Photos) == 0 {
		return errors.New("no photos")
	}
	if len(data.Classes) != len(cfg.Classes) {
		return fmt.Errorf("data has %d classes, model %d", len(data.Classes), len(cfg.Classes))
	}
	for i, p := range data.Photos {
		if p.W != cfg.Size || p.H != cfg.Size {
			return fmt.Errorf("photo %s is %dx%d, the model takes %dx%d", p.Name, p.W, p.H, cfg.Size, cfg.Size)
		}
		if l := data.Labels[i]; l < 0 || l >= len(cfg.Classes) {
			return fmt.Errorf("photo %s has label %d", p.Name, l)
		}
	}
	return nil
}

// epochStream marks the random streams of the epochs' photo orders, so
// they never coincide with a step's stream (seed, step).
const epochStream = 1 << 63

// fillBatch draws step's images into t.x and their labels into t.labels.
// Photos are taken epoch by epoch in an order shuffled per epoch, so each
// is seen once an epoch; the order and the augmentation derive from the
// seed and the position in the run alone.
func (t *Trainer) fillBatch(step int) {
	n, b := len(t.Data.Photos), t.Opt.Batch
	px := t.Model.Config.Size * t.Model.Config.Size * 3
	rng := rand.New(rand.NewPCG(t.Opt.Seed, uint64(step)))
	for i := range b {
		pos := step*b + i
		if e := pos / n; e != t.epoch {
			t.order = rand.New(rand.NewPCG(t.Opt.Seed, epochStream|uint64(e))).Perm(n)
			t.epoch = e
		}
		k := t.order[pos%n]
		augment(rng, &t.Data.Photos[k], t.Opt.Shift, t.x.Data[i*px:(i+1)*px])
		t.labels[i] = t.Data.Labels[k]
	}
}

// TrainStep runs one optimiser step on the next batch and returns its
// mean loss and how many of its images the model classified right before
// the step. A step whose loss or gradient is not finite is skipped (the
// step counter still advances, so later steps draw what they would have)
// and reported as an error.
func (t *Trainer) TrainStep(tp *tensor.Tape) (loss float64, correct int, err error) {
	t.fillBatch(t.Step)
	logits, _ := t.Model.Forward(tp, t.x)
	loss, grad, correct, err := SoftmaxCrossEntropy(logits.Data, t.labels, len(t.Model.Config.Classes))
	if err != nil {
		tp.Reset()
		t.Step++
		return 0, 0, fmt.Errorf("step %d skipped: %w", t.Step, err)
	}
	tp.BackwardWith(logits, grad)
	tp.Reset()
	return loss, correct, t.Apply(loss)
}

// Run trains until Opt.Steps (or Opt.Until) or until ctx is cancelled,
// reporting the mean loss and training accuracy since the last
// validation; see trainloop.Run.
func (t *Trainer) Run(ctx context.Context, log io.Writer, quiet bool, h trainloop.Hooks) error {
	tp := tensor.NewTape()
	var sum float64
	var steps, right int
	do := func() error {
		l, c, err := t.TrainStep(tp)
		if err == nil {
			sum, steps, right = sum+l, steps+1, right+c
		}
		return err
	}
	status := func() string {
		n := float64(max(steps, 1))
		return fmt.Sprintf("loss %.4f train acc %.3f", sum/n, float64(right)/(n*float64(t.Opt.Batch)))
	}
	return trainloop.Run(ctx, t.Loop("train classifier", do, status, func() { sum, steps, right = 0, 0, 0 }), log, quiet, h)
}

// State is the resumable training state: architecture, weights, optimiser
// and EMA state, step and seed.
func (t *Trainer) State() *checkpoint.TrainState {
	return &checkpoint.TrainState{Kind: TrainKind, Config: &t.Model.Config, Params: t.Model.Params.List(), Optim: t.Adam,
		EMA: t.EMA, Step: t.Step, RNG: binary.LittleEndian.AppendUint64(nil, t.Opt.Seed)}
}

// Resume loads a state written from State (by Checkpoint). The trainer
// must have been made for the same architecture and the same choice of
// EMA; the stored seed replaces Opt.Seed, so the run continues exactly
// where it stopped.
func (t *Trainer) Resume(path string) error { return t.Optimizer.Resume(path, t.State()) }

// Checkpoint saves the run's state to statePath (keeping the previous one
// as a backup) and the model, with the EMA weights when the run keeps an
// EMA, to out with card as its metadata; each file is written atomically,
// so a run killed at any moment keeps its last good checkpoint.
func (t *Trainer) Checkpoint(statePath, out string, card map[string]string) error {
	if err := checkpoint.SaveTrain(statePath, t.State(), true); err != nil {
		return err
	}
	return t.WithEMA(func() error { return t.Model.Save(out, card) })
}

// augment writes photo p into dst as floats, flipped left-right at random
// and shifted by up to shift pixels each way with the edge repeated.
func augment(rng *rand.Rand, p *dataset.Photo, shift int, dst []float32) {
	flip := rng.IntN(2) == 1
	dx, dy := rng.IntN(2*shift+1)-shift, rng.IntN(2*shift+1)-shift
	w, h := p.W, p.H
	for y := 0; y < h; y++ {
		sy := min(max(y+dy, 0), h-1)
		for x := 0; x < w; x++ {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			sx = min(max(sx+dx, 0), w-1)
			s := p.Pix[(sy*w+sx)*3:]
			d := dst[(y*w+x)*3:]
			d[0], d[1], d[2] = float32(s[0])/255, float32(s[1])/255, float32(s[2])/255
		}
	}
}

// Accuracy is the fraction of photos whose predicted class is their label.
func Accuracy(m *Classifier, data *dataset.Labeled) (float64, error) {
	if len(data.Photos) == 0 {
		return 0, errors.New("accuracy: no photos")
	}
	pred, err := m.Predict(data.Images())
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range pred {
		if p == data.Labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(pred)), nil
}
