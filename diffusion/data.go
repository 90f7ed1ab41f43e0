package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/resample"
)

// batch is one step's training data.
type batch struct {
	hr     []float32      // HR crops [B,P,P,3]; alignment only
	z0     *tensor.Tensor // normalised latents of the HR crops
	cond   *tensor.Tensor // normalised latents of the nearest-up-sampled LR crops
	ts     []int          // timestep per crop
	eps    *tensor.Tensor // noise, like z0
	zt     *tensor.Tensor // noised z0
	size   int            // alignment: side of the decoded target
	ys, xs []float32      // alignment: query coordinates, per crop back to back
	target *tensor.Tensor // alignment: [B·Q,3] target RGB
	crops  []int          // pool batches: the crop number g of each entry
}

// drawCrop fills hr (crop²·3 values) with a random augmented crop and
// returns its LR, degraded as the benchmark does (MATLAB bicubic with
// antialiasing) by the model's Scale.
func (s *SR) drawCrop(rng *rand.Rand, data *dataset.Set, crop int, hr []float32) ([]float32, error) {
	data.Crop(rng, crop, hr)
	side := crop / s.Config.Scale
	lr, err := resample.Resize(hr, crop, crop, 3, side, side, resample.Options{Method: resample.Bicubic})
	if err != nil {
		return nil, fmt.Errorf("degrading a training crop: %w", err)
	}
	return lr, nil
}

// encodePairs encodes n HR crops and their LRs through the frozen encoder:
// the clean latents z0 and the conditions, both normalised.
func (s *SR) encodePairs(hr, lr []float32, n, crop int) (z0, cond *tensor.Tensor) {
	side := crop / s.Config.Scale
	z0 = s.AE.Encode(nil, tensor.FromData(hr, n, crop, crop, 3))
	s.normalize(z0.Data)
	cond = s.encodeCond(tensor.FromData(lr, n, side, side, 3))
	return z0, cond
}

// makeBatch draws n fresh crops with rng, encodes them and noises them:
// a batch with no reuse, for validation and tests.
func (s *SR) makeBatch(rng *rand.Rand, data *dataset.Set, n, crop int) (batch, error) {
	side := crop / s.Config.Scale
	hr := make([]float32, n*crop*crop*3)
	lr := make([]float32, n*side*side*3)
	for i := range n {
		small, err := s.drawCrop(rng, data, crop, hr[i*crop*crop*3:(i+1)*crop*crop*3])
		if err != nil {
			return batch{}, err
		}
		copy(lr[i*side*side*3:], small)
	}
	b := batch{hr: hr}
	b.z0, b.cond = s.encodePairs(hr, lr, n, crop)
	s.addNoise(rng, &b)
	return b, nil
}

// regressTarget is the U-Net's regression target for the batch: ε, or v.
func (b *batch) regressTarget(s *SR) *tensor.Tensor {
	if s.Config.Prediction != PredictV {
		return b.eps
	}
	n := len(b.ts)
	per := b.z0.Len() / n
	v := tensor.New(b.z0.Shape...)
	for i, ti := range b.ts {
		r := i * per
		s.target(v.Data[r:r+per], b.z0.Data[r:r+per], b.eps.Data[r:r+per], ti)
	}
	return v
}

// addNoise draws a timestep and noise per crop and forms z_t.
func (s *SR) addNoise(rng *rand.Rand, b *batch) {
	n := b.z0.Shape[0]
	per := b.z0.Len() / n
	b.ts = make([]int, n)
	b.eps = tensor.New(b.z0.Shape...)
	b.zt = tensor.New(b.z0.Shape...)
	for i := range n {
		b.ts[i] = rng.IntN(s.Sched.T())
		e := b.eps.Data[i*per : (i+1)*per]
		for j := range e {
			e[j] = float32(rng.NormFloat64())
		}
		s.Sched.QSample(b.zt.Data[i*per:(i+1)*per], b.z0.Data[i*per:(i+1)*per], e, b.ts[i])
	}
}

// addTargets draws the alignment targets: one output side for the batch,
// log-uniform between the latent's side (×1 of the LR) and the crop (the
// HR, ×Scale), the crop bicubic-resized to it, and q distinct random
// pixels of it per crop, as stage 1 samples its targets.
func (s *SR) addTargets(rng *rand.Rand, b *batch, n, crop, queries int) error {
	lat := b.z0.Shape[1]
	size := int(math.Round(float64(lat) * math.Exp(rng.Float64()*math.Log(float64(crop)/float64(lat)))))
	size = min(max(size, lat), crop)
	q := min(queries, size*size)
	b.size = size
	b.ys, b.xs = make([]float32, n*q), make([]float32, n*q)
	b.target = tensor.New(n*q, 3)
	perm := make([]int, size*size)
	for i := range n {
		hr := b.hr[i*crop*crop*3 : (i+1)*crop*crop*3]
		tgt := hr
		if size != crop {
			var err error
			if tgt, err = resample.Resize(hr, crop, crop, 3, size, size, resample.Options{Method: resample.Bicubic}); err != nil {
				return fmt.Errorf("resizing an alignment target: %w", err)
			}
		}
		for j := range perm {
			perm[j] = j
		}
		for j := range q { // partial Fisher–Yates: q distinct pixels
			r := j + rng.IntN(len(perm)-j)
			perm[j], perm[r] = perm[r], perm[j]
			p := perm[j]
			py, px := p/size, p%size
			b.ys[i*q+j] = -1 + (2*float32(py)+1)/float32(size)
			b.xs[i*q+j] = -1 + (2*float32(px)+1)/float32(size)
			copy(b.target.Data[(i*q+j)*3:(i*q+j+1)*3], tgt[p*3:p*3+3])
		}
	}
	return nil
}

