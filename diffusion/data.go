package diffusion

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
	"github.com/zoomdiff/zoomdiff/resample"
)

// batch is one step's training data.
type batch struct {
	hr     [][]float32    // alignment: each crop's HR, side²·3 values
	sides  []int          // alignment: the side of each HR
	z0     *tensor.Tensor // normalised latents of the HR crops
	cond   *tensor.Tensor // normalised latents of the nearest-up-sampled LR crops
	ts     []int          // timestep per crop
	eps    *tensor.Tensor // noise, like z0
	zt     *tensor.Tensor // noised z0
	size   int            // alignment: side of the decoded target
	ys, xs []float32      // alignment: query coordinates, per crop back to back
	target *tensor.Tensor // alignment: [B·Q,3] target RGB
	crops  []int          // pool batches: the crop number g of each entry
	labels []int          // class-conditional generator: each crop's class (Classes: none); else nil
}

// drawCrop fills src (side²·3 values) with a random augmented crop and
// returns the training pair cut from it: the HR, src itself or, for a
// wide crop (side > crop), src bicubic-reduced to crop; and the LR of
// side crop/Scale, degraded from src as Config.Degradation says (the
// benchmark's MATLAB bicubic with antialiasing, or the real-photo chain).
// A wide crop is thus an LR whose true HR is known at side/(crop/Scale)
// times its size. class is the photo's (see dataset.Photo).
func (s *SR) drawCrop(rng *rand.Rand, data *dataset.Set, crop, side int, src []float32) (hr, lr []float32, class int, err error) {
	class = data.Crop(rng, side, src)
	if s.Config.Generator {
		if class < 0 || (s.UNet.Config.Classes > 0 && class >= s.UNet.Config.Classes) {
			return nil, nil, 0, fmt.Errorf("training photo of class %d for a generator of %d classes", class, s.UNet.Config.Classes)
		}
		return src, nil, class, nil // no condition to degrade
	}
	small := crop / s.Config.Scale
	if s.Config.Degradation == DegradeReal {
		lr, err = degrade.Default().Apply(rng, src, side, side, small, small)
	} else {
		lr, err = resample.Resize(src, side, side, 3, small, small, resample.Options{Method: resample.Bicubic})
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("degrading a training crop: %w", err)
	}
	hr = src
	if side != crop {
		if hr, err = resample.Resize(src, side, side, 3, crop, crop, resample.Options{Method: resample.Bicubic}); err != nil {
			return nil, nil, 0, fmt.Errorf("reducing a wide training crop: %w", err)
		}
	}
	return hr, lr, class, nil
}

// encodePairs encodes n HR crops and their LRs through the frozen encoder:
// the clean latents z0 and the conditions (nil for a generator), both
// normalised.
func (s *SR) encodePairs(hr, lr []float32, n, crop int) (z0, cond *tensor.Tensor) {
	side := crop / s.Config.Scale
	z0 = s.AE.Encode(nil, tensor.FromData(hr, n, crop, crop, 3))
	s.normalize(z0.Data)
	if s.Config.Generator {
		return z0, nil
	}
	cond = s.encodeCond(tensor.FromData(lr, n, side, side, 3))
	return z0, cond
}

