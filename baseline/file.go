package baseline

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
)

// Save writes a baseline model file atomically: its kind, its config as
// JSON, its parameters (float16 when half is set, for a model used only
// for inference) and card, free-form metadata.
func Save(path, kind string, config any, params []checkpoint.Named, half bool, card map[string]string) error {
	dt := safetensors.F32
	if half {
		dt = safetensors.F16
	}
	return checkpoint.Save(path, kind, config, params, card, dt)
}

// Open returns the model named by model: freshly initialised weights of
// the default architecture def for "random:KIND" (see RandomPrefix), else
// the model file at that path, which must be of kind, whose config build
// must accept, and whose weights must match the parameters exactly
// (checkpoint.Restore); any mismatch is an error naming the file.
func Open[C, M any](model, kind string, def C, build checkpoint.Build[C, M]) (M, error) {
	var zero M
	random, err := IsRandom(model, kind)
	switch {
	case err != nil:
		return zero, err
	case random:
		m, _, err := build(def)
		return m, err
	case model == "":
		return zero, fmt.Errorf("no %s model file given (--model FILE; %s%s for untrained weights, for timings only)", kind, RandomPrefix, kind)
	}
	c, err := checkpoint.Open(model)
	if err != nil {
		return zero, err
	}
	return checkpoint.Rebuild(c, kind, build)
}
