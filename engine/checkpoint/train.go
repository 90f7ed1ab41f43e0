package checkpoint

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Metadata keys of training checkpoints.
const (
	keyStep  = "step"
	keyRNG   = "rng"
	keyOptim = "optim"
	keyEMA   = "ema"
)

// trainKeys are the metadata keys a training checkpoint reserves.
var trainKeys = []string{KeyFormat, KeyVersion, KeyConfig, keyStep, keyRNG, keyOptim, keyEMA}

// trainPrefix starts the format string of training checkpoints. It differs
// from modelPrefix so a training state is never mistaken for a model.
const trainPrefix = "zoomdiff-train/"

// Tensor name prefixes inside a training checkpoint. Prefixing the
// parameters too keeps a parameter called, say, "ema/x" from colliding
// with the EMA copy of "x".
const (
	prefParam = "param/"
	prefM     = "adam.m/"
	prefV     = "adam.v/"
	prefEMA   = "ema/"
)

// TrainState is everything needed to resume training exactly. SaveTrain
// reads it; LoadTrain fills it in place, so the caller first builds the
// model, optimiser and EMA exactly as for a fresh run and then loads into
// them.
type TrainState struct {
	// Kind is the model type, as for Save.
	Kind string
	// Config is stored as JSON; LoadTrain decodes into it when non-nil.
	Config any
	// Params are the trainable parameters.
	Params []Named
	// Optim, when non-nil, has its moments and step count saved. Its
	// parameters must all be among Params (matched by pointer). Its
	// hyperparameters are recorded in the metadata for reference only:
	// LoadTrain keeps the Config of the optimiser it loads into, so a
	// resumed run may deliberately change them.
	Optim *optim.Adam
	// EMA, when non-nil, has its averaged weights and update count saved.
	// Its parameters must all be among Params.
	EMA *optim.EMA
	// Step is the caller's training step counter.
	Step int
	// RNG is the opaque state of the caller's random generator, e.g. from
	// (*rand.PCG).MarshalBinary or a uint64 seed encoded with
	// binary.LittleEndian.AppendUint64.
	RNG []byte
	// Extra is free-form metadata; LoadTrain replaces it with the stored
	// map.
	Extra map[string]string
}