// makeBatch draws n fresh crops with rng, encodes them and noises them:
// a batch with no reuse, for validation and tests.
func (s *SR) makeBatch(rng *rand.Rand, data *dataset.Set, n, crop int) (batch, error) {
	side := crop / s.Config.Scale
	hr := make([]float32, n*crop*crop*3)
	lr := make([]float32, n*side*side*3)
	b := batch{hr: make([][]float32, n), sides: make([]int, n)}
	for i := range n {
		b.hr[i], b.sides[i] = hr[i*crop*crop*3:(i+1)*crop*crop*3], crop
		_, small, class, err := s.drawCrop(rng, data, crop, crop, b.hr[i])
		if err != nil {
			return batch{}, err
		}
		copy(lr[i*side*side*3:], small)
		if s.UNet.Config.Classes > 0 {
			b.labels = append(b.labels, class)
		}
	}
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
		s.den().Target(v.Data[r:r+per], b.z0.Data[r:r+per], b.eps.Data[r:r+per], ti)
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

// targetSize draws the side of an alignment target log-uniformly between
// lo (the latent's side, ×1 of the LR) and hi.
func targetSize(rng *rand.Rand, lo, hi int) int {
	size := int(math.Round(float64(lo) * math.Exp(rng.Float64()*math.Log(float64(hi)/float64(lo)))))
	return min(max(size, lo), hi)
}

// addTargets draws the alignment targets at output side size (at most
// every crop's HR side): each crop's HR bicubic-resized to it, and q
// distinct random pixels of it per crop, as stage 1 samples its targets.
func (s *SR) addTargets(rng *rand.Rand, b *batch, size, queries int) error {
	n := len(b.hr)
	q := min(queries, size*size)
	b.size = size
	b.ys, b.xs = make([]float32, n*q), make([]float32, n*q)
	b.target = tensor.New(n*q, 3)
	perm := make([]int, size*size)
	for i, hr := range b.hr {
		side := b.sides[i]
		if side < size {
			return fmt.Errorf("alignment target of %d px from a %d-px crop", size, side)
		}
		tgt := hr
		if size != side {
			var err error
			if tgt, err = resample.Resize(hr, side, side, 3, size, size, resample.Options{Method: resample.Bicubic}); err != nil {
				return fmt.Errorf("resizing an alignment target: %w", err)
			}
		}
		implicit.PickPixels(rng, perm, size, tgt, b.ys[i*q:(i+1)*q], b.xs[i*q:(i+1)*q], b.target.Data[i*q*3:(i+1)*q*3])
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
	wide        int       // side of a wide crop (alignment beyond ×Scale); crop when none are drawn
	perLat      int       // floats of one latent
	z0, cond    []float32 // size × perLat each
	hr          []float32 // size × wide²·3, kept only for alignment targets
	sides       []int     // side of each slot's HR in hr
	start, end  []float32 // distillation: the teacher's starting noise and its answer (size × perLat each)
	labels      []int     // each slot's class (class-conditional generators)
	filled      []int     // group currently in each block of `group` slots (−1: empty)
}

// newPool makes a pool of size slots filled in groups; keepHR keeps the
// HR crops for alignment targets, and distill keeps the teacher's start
// and answer for each crop.
func newPool(size, group, crop, wide, perLat int, keepHR, distill bool) *pool {
	p := &pool{size: size, group: group, crop: crop, wide: wide, perLat: perLat,
		z0: make([]float32, size*perLat), cond: make([]float32, size*perLat), labels: make([]int, size), filled: make([]int, size/group)}
	if keepHR {
		p.hr = make([]float32, size*wide*wide*3)
		p.sides = make([]int, size)
	}
	if distill {
		p.start = make([]float32, size*perLat)
		p.end = make([]float32, size*perLat)
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
	src := make([]float32, p.wide*p.wide*3)
	hrLen := p.wide * p.wide * 3
	for b := range blocks {
		want := b + (latest-b)/blocks*blocks
		if p.filled[b] == want {
			continue
		}
		at := b * p.group
		for i := range p.group {
			g := uint64(want*p.group + i)
			rng := rand.New(rand.NewPCG(t.Opt.Seed^cropSalt, g))
			from := crop
			if p.wide > crop && rng.Float64() < t.Opt.Wide {
				from = p.wide
			}
			big, small, class, err := s.drawCrop(rng, t.Data, crop, from, src[:from*from*3])
			if err != nil {
				return err
			}
			p.labels[at+i] = class
			copy(hr[i*crop*crop*3:], big)
			copy(lr[i*side*side*3:], small)
			if p.hr != nil {
				copy(p.hr[(at+i)*hrLen:], src[:from*from*3])
				p.sides[at+i] = from
			}
		}
		z0, cond := s.encodePairs(hr, lr, p.group, crop)
		copy(p.z0[at*p.perLat:], z0.Data)
		if cond != nil {
			copy(p.cond[at*p.perLat:], cond.Data)
		}
		if p.start != nil {
			if t.Teacher == nil {
				return errors.New("trainer: distillation needs Trainer.Teacher")
			}
			lo, hi := at*p.perLat, (at+p.group)*p.perLat
			if err := t.teacherPaths(cond, uint64(want*p.group), p.start[lo:hi], p.end[lo:hi]); err != nil {
				return err
			}
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
	b := batch{z0: tensor.New(o.Batch, side, side, c)}
	if !t.SR.Config.Generator {
		b.cond = tensor.New(o.Batch, side, side, c)
	}
	// The target side is drawn first: a side beyond the crop can only
	// come from the wide slots, so it decides which slots may be chosen.
	size := 0
	perm := make([]int, 0, p.size)
	for i := range p.size {
		perm = append(perm, i)
	}
	if o.Align {
		size = targetSize(rng, side, p.wide)
		if size > o.Crop {
			perm = perm[:0]
			for i, sd := range p.sides {
				if sd >= size {
					perm = append(perm, i)
				}
			}
			if len(perm) < o.Batch { // too few wide crops in the pool: fall back to every slot
				size, perm = o.Crop, perm[:0]
				for i := range p.size {
					perm = append(perm, i)
				}
			}
		}
	}
	hrLen := p.wide * p.wide * 3
	for i := range o.Batch {
		r := i + rng.IntN(len(perm)-i)
		perm[i], perm[r] = perm[r], perm[i]
		slot := perm[i]
		b.crops = append(b.crops, p.filled[slot/p.group]*p.group+slot%p.group)
		copy(b.z0.Data[i*p.perLat:(i+1)*p.perLat], p.z0[slot*p.perLat:])
		if b.cond != nil {
			copy(b.cond.Data[i*p.perLat:(i+1)*p.perLat], p.cond[slot*p.perLat:])
		}
		if p.hr != nil {
			sd := p.sides[slot]
			b.hr = append(b.hr, p.hr[slot*hrLen:slot*hrLen+sd*sd*3])
			b.sides = append(b.sides, sd)
		}
	}
	if p.start != nil {
		t.distillBatch(rng, &b, perm[:o.Batch])
		return b, nil
	}
	t.SR.addNoise(rng, &b)
	if k := t.SR.UNet.Config.Classes; k > 0 {
		for _, slot := range perm[:o.Batch] {
			y := p.labels[slot]
			if rng.Float64() < o.LabelDrop {
				y = k
			}
			b.labels = append(b.labels, y)
		}
	}
	if o.Align {
		if err := t.SR.addTargets(rng, &b, size, o.Queries); err != nil {
			return batch{}, err
		}
	}
	return b, nil
}
