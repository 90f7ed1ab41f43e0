// Package checkpoint saves and loads models and training runs as
// safetensors files.
//
// A model checkpoint holds the named parameters plus, in the file's
// metadata, "format" ("zoomdiff/<kind>"), "version" and the model's JSON
// "config". Loading is strict: the kind must match and the file must hold
// exactly the model's parameters with exactly its shapes. A checkpoint that
// loads "mostly" is how a model silently runs with a randomly initialised
// layer, so every mismatch is an error naming the layer.
//
// A training checkpoint (SaveTrain, LoadTrain) adds the optimiser moments,
// the EMA weights, the step and the random generator state, all in float32,
// so that a resumed run continues bit for bit as if it had never stopped.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// Version is the layout version written into every checkpoint. Loading
// refuses other versions rather than guess at a layout it does not know.
const Version = "1"

// Metadata keys reserved by this package; Save's extra map may not use them.
const (
	KeyFormat  = "format"
	KeyVersion = "version"
	KeyConfig  = "config"
)

// modelKeys are the metadata keys a model checkpoint reserves.
var modelKeys = []string{KeyFormat, KeyVersion, KeyConfig}

// modelPrefix starts the format string of model checkpoints.
const modelPrefix = "zoomdiff/"

// Named is a parameter and the name it is stored under, typically a dotted
// path such as "enc.conv_in.w".
type Named struct {
	Name string
	T    *tensor.Tensor
}

// Save writes a model checkpoint to path atomically (see
// safetensors.WriteFile): kind identifies the model type, config is stored
// as JSON (nil stores none), extra adds free-form metadata, and dtype is
// the on-disk precision of the weights (F16 halves the size of a model
// that is only used for inference).
func Save(path, kind string, config any, params []Named, extra map[string]string, dtype safetensors.DType) error {
	entries, meta, err := prepare(kind, config, params, extra)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, entries, meta, dtype); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// Encode is Save to a writer, for producing files that are later embedded
// or sent elsewhere.
func Encode(w io.Writer, kind string, config any, params []Named, extra map[string]string, dtype safetensors.DType) error {
	entries, meta, err := prepare(kind, config, params, extra)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return safetensors.Write(w, entries, meta, dtype)
}

func prepare(kind string, config any, params []Named, extra map[string]string) ([]safetensors.Entry, map[string]string, error) {
	if kind == "" {
		return nil, nil, errors.New("empty model kind")
	}
	meta := map[string]string{KeyFormat: modelPrefix + kind, KeyVersion: Version}
	if err := addConfig(meta, config); err != nil {
		return nil, nil, err
	}
	if err := addExtra(meta, extra, modelKeys...); err != nil {
		return nil, nil, err
	}
	entries := make([]safetensors.Entry, 0, len(params))
	seen := map[string]bool{}
	for _, p := range params {
		if err := checkNamed(p, seen); err != nil {
			return nil, nil, err
		}
		entries = append(entries, safetensors.Entry{Name: p.Name, Shape: p.T.Shape, Data: p.T.Data})
	}
	return entries, meta, nil
}

func addConfig(meta map[string]string, config any) error {
	if config == nil {
		return nil
	}
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	meta[KeyConfig] = string(b)
	return nil
}

