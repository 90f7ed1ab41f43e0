package diffusion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/trainloop"
)

// TrainOptions configures denoiser training (stage 2) and alignment
// fine-tuning (stage 3, Align set). Start from DefaultTrainOptions or
// DefaultAlignOptions (the values in the comments): every field means what
// it holds, zero included, and NewTrainer refuses what Check refuses.
type TrainOptions struct {
	trainloop.Recipe
	Crop int `opt:"crop" help:"HR crop side in pixels: the LR is crop/scale, the latent crop/f"`
	// Reuse is how many steps, on average, each encoded crop serves.
	// Encoding both sides of a crop through the full-resolution encoder
	// costs more than the U-Net's step on it, so crops wait in a pool of
	// Pool and a step replaces Batch/Reuse of them; t and ε are drawn
	// fresh every time a crop is used. 1 draws and encodes a fresh batch
	// every step, as the paper does.
	Reuse int `opt:"reuse" help:"steps each encoded crop serves on average (1: fresh crops every step, as the paper)"`
	Pool  int `opt:"pool" help:"encoded crops kept for reuse"`

	// Align switches to the alignment loss
	//   w(t)·‖ẑ0 − z0‖² + w(t)·‖D(ẑ0) − x_s‖²
	// with the image term decoded at image resolution through the frozen
	// implicit decoder, at a random output size.
	Align bool
	// Queries is the number of target pixels decoded per crop in the
	// image term, as stage 1 samples its targets.
	Queries int `opt:"queries" group:"align" help:"target pixels decoded per crop in the image term"`
	// SNRCap is γ in w(t) = min(ᾱ/(1−ᾱ), γ). The paper's weight is the
	// uncapped SNR, which reaches ~670 at t = 0; see alignWeight.
	SNRCap float64 `opt:"snr-cap" group:"align" help:"cap γ on the weight w(t) = min(SNR(t), γ)"`
	// LatentWeight and ImageWeight scale the two terms (1 and 1 are the
	// paper's; 0 turns a term off).
	LatentWeight float64 `opt:"latent-weight" group:"align" help:"weight of the latent term (0: off)"`
	ImageWeight  float64 `opt:"image-weight" group:"align" help:"weight of the image term (0: off)"`
	// MaxScale is the largest output scale, relative to the LR, at which
	// the image term renders; 0 means the model's Scale, the pairs' own.
	// Stage 2 only ever sees ×Scale pairs, so without wider targets the
	// image term cannot teach the decoding that the benchmark asks for at
	// ×6–×12. Above Scale, a share Wide of the crops are drawn
	// MaxScale/Scale times wider: the LR is degraded from the wide crop and
	// z0 encoded from it reduced to Crop, so the same LR meets targets up
	// to ×MaxScale. It must be a multiple of Scale.
	MaxScale int     `opt:"max-scale" group:"align" help:"largest output scale of the image term, a multiple of the model's (0: the model's own); above it wide crops supply the targets"`
	Wide     float64 `opt:"wide" group:"align" help:"share of wide crops when max-scale exceeds the model's scale"`

	// Distill, when above 0, trains a student for that many sampling steps
	// from Trainer.Teacher (see DefaultDistillOptions): the teacher runs
	// TeacherSteps of TeacherSampler (deterministic: DPM-Solver++(2M) or
	// DDIM at η = 0) from noise drawn at a temperature uniform in
	// [TauLo, TauHi].
	Distill        int     `opt:"distill" group:"distill" help:"sampling steps the student is distilled for (fewer work too where their timesteps are among these)"`
	TeacherSampler string  `opt:"teacher-sampler" group:"distill" help:"the teacher's sampler per trajectory: dpm++2m or ddim (η = 0)"`
	TeacherSteps   int     `opt:"teacher-steps" group:"distill" help:"the teacher's steps per trajectory"`
	TauLo          float64 `opt:"tau-lo" group:"distill" help:"lowest noise temperature of the teacher's trajectories"`
	TauHi          float64 `opt:"tau-hi" group:"distill" help:"highest noise temperature of the teacher's trajectories"`
	// TeacherImageWeight, when above 0, adds to the student's latent loss
	// an image term: the decoder's rendering of the student's ẑ0 against
	// its rendering of the teacher's answer, at Queries random pixels of a
	// side drawn log-uniformly from ×1 to ×Scale of the LR, weighted so.
	// The latent loss weighs every latent channel alike; the pixels are
	// what PSNR and the eye see.
	TeacherImageWeight float64 `opt:"teacher-image-weight" group:"distill" help:"weight of the student's image term against the teacher's decoded answer (0: off)"`

	// LabelDrop is the share of a class-conditional generator's training
	// crops shown without their class, so that one network also learns
	// the unconditional prediction that classifier-free guidance needs.
	LabelDrop float64 `opt:"label-drop" group:"classes" help:"share of crops trained without their class (class-conditional generators)"`
}

