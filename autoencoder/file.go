package autoencoder

import (
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
)

// Kind identifies auto-encoder model files.
const Kind = "autoencoder"

// Save writes the model's weights and config to path (atomically), in
// float16 when half is set. card is free-form text stored in the metadata.
func (m *Model) Save(path string, half bool, card map[string]string) error {
	dt := safetensors.F32
	if half {
		dt = safetensors.F16
	}
	return checkpoint.Save(path, Kind, m.Config, m.Params.List(), card, dt)
}

// Load reads a model file written by Save.
func Load(path string) (*Model, error) {
	c, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	return fromCheckpoint(c)
}

// LoadBytes reads a model from memory (an embedded file); source names it
// in errors.
func LoadBytes(source string, b []byte) (*Model, error) {
	c, err := checkpoint.OpenBytes(source, b)
	if err != nil {
		return nil, err
	}
	return fromCheckpoint(c)
}

func fromCheckpoint(c *checkpoint.Checkpoint) (*Model, error) {
	return checkpoint.Rebuild(c, Kind, func(cfg Config) (*Model, []checkpoint.Named, error) {
		m, err := New(cfg, 0)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Params.List(), nil
	})
}
