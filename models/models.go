// Package models holds the trained models that ship inside the zoomdiff
// binary (go:embed), so the tools work on a fresh machine with no
// download. README.md in this folder is their model card.
package models

import (
	_ "embed"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
)

//go:embed ae.safetensors
var aeFile []byte

// Builtin is one embedded model file.
type Builtin struct {
	Name    string // what --model accepts for it: "builtin:NAME"
	Summary string
	Data    []byte
}

// List returns the embedded models.
func List() []Builtin {
	return []Builtin{
		{Name: "builtin:ae", Summary: "stage 1: encoder (f = 4, 16 latent channels) + implicit decoder, trained on the photo folders", Data: aeFile},
	}
}

// Find returns the embedded model called name, or false.
func Find(name string) (Builtin, bool) {
	for _, b := range List() {
		if b.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// Open reads a model's metadata (kind, config, card) from the file at
// path or, for a "builtin:" name, from the embedded copy.
func Open(path string) (*checkpoint.Checkpoint, error) {
	if b, ok := Find(path); ok {
		return checkpoint.OpenBytes(b.Name, b.Data)
	}
	return checkpoint.Open(path)
}

// AutoEncoder loads a stage-1 model from a file or a "builtin:" name; ""
// means the default, builtin:ae.
func AutoEncoder(path string) (*autoencoder.Model, error) {
	if path == "" {
		path = "builtin:ae"
	}
	if b, ok := Find(path); ok {
		return autoencoder.LoadBytes(b.Name, b.Data)
	}
	return autoencoder.Load(path)
}