// pool holds encoded training crops so that each costly encoding serves
// several steps. Crops enter in fill groups of `group` consecutive crop
// numbers g; crop g is drawn from a generator seeded by (seed, g) and
// lives in slot g mod size until a later group overwrites it. Before step
// s the groups 0 … size/group + s − 1 have been filled (all of the pool
// up front, then one group a step), so the pool's contents at any step
// follow from (seed, step) alone: a resumed run re-encodes exactly the
// groups an uninterrupted one holds, with the same group composition, and
// continues bit for bit.
type pool struct {
	size, group int
	crop        int
	perLat      int       // floats of one latent
	z0, cond    []float32 // size × perLat each
	hr          []float32 // size × crop²·3, kept only for alignment targets
	filled      []int     // group currently in each block of `group` slots (−1: empty)
}

func newPool(size, group, crop, perLat int, keepHR bool) *pool {
	p := &pool{size: size, group: group, crop: crop, perLat: perLat,
		z0: make([]float32, size*perLat), cond: make([]float32, size*perLat), filled: make([]int, size/group)}
	if keepHR {
		p.hr = make([]float32, size*crop*crop*3)
	}
	for i := range p.filled {
		p.filled[i] = -1
	}
	return p
}

// cropSalt separates the crop generators from the step generators.
const cropSalt = 0xc0ffee

// refresh brings the pool to its state before step: every block holds the
// latest group assigned to it, encoding the ones it does not have yet.
func (t *Trainer) refresh(step int) error {
	p, s := t.pool, t.SR
	blocks := p.size / p.group
	latest := blocks + step - 1 // last group filled before this step
	crop := p.crop
	side := crop / s.Config.Scale
	hr := make([]float32, p.group*crop*crop*3)
	lr := make([]float32, p.group*side*side*3)
	for b := range blocks {
		want := b + (latest-b)/blocks*blocks
		if p.filled[b] == want {
			continue
		}
		for i := range p.group {
			g := uint64(want*p.group + i)
			rng := rand.New(rand.NewPCG(t.Opt.Seed^cropSalt, g))
			small, err := s.drawCrop(rng, t.Data, crop, hr[i*crop*crop*3:(i+1)*crop*crop*3])
			if err != nil {
				return err
			}
			copy(lr[i*side*side*3:], small)
		}
		z0, cond := s.encodePairs(hr, lr, p.group, crop)
		at := b * p.group
		copy(p.z0[at*p.perLat:], z0.Data)
		copy(p.cond[at*p.perLat:], cond.Data)
		if p.hr != nil {
			copy(p.hr[at*crop*crop*3:], hr)
		}
		p.filled[b] = want
	}
	return nil
}

// nextBatch is the batch of the current step: the pool refreshed, then
// Batch distinct slots chosen, noised and (for alignment) given targets,
// all from the step's generator.
func (t *Trainer) nextBatch() (batch, error) {
	if err := t.refresh(t.Step); err != nil {
		return batch{}, err
	}
	p, o := t.pool, t.Opt
	rng := t.stepRNG()
	side := o.Crop / t.SR.AE.Config.Factor()
	c := t.SR.AE.Config.LatentCh
	b := batch{z0: tensor.New(o.Batch, side, side, c), cond: tensor.New(o.Batch, side, side, c)}
	if p.hr != nil {
		b.hr = make([]float32, o.Batch*o.Crop*o.Crop*3)
	}
	perm := make([]int, p.size)
	for i := range perm {
		perm[i] = i
	}
	hrLen := o.Crop * o.Crop * 3
	for i := range o.Batch {
		r := i + rng.IntN(p.size-i)
		perm[i], perm[r] = perm[r], perm[i]
		slot := perm[i]
		b.crops = append(b.crops, p.filled[slot/p.group]*p.group+slot%p.group)
		copy(b.z0.Data[i*p.perLat:(i+1)*p.perLat], p.z0[slot*p.perLat:])
		copy(b.cond.Data[i*p.perLat:(i+1)*p.perLat], p.cond[slot*p.perLat:])
		if p.hr != nil {
			copy(b.hr[i*hrLen:(i+1)*hrLen], p.hr[slot*hrLen:])
		}
	}
	t.SR.addNoise(rng, &b)
	if o.Align {
		if err := t.SR.addTargets(rng, &b, o.Batch, o.Crop, o.Queries); err != nil {
			return batch{}, err
		}
	}
	return b, nil
}