// DefaultTrainOptions is stage 2's recipe.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Recipe: trainloop.Recipe{Steps: 10000, Batch: 8, LR: 5e-4, MinLRFac: 0.01, Warmup: 200, Clip: 1, EMADecay: 0.999, Seed: 1},
		Crop: 64, Reuse: 4, Pool: 512, Queries: 1024, SNRCap: 5, LatentWeight: 1, ImageWeight: 1, Wide: 0.5, LabelDrop: 0.1}
}

// DefaultAlignOptions is stage 3's recipe: alignment fine-tuning at a
// learning rate 25× below stage 2's (see the model card).
func DefaultAlignOptions() TrainOptions {
	o := DefaultTrainOptions()
	o.Align, o.Steps, o.LR, o.Warmup = true, 2000, 2e-5, 50
	return o
}

// DefaultGenTrainOptions is the generator's recipe: stage 2's, on whole
// small images (CIFAR-10's 32×32) in batches of 64.
func DefaultGenTrainOptions() TrainOptions {
	o := DefaultTrainOptions()
	o.Crop, o.Batch = 32, 64
	return o
}

// Check refuses options no run can use.
func (o TrainOptions) Check() error {
	if err := o.Recipe.Check(); err != nil {
		return err
	}
	switch {
	case o.Crop < 1 || o.Reuse < 1 || o.Pool < 1:
		return fmt.Errorf("train options: crop %d, reuse %d and pool %d must be at least 1", o.Crop, o.Reuse, o.Pool)
	case o.MaxScale < 0:
		return fmt.Errorf("train options: max scale %d", o.MaxScale)
	case !(o.LatentWeight >= 0) || !(o.ImageWeight >= 0) || math.IsInf(o.LatentWeight+o.ImageWeight, 0):
		return fmt.Errorf("train options: latent weight %v, image weight %v: want finite numbers of at least 0", o.LatentWeight, o.ImageWeight)
	case !(o.Wide >= 0 && o.Wide <= 1):
		return fmt.Errorf("train options: wide share %v outside [0, 1]", o.Wide)
	case !(o.LabelDrop >= 0 && o.LabelDrop <= 1):
		return fmt.Errorf("train options: label drop %v outside [0, 1]", o.LabelDrop)
	case o.Align && (o.Queries < 1 || !(o.SNRCap > 0)):
		return fmt.Errorf("train options: alignment needs queries (%d) and an SNR cap (%v) above 0", o.Queries, o.SNRCap)
	case o.Align && o.LatentWeight == 0 && o.ImageWeight == 0:
		return errors.New("train options: both alignment terms are off")
	}
	return nil
}