type optimMeta struct {
	Steps       int     `json:"steps"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	WeightDecay float64 `json:"weight_decay"`
	Decoupled   bool    `json:"decoupled"`
}

type emaMeta struct {
	Updates int     `json:"updates"`
	Decay   float64 `json:"decay"`
}

// BackupPath is where SaveTrain keeps the previous checkpoint when asked to.
func BackupPath(path string) string { return path + ".bak" }

// SaveTrain writes s to path atomically, in float32 so that resuming is
// exact. With keepBackup the checkpoint being replaced is first kept at
// BackupPath(path): the atomic rename already protects against crashes
// mid-write, but not against a run that diverged and wrote NaN weights
// into a perfectly well-formed file.
func SaveTrain(path string, s *TrainState, keepBackup bool) error {
	entries, meta, err := prepareTrain(s)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if keepBackup {
		if err := backup(path); err != nil {
			return fmt.Errorf("checkpoint %s: keeping a backup: %w", path, err)
		}
	}
	if err := safetensors.WriteFile(path, entries, meta, safetensors.F32); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// backup makes BackupPath(path) a copy of path without ever leaving path
// itself missing: a hard link (or, where links are unsupported, an atomic
// copy) is made under a temporary name and renamed over the old backup.
func backup(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil // first save: nothing to keep
	}
	bak := BackupPath(path)
	tmp := bak + ".link"
	os.Remove(tmp)
	if err := os.Link(path, tmp); err == nil {
		if err := os.Rename(tmp, bak); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	return atomicfile.Write(bak, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

// trainSlot is one tensor of a training checkpoint and the live buffer it
// is saved from and restored into.
type trainSlot struct {
	name  string
	shape []int
	data  []float32
}

// slots lists every tensor s holds, named as in the file.
func (s *TrainState) slots() ([]trainSlot, error) {
	var out []trainSlot
	seen := map[string]bool{}
	byPtr := map[*tensor.Tensor]string{}
	for _, p := range s.Params {
		if err := checkNamed(p, seen); err != nil {
			return nil, err
		}
		byPtr[p.T] = p.Name
		out = append(out, trainSlot{prefParam + p.Name, p.T.Shape, p.T.Data})
	}
	if s.Optim != nil {
		for i, p := range s.Optim.Params() {
			name, ok := byPtr[p]
			if !ok {
				return nil, fmt.Errorf("optimiser parameter %d %v is not among the named parameters", i, p)
			}
			m, v := s.Optim.Moments(i)
			out = append(out, trainSlot{prefM + name, p.Shape, m}, trainSlot{prefV + name, p.Shape, v})
		}
	}
	if s.EMA != nil {
		if s.EMA.Swapped() {
			return nil, errors.New("EMA is swapped into the parameters; Swap back before checkpointing")
		}
		for i, p := range s.EMA.Params() {
			name, ok := byPtr[p]
			if !ok {
				return nil, fmt.Errorf("EMA parameter %d %v is not among the named parameters", i, p)
			}
			out = append(out, trainSlot{prefEMA + name, p.Shape, s.EMA.Shadow(i)})
		}
	}
	return out, nil
}

func prepareTrain(s *TrainState) ([]safetensors.Entry, map[string]string, error) {
	if s.Kind == "" {
		return nil, nil, errors.New("empty model kind")
	}
	slots, err := s.slots()
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{
		KeyFormat:  trainPrefix + s.Kind,
		KeyVersion: Version,
		keyStep:    strconv.Itoa(s.Step),
		keyRNG:     base64.StdEncoding.EncodeToString(s.RNG),
	}
	if err := addConfig(meta, s.Config); err != nil {
		return nil, nil, err
	}
	if o := s.Optim; o != nil {
		b, _ := json.Marshal(optimMeta{o.Steps(), o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Decoupled})
		meta[keyOptim] = string(b)
	}
	if e := s.EMA; e != nil {
		b, _ := json.Marshal(emaMeta{e.Updates(), e.Decay()})
		meta[keyEMA] = string(b)
	}
	if err := addExtra(meta, s.Extra, trainKeys...); err != nil {
		return nil, nil, err
	}
	entries := make([]safetensors.Entry, len(slots))
	for i, sl := range slots {
		entries[i] = safetensors.Entry{Name: sl.name, Shape: sl.shape, Data: sl.data}
	}
	return entries, meta, nil
}

// LoadTrain restores s from the training checkpoint at path: parameters,
// optimiser and EMA state, Step, RNG, Extra and (when s.Config is non-nil)
// the config. s must describe the same model and the same choice of
// optimiser and EMA as when it was saved. Everything is checked before
// anything is written, so on error s and its tensors are unchanged.
func LoadTrain(path string, s *TrainState) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return loadTrain(path, f, s)
}

// TrainConfig decodes the config stored in the training state at path
// into v, so that a resumed run rebuilds the model the state was made
// with rather than the one its command line describes.
func TrainConfig(path string, v any) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return decodeConfig(path, f.Metadata, v)
}

func loadTrain(source string, f *safetensors.File, s *TrainState) error {
	format := f.Metadata[KeyFormat]
	if err := checkVersion(source, format, f.Metadata); err != nil {
		return err
	}
	kind, ok := strings.CutPrefix(format, trainPrefix)
	switch {
	case !ok && strings.HasPrefix(format, modelPrefix):
		return fmt.Errorf("checkpoint %s: is a model checkpoint (%s), not a training state", source, format)
	case !ok:
		return fmt.Errorf("checkpoint %s: format %q is not a zoomdiff training state", source, format)
	case kind != s.Kind:
		return fmt.Errorf("checkpoint %s: holds a training state of kind %q, expected %q", source, kind, s.Kind)
	}
	step, err := strconv.Atoi(f.Metadata[keyStep])
	if err != nil {
		return fmt.Errorf("checkpoint %s: bad step %q", source, f.Metadata[keyStep])
	}
	rng, err := base64.StdEncoding.DecodeString(f.Metadata[keyRNG])
	if err != nil {
		return fmt.Errorf("checkpoint %s: bad rng state: %w", source, err)
	}
	var om optimMeta
	if err := stateMeta(source, f.Metadata, keyOptim, s.Optim != nil, "optimiser", &om); err != nil {
		return err
	}
	var em emaMeta
	if err := stateMeta(source, f.Metadata, keyEMA, s.EMA != nil, "EMA", &em); err != nil {
		return err
	}
	slots, err := s.slots()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", source, err)
	}
	// Check everything, config included, before writing into s anywhere.
	want := make([]target, len(slots))
	for i, sl := range slots {
		want[i] = target{sl.name, sl.shape, sl.data}
	}
	if err := verify(source, f, want); err != nil {
		return err
	}
	if s.Config != nil {
		if err := decodeConfig(source, f.Metadata, s.Config); err != nil {
			return err
		}
	}
	fill(f, want)
	if s.Optim != nil {
		s.Optim.SetSteps(om.Steps)
	}
	if s.EMA != nil {
		s.EMA.SetUpdates(em.Updates)
	}
	s.Step = step
	s.RNG = rng
	s.Extra = map[string]string{}
	for k, v := range f.Metadata {
		if !slices.Contains(trainKeys, k) {
			s.Extra[k] = v
		}
	}
	return nil
}

// stateMeta decodes the JSON metadata under key into v, requiring it to be
// present exactly when the caller supplied the matching state object.
func stateMeta(source string, meta map[string]string, key string, want bool, what string, v any) error {
	raw, have := meta[key]
	switch {
	case want && !have:
		return fmt.Errorf("checkpoint %s: no %s state stored, but one was given to load into", source, what)
	case !want && have:
		return fmt.Errorf("checkpoint %s: holds %s state, but none was given to load into", source, what)
	case !have:
		return nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("checkpoint %s: bad %s metadata: %w", source, what, err)
	}
	return nil
}
