package featdist

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/nn"
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

// TrainOptions sets up Train. Start from DefaultTrainOptions: every field
// means what it holds.
type TrainOptions struct {
	// Batch is the number of images per step (64).
	Batch int
	// LR is the peak Adam learning rate (2e-3).
	LR float64
	// Steps stops training after this many steps; Duration after this much
	// wall time. At least one must be set. With Duration the learning rate
	// follows the cosine over the elapsed fraction of the time rather than
	// of the steps, so a run on a busy machine still anneals properly.
	Steps    int
	Duration time.Duration
	// Warmup is the number of steps of linear learning-rate warm-up (100,
	// at most a tenth of Steps when Steps is set; 0: none).
	Warmup int
	// Seed drives the batch order and augmentation.
	Seed uint64
	// LogEvery reports progress every this many steps through Log
	// (0: never).
	LogEvery int
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// DefaultTrainOptions is the recipe of the shipped classifier, without a
// budget: set Steps or Duration.
func DefaultTrainOptions() TrainOptions { return TrainOptions{Batch: 64, LR: 2e-3, Warmup: 100} }

// TrainResult summarises a run.
type TrainResult struct {
	Steps    int           // optimiser steps taken
	Images   int           // training images seen (with repeats)
	Elapsed  time.Duration // wall time of the training loop
	LastLoss float64       // mean loss over the last logged window
	TrainAcc float64       // accuracy over the last logged window
}

// Train fits m to the labelled photos with Adam and softmax cross-entropy.
// Each image is randomly flipped left-right and shifted by up to two
// pixels (edge pixels repeat), the usual CIFAR augmentation, which
// matters because the classifier's features should not hinge on exact
// pixel positions. Photos must be Size×Size; labels must index the
// model's classes. It stops at ctx's end as at the budget's.
func Train(ctx context.Context, m *Classifier, data *dataset.Labeled, opt TrainOptions) (TrainResult, error) {
	var res TrainResult
	if len(data.Photos) == 0 {
		return res, errors.New("train: no photos")
	}
	if opt.Steps <= 0 && opt.Duration <= 0 {
		return res, errors.New("train: set Steps or Duration")
	}
	if len(data.Classes) != len(m.Config.Classes) {
		return res, fmt.Errorf("train: data has %d classes, model %d", len(data.Classes), len(m.Config.Classes))
	}
	size := m.Config.Size
	for i, p := range data.Photos {
		if p.W != size || p.H != size {
			return res, fmt.Errorf("train: photo %s is %dx%d, the model takes %dx%d", p.Name, p.W, p.H, size, size)
		}
		if l := data.Labels[i]; l < 0 || l >= len(m.Config.Classes) {
			return res, fmt.Errorf("train: photo %s has label %d", p.Name, l)
		}
	}
	if opt.Batch < 1 || !(opt.LR > 0) || opt.Warmup < 0 {
		return res, fmt.Errorf("train: batch %d, learning rate %v, warm-up %d: want a batch and a rate above 0", opt.Batch, opt.LR, opt.Warmup)
	}
	batch, peak, warm := opt.Batch, opt.LR, opt.Warmup
	if opt.Steps > 0 {
		warm = min(warm, max(1, opt.Steps/10))
	}
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	order := rng.Perm(len(data.Photos))
	next := 0
	params := m.Params.Tensors()
	adam := optim.NewAdam(params, optim.AdamConfig())
	tp := tensor.NewTape()
	x := tensor.New(batch, size, size, 3)
	labels := make([]int, batch)
	start := time.Now()
	var winLoss float64
	var winRight, winN, winSteps int
	for step := 0; ; step++ {
		el := time.Since(start)
		frac := 0.0
		switch {
		case opt.Steps > 0 && step >= opt.Steps, opt.Duration > 0 && el >= opt.Duration:
			res.Elapsed = el
			return res, nil
		case opt.Duration > 0:
			frac = el.Seconds() / opt.Duration.Seconds()
		default:
			frac = float64(step) / float64(opt.Steps)
		}
		if opt.Steps > 0 && opt.Duration > 0 {
			frac = max(frac, float64(step)/float64(opt.Steps))
		}
		if err := ctx.Err(); err != nil {
			res.Elapsed = el
			return res, err
		}
		for i := 0; i < batch; i++ {
			if next == len(order) {
				rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
				next = 0
			}
			k := order[next]
			next++
			augment(rng, &data.Photos[k], x.Data[i*size*size*3:(i+1)*size*size*3])
			labels[i] = data.Labels[k]
		}
		logits, _ := m.Forward(tp, x)
		loss, grad, right, err := SoftmaxCrossEntropy(logits.Data, labels, len(m.Config.Classes))
		if err != nil {
			return res, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return res, fmt.Errorf("train: loss is %v at step %d", loss, step)
		}
		tp.BackwardWith(logits, grad)
		lr := peak * 0.5 * (1 + math.Cos(math.Pi*min(frac, 1)))
		if step < warm && warm > 0 {
			lr = min(lr, peak*float64(step+1)/float64(warm))
		}
		adam.Step(lr)
		adam.ZeroGrad()
		tp.Reset()
		res.Steps++
		res.Images += batch
		winLoss += loss
		winRight += right
		winN += batch
		winSteps++
		if opt.LogEvery > 0 && res.Steps%opt.LogEvery == 0 {
			res.LastLoss, res.TrainAcc = winLoss/float64(winSteps), float64(winRight)/float64(winN)
			logf("step %d  %.0fs  lr %.2g  loss %.4f  train acc %.3f", res.Steps, time.Since(start).Seconds(), lr, res.LastLoss, res.TrainAcc)
			winLoss, winRight, winN, winSteps = 0, 0, 0, 0
		}
		if winSteps > 0 && opt.LogEvery <= 0 {
			res.LastLoss, res.TrainAcc = winLoss/float64(winSteps), float64(winRight)/float64(winN)
		}
		if res.Steps%200 == 0 {
			if err := nn.CheckFinite(m.Params.List()); err != nil {
				return res, fmt.Errorf("train: step %d: %w", step, err)
			}
		}
	}
}

// augment writes photo p into dst as floats, flipped left-right at random
// and shifted by up to two pixels each way with the edge repeated.
func augment(rng *rand.Rand, p *dataset.Photo, dst []float32) {
	const shift = 2
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