// Trainer runs stage 2 or stage 3 on an SR model: it owns the optimiser
// over the U-Net (the auto-encoder has none: it is frozen), the EMA of the
// U-Net's weights, the data and the step counter, which with the seed
// determines every random draw, so a resumed run repeats exactly what an
// uninterrupted one would have done.
type Trainer struct {
	SR *SR
	// Teacher is the frozen model a student learns from (Opt.Distill > 0);
	// it must be set before the first step and be the same on resume.
	Teacher *SR
	// Opt holds the resolved options; the pool is sized from them, so
	// they must not change after NewTrainer.
	Opt TrainOptions
	*trainloop.Optimizer
	Data *dataset.Set

	pool *pool
}

// NewTrainer sets up training of s on data. The latent normalisation must
// already be set (see EstimateLatentStats).
func NewTrainer(s *SR, data *dataset.Set, opt TrainOptions) (*Trainer, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if s == nil || data == nil {
		return nil, errors.New("trainer: no model or no data")
	}
	if err := checkCrop(s, opt.Crop); err != nil {
		return nil, err
	}
	if opt.Align && s.Config.Generator {
		return nil, errors.New("trainer: alignment fine-tunes a super-resolution model, not a generator")
	}
	if err := opt.checkDistill(s); err != nil {
		return nil, err
	}
	if opt.Distill > 0 {
		s.Config.Student = opt.Distill
	}
	ps := s.UNet.Params.Tensors()
	group, size := opt.Batch, opt.Batch
	if opt.Reuse > 1 {
		group = (opt.Batch + opt.Reuse - 1) / opt.Reuse
		size = roundUp(max(opt.Pool, opt.Batch), group)
	}
	if opt.MaxScale <= 0 {
		opt.MaxScale = s.Config.Scale
	}
	if opt.MaxScale%s.Config.Scale != 0 || (opt.MaxScale != s.Config.Scale && !opt.Align) {
		return nil, fmt.Errorf("trainer: the largest target scale %d must be a multiple of the model's scale %d, and is for alignment only",
			opt.MaxScale, s.Config.Scale)
	}
	wide := opt.Crop / s.Config.Scale * opt.MaxScale
	if !data.Fits(wide) {
		return nil, fmt.Errorf("trainer: targets up to x%d need %d-pixel crops, and no training photo is that large", opt.MaxScale, wide)
	}
	lat := opt.Crop / s.AE.Config.Factor()
	t := &Trainer{SR: s, Opt: opt, Data: data, pool: newPool(size, group, opt.Crop, wide, lat*lat*s.AE.Config.LatentCh, opt.Align, opt.Distill > 0)}
	t.Optimizer = trainloop.NewOptimizer(&t.Opt.Recipe, ps)
	return t, nil
}

// checkCrop rejects crop sizes that give no integer LR or a latent the
// U-Net cannot take.
func checkCrop(s *SR, crop int) error {
	f, m := s.AE.Config.Factor(), s.UNet.Config.Multiple()
	if crop < 1 || crop%s.Config.Scale != 0 || crop%(f*m) != 0 {
		return fmt.Errorf("crop %d must be a multiple of the scale %d and of %d (auto-encoder factor %d × U-Net multiple %d)",
			crop, s.Config.Scale, f*m, f, m)
	}
	return nil
}

// TrainKind is the training-state kind of a stage-2 run, AlignKind that
// of an alignment run, GenTrainKind that of a generator; they differ so
// one cannot resume as another.
const (
	TrainKind    = Kind + "-denoise"
	AlignKind    = Kind + "-align"
	DistillKind  = Kind + "-distill"
	GenTrainKind = GenKind + "-denoise"
)

// State is the resumable training state: every parameter (the embedded
// auto-encoder's too, so resuming needs no other file), the optimiser,
// the EMA and the step.
func (t *Trainer) State() *checkpoint.TrainState {
	kind := TrainKind
	switch {
	case t.Opt.Align:
		kind = AlignKind
	case t.Opt.Distill > 0:
		kind = DistillKind
	case t.SR.Config.Generator:
		kind = GenTrainKind
	}
	return &checkpoint.TrainState{Kind: kind, Config: &t.SR.Config, Params: t.SR.Named(), Optim: t.Adam, EMA: t.EMA, Step: t.Step}
}