// addExtra merges the caller's metadata into meta, refusing the keys that
// the format gives a meaning to.
func addExtra(meta map[string]string, extra map[string]string, reserved ...string) error {
	for k, v := range extra {
		if slices.Contains(reserved, k) {
			return fmt.Errorf("extra metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	return nil
}

// checkNamed rejects the caller mistakes that would otherwise produce an
// unloadable file or a confusing error much later.
func checkNamed(p Named, seen map[string]bool) error {
	switch {
	case p.Name == "":
		return errors.New("parameter with an empty name")
	case p.T == nil:
		return fmt.Errorf("parameter %s is nil", p.Name)
	case seen[p.Name]:
		return fmt.Errorf("parameter name %s used twice", p.Name)
	}
	seen[p.Name] = true
	return nil
}

// Checkpoint is an opened model checkpoint whose header has been checked,
// from which the config and parameters can then be read. Opening first
// lets a caller read the config, build the model it describes, and only
// then restore the weights into it.
type Checkpoint struct {
	// Source names the file in error messages: its path, or the label
	// given to OpenBytes.
	Source string
	// Kind is the model type, the part of the format after "zoomdiff/".
	Kind string
	// Meta is the file's whole metadata map, reserved keys included.
	Meta map[string]string

	file *safetensors.File
}

// Card returns the file's model-card entries: its metadata without the
// keys every model file has (format, version, config).
func (c *Checkpoint) Card() map[string]string {
	card := map[string]string{}
	for k, v := range c.Meta {
		if !slices.Contains(modelKeys, k) {
			card[k] = v
		}
	}
	return card
}

// Open reads the model checkpoint at path.
func Open(path string) (*Checkpoint, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return newCheckpoint(path, f)
}

// OpenBytes reads a model checkpoint held in memory, such as one embedded
// with go:embed; source names it in errors.
func OpenBytes(source string, b []byte) (*Checkpoint, error) {
	f, err := safetensors.ReadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", source, err)
	}
	return newCheckpoint(source, f)
}

func newCheckpoint(source string, f *safetensors.File) (*Checkpoint, error) {
	format := f.Metadata[KeyFormat]
	if err := checkVersion(source, format, f.Metadata); err != nil {
		return nil, err
	}
	kind, ok := strings.CutPrefix(format, modelPrefix)
	if strings.HasPrefix(format, trainPrefix) {
		return nil, fmt.Errorf("checkpoint %s: is a training state (%s), not a model checkpoint", source, format)
	}
	if !ok || kind == "" {
		return nil, fmt.Errorf("checkpoint %s: format %q is not a zoomdiff model checkpoint", source, format)
	}
	return &Checkpoint{Source: source, Kind: kind, Meta: f.Metadata, file: f}, nil
}

func checkVersion(source, format string, meta map[string]string) error {
	if format == "" {
		return fmt.Errorf("checkpoint %s: no %q metadata: not a zoomdiff checkpoint", source, KeyFormat)
	}
	if v := meta[KeyVersion]; v != Version {
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			return fmt.Errorf("checkpoint %s: layout version %s is newer than this build understands (%s)", source, v, Version)
		}
		return fmt.Errorf("checkpoint %s: unsupported layout version %q (want %s)", source, v, Version)
	}
	return nil
}

// Expect returns an error unless the checkpoint holds a model of kind.
func (c *Checkpoint) Expect(kind string) error {
	if c.Kind != kind {
		return fmt.Errorf("checkpoint %s: holds a model of kind %q, expected %q", c.Source, c.Kind, kind)
	}
	return nil
}

// Config decodes the stored JSON config into v. Fields in the file that v
// does not have are an error: they mean the checkpoint was made by a
// different version of the model, whose weights may not mean what this
// code assumes.
func (c *Checkpoint) Config(v any) error { return decodeConfig(c.Source, c.Meta, v) }

func decodeConfig(source string, meta map[string]string, v any) error {
	s, ok := meta[KeyConfig]
	if !ok {
		return fmt.Errorf("checkpoint %s: no config stored", source)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("checkpoint %s: decoding config: %w", source, err)
	}
	return nil
}

// Names returns the stored parameter names in sorted order.
func (c *Checkpoint) Names() []string { return c.file.Names() }

// Restore copies the stored parameters into params. The file must hold
// exactly these names with exactly these shapes; otherwise nothing is
// copied and the error lists every mismatch.
func (c *Checkpoint) Restore(params []Named) error {
	want := make([]target, 0, len(params))
	seen := map[string]bool{}
	for _, p := range params {
		if err := checkNamed(p, seen); err != nil {
			return fmt.Errorf("checkpoint %s: %w", c.Source, err)
		}
		want = append(want, target{p.Name, p.T.Shape, p.T.Data})
	}
	return restore(c.Source, c.file, want)
}

// Load opens the model checkpoint at path, checks it is of kind, decodes
// its config into config (skipped when config is nil) and restores params.
func Load(path, kind string, config any, params []Named) error {
	c, err := Open(path)
	if err != nil {
		return err
	}
	return c.load(kind, config, params)
}

// LoadBytes is Load for a checkpoint held in memory; source names it in
// errors.
func LoadBytes(source string, b []byte, kind string, config any, params []Named) error {
	c, err := OpenBytes(source, b)
	if err != nil {
		return err
	}
	return c.load(kind, config, params)
}

func (c *Checkpoint) load(kind string, config any, params []Named) error {
	if err := c.Expect(kind); err != nil {
		return err
	}
	if config != nil {
		if err := c.Config(config); err != nil {
			return err
		}
	}
	return c.Restore(params)
}

// Build makes a model with freshly initialised weights from a config, and
// returns the parameters a file restores into; it returns an error for a
// config the model cannot be built from.
type Build[C, M any] func(C) (M, []Named, error)

// Rebuild returns the model c holds: c must be of kind, its config is
// decoded into a C and handed to build, and the weights restore into the
// parameters build returns (see Restore); any mismatch is an error naming
// the file. It is the one way every model package reads its files.
func Rebuild[C, M any](c *Checkpoint, kind string, build Build[C, M]) (M, error) {
	var zero M
	if err := c.Expect(kind); err != nil {
		return zero, err
	}
	var cfg C
	if err := c.Config(&cfg); err != nil {
		return zero, err
	}
	m, params, err := build(cfg)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", c.Source, err)
	}
	if err := c.Restore(params); err != nil {
		return zero, err
	}
	return m, nil
}