// Resume rebuilds a trainer from a state written with State and
// checkpoint.SaveTrain: the model comes from the state's own config, so
// the flags that shaped it need not be repeated.
func Resume(path string, data *dataset.Set, opt TrainOptions) (*Trainer, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(f.Metadata[checkpoint.KeyConfig]), &cfg); err != nil {
		return nil, fmt.Errorf("resume %s: decoding config: %w", path, err)
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	ae, err := autoencoder.New(cfg.AE, 0)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	s, err := build(cfg, ae, 0)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	t, err := NewTrainer(s, data, opt)
	if err != nil {
		return nil, err
	}
	if err := t.Optimizer.Resume(path, t.State()); err != nil {
		return nil, err
	}
	return t, nil
}

// alignWeight is the per-step weight of both alignment terms:
// w(t) = min(SNR(t), γ). The paper's w = SNR makes the latent term
// exactly the plain ε-loss (‖ẑ0 − z0‖² = ‖ε̂ − ε‖²/SNR), but the image
// term has no such cancellation: at small t, ẑ0 ≈ z0 and what is left of
// D(ẑ0) − x is the auto-encoder's own reconstruction error, which the
// U-Net cannot remove; multiplied by SNR ≈ 670 it dominates the loss and
// its gradient (∝ √SNR after the chain through ẑ0) drags the denoiser into
// distorting latents to patch the decoder. Capping at γ = 5 keeps the
// image term in charge only where the prediction actually matters and
// turns the latent term into Min-SNR-γ weighting (Hang et al. 2023), a
// known good ε-loss weighting.
func alignWeight(snr, gamma float64) float64 { return math.Min(snr, gamma) }

// StepLoss is one step's losses: Total is what was minimised; for
// alignment Latent and Image are its two (weighted) terms.
type StepLoss struct {
	Total, Latent, Image float64
}

// loss builds the step's loss on tp from a batch.
func (t *Trainer) loss(tp *tensor.Tape, b batch) (total, lat, img *tensor.Tensor) {
	s := t.SR
	n := len(b.ts)
	tsf := make([]float32, n)
	for i, v := range b.ts {
		tsf[i] = float32(v)
	}
	out := s.UNet.ForwardClass(tp, joinBatch(b.zt, b.cond), tsf, b.labels)
	switch {
	case t.Opt.Distill > 0 && t.Opt.TeacherImageWeight > 0:
		z0Hat := t.z0Hat(tp, out, b)
		lat = tp.MSELoss(z0Hat, b.z0)
		di := tp.Sub(s.renderQueries(tp, z0Hat, b), b.target)
		img = tp.Scale(tp.Mean(tp.Mul(di, di)), float32(t.Opt.TeacherImageWeight))
		return tp.Add(lat, img), lat, img
	case t.Opt.Distill > 0:
		return tp.MSELoss(t.z0Hat(tp, out, b), b.z0), nil, nil
	case !t.Opt.Align:
		return tp.MSELoss(out, b.regressTarget(s)), nil, nil
	}
	z0Hat := t.z0Hat(tp, out, b)
	w := tensor.New(n, 1, 1, 1)
	q := len(b.ys) / n
	wq := tensor.New(n*q, 1)
	for i, ti := range b.ts {
		wi := float32(alignWeight(s.Sched.SNR(ti), t.Opt.SNRCap))
		w.Data[i] = wi
		for j := range q {
			wq.Data[i*q+j] = wi
		}
	}
	d := tp.Sub(z0Hat, b.z0)
	lat = tp.Scale(tp.Mean(tp.Mul(tp.Mul(d, d), w)), float32(t.Opt.LatentWeight))
	di := tp.Sub(s.renderQueries(tp, z0Hat, b), b.target)
	img = tp.Scale(tp.Mean(tp.Mul(tp.Mul(di, di), wq)), float32(t.Opt.ImageWeight))
	return tp.Add(lat, img), lat, img
}

// renderQueries is the decoder's rendering of the normalised latents z
// [B,h,w,C] at the batch's query points (b.ys, b.xs of an output of side
// b.size), recorded on tp (nil: none) so that an image term's gradient
// reaches z.
func (s *SR) renderQueries(tp *tensor.Tape, z *tensor.Tensor, b batch) *tensor.Tensor {
	z = s.denormalizeTape(tp, z)
	cell := 2 / float32(b.size)
	return s.AE.Query(tp, z, s.AE.Features(tp, z), b.ys, b.xs, cell, cell)
}

// z0Hat is the clean latent the U-Net's output out predicts for the
// batch: ẑ0 = a·z_t + b·out per crop (see outputCoefs); z_t is a
// constant, so its part is folded in off the tape.
func (t *Trainer) z0Hat(tp *tensor.Tape, out *tensor.Tensor, b batch) *tensor.Tensor {
	n := len(b.ts)
	per := b.zt.Len() / n
	ztScaled := tensor.New(b.zt.Shape...)
	coef := tensor.New(n, 1, 1, 1)
	for i, ti := range b.ts {
		ca, cb := t.SR.den().outputCoefs(ti)
		for j := range per {
			ztScaled.Data[i*per+j] = float32(ca * float64(b.zt.Data[i*per+j]))
		}
		coef.Data[i] = float32(cb)
	}
	return tp.Add(ztScaled, tp.Mul(out, coef))
}

// joinBatch concatenates z_t and each crop's condition on the channel
// axis; a generator has no condition and takes z_t as it is.
func joinBatch(zt, cond *tensor.Tensor) *tensor.Tensor {
	if cond == nil {
		return zt
	}
	n, h, w, c := zt.Shape[0], zt.Shape[1], zt.Shape[2], zt.Shape[3]
	cc := cond.Shape[3]
	out := tensor.New(n, h, w, c+cc)
	for p := range n * h * w {
		copy(out.Data[p*(c+cc):p*(c+cc)+c], zt.Data[p*c:(p+1)*c])
		copy(out.Data[p*(c+cc)+c:(p+1)*(c+cc)], cond.Data[p*cc:(p+1)*cc])
	}
	return out
}

// stepRNG is the generator of one step: derived from (seed, step) alone so
// a resumed run draws what an uninterrupted one would have.
func (t *Trainer) stepRNG() *rand.Rand {
	salt := uint64(0)
	switch {
	case t.Opt.Align:
		salt = 1 << 62 // alignment draws differ from the stage-2 run's
	case t.Opt.Distill > 0:
		salt = 1 << 61
	}
	return rand.New(rand.NewPCG(t.Opt.Seed, uint64(t.Step)^salt))
}

// TrainStep runs one optimiser step on a fresh batch. A step whose loss
// or gradient is not finite is skipped and reported as an error.
func (t *Trainer) TrainStep(tp *tensor.Tape) (StepLoss, error) {
	b, err := t.nextBatch()
	if err != nil {
		return StepLoss{}, err
	}
	total, lat, img := t.loss(tp, b)
	var sl StepLoss
	if lat != nil {
		sl.Latent, sl.Image = float64(lat.Data[0]), float64(img.Data[0])
	}
	sl.Total, err = t.Finish(tp, total)
	return sl, err
}