// target is one tensor a load expects, and where its values go.
type target struct {
	name  string
	shape []int
	dst   []float32
}

// maxListed bounds the mismatches spelled out in one error: a wrong model
// can mismatch hundreds of layers and the first few tell the story.
const maxListed = 20

// restore checks f against want and only if everything matches copies the
// values, so a failed load leaves the destination untouched.
func restore(source string, f *safetensors.File, want []target) error {
	if err := verify(source, f, want); err != nil {
		return err
	}
	fill(f, want)
	return nil
}

// fill copies the stored values into want's buffers; verify must have
// accepted f first.
func fill(f *safetensors.File, want []target) {
	for _, t := range want {
		e, _ := f.Get(t.name)
		copy(t.dst, e.Data)
	}
}

// verify reports every way f differs from want: missing names, unexpected
// names and shape mismatches.
func verify(source string, f *safetensors.File, want []target) error {
	var problems []string
	expected := map[string]bool{}
	for _, t := range want {
		expected[t.name] = true
		e, ok := f.Get(t.name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("layer %s is missing (model expects shape %v)", t.name, t.shape))
		case !tensor.SameShape(e.Shape, t.shape):
			problems = append(problems, fmt.Sprintf("layer %s has shape %v, model expects %v", t.name, e.Shape, t.shape))
		case len(e.Data) != len(t.dst):
			// Shape agrees but the tensor's buffer does not: the model's
			// tensor is malformed, not the file.
			problems = append(problems, fmt.Sprintf("layer %s: model tensor has %d values for shape %v", t.name, len(t.dst), t.shape))
		}
	}
	for _, name := range f.Names() {
		if !expected[name] {
			e, _ := f.Get(name)
			problems = append(problems, fmt.Sprintf("layer %s (shape %v) is not in the model", name, e.Shape))
		}
	}
	if len(problems) > 0 {
		return mismatchError(source, problems)
	}
	return nil
}

func mismatchError(source string, problems []string) error {
	if len(problems) == 1 {
		return fmt.Errorf("checkpoint %s: %s", source, problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint %s: %d mismatches with the model:", source, len(problems))
	for i, p := range problems {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  … and %d more", len(problems)-maxListed)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return errors.New(b.String())
}