// Run trains until Opt.Steps (or Opt.Until) or until ctx is cancelled;
// see trainloop.Run.
func (t *Trainer) Run(ctx context.Context, log io.Writer, quiet bool, h trainloop.Hooks) error {
	tp := tensor.NewTape()
	label := "train sr"
	switch {
	case t.Opt.Align:
		label = "train align"
	case t.Opt.Distill > 0:
		label = "train student"
	case t.SR.Config.Generator:
		label = "train gen"
	}
	var sum StepLoss
	var n int
	do := func() error {
		l, err := t.TrainStep(tp)
		if err == nil {
			sum.Total += l.Total
			sum.Latent += l.Latent
			sum.Image += l.Image
			n++
		}
		return err
	}
	status := func() string {
		d := math.Max(float64(n), 1)
		if t.Opt.Align || t.Opt.TeacherImageWeight > 0 {
			return fmt.Sprintf("loss %.4f (latent %.4f, image %.5f)", sum.Total/d, sum.Latent/d, sum.Image/d)
		}
		return fmt.Sprintf("loss %.4f", sum.Total/d)
	}
	return trainloop.Run(ctx, t.Loop(label, do, status, func() { sum, n = StepLoss{}, 0 }), log, quiet, h)
}

// EstimateLatentStats encodes crops random crops of the given side and
// returns the latent normalisation: per channel, shift = mean and
// scale = 1/std (perChannel), or shift = 0 and one scale = 1/std over all
// values (the paper's LDM "scale_factor"). Channels whose std is below a
// thousandth of the largest are scaled as if they had that, so a dead
// channel is not blown up into noise.
func EstimateLatentStats(ae *autoencoder.Model, data *dataset.Set, crops, side int, seed uint64, perChannel bool) (shift, scale []float32, err error) {
	if crops < 2 {
		return nil, nil, fmt.Errorf("latent statistics need at least 2 crops, have %d", crops)
	}
	if side%ae.Config.Factor() != 0 {
		return nil, nil, fmt.Errorf("crop %d is not a multiple of the auto-encoder factor %d", side, ae.Config.Factor())
	}
	c := ae.Config.LatentCh
	sum, sq := make([]float64, c), make([]float64, c)
	var count int
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const chunk = 16
	for done := 0; done < crops; done += chunk {
		n := min(chunk, crops-done)
		x := tensor.New(n, side, side, 3)
		for i := range n {
			data.Crop(rng, side, x.Data[i*side*side*3:(i+1)*side*side*3])
		}
		z := ae.Encode(nil, x)
		for i, v := range z.Data {
			sum[i%c] += float64(v)
			sq[i%c] += float64(v) * float64(v)
		}
		count += z.Len() / c
	}
	shift, scale = make([]float32, c), make([]float32, c)
	if !perChannel {
		var s, q float64
		for i := range c {
			s += sum[i]
			q += sq[i]
		}
		nAll := float64(count * c)
		mean := s / nAll
		std := math.Sqrt(math.Max(q/nAll-mean*mean, 0))
		if !(std > 0) || math.IsInf(std, 0) {
			return nil, nil, fmt.Errorf("latent std %g: the auto-encoder's latents are degenerate", std)
		}
		for i := range c {
			scale[i] = float32(1 / std)
		}
		return shift, scale, nil
	}
	stds := make([]float64, c)
	top := 0.0
	for i := range c {
		mean := sum[i] / float64(count)
		stds[i] = math.Sqrt(math.Max(sq[i]/float64(count)-mean*mean, 0))
		shift[i] = float32(mean)
		top = math.Max(top, stds[i])
	}
	if !(top > 0) || math.IsInf(top, 0) {
		return nil, nil, fmt.Errorf("latent std %g: the auto-encoder's latents are degenerate", top)
	}
	for i := range c {
		scale[i] = float32(1 / math.Max(stds[i], top/1000))
	}
	return shift, scale, nil
}

// SetLatentStats installs a latent normalisation (from EstimateLatentStats).
func (s *SR) SetLatentStats(shift, scale []float32) error {
	cfg := s.Config
	cfg.LatentShift = append([]float32(nil), shift...)
	cfg.LatentScale = append([]float32(nil), scale...)
	if err := cfg.Check(); err != nil {
		return err
	}
	s.Config = cfg
	return nil
}
