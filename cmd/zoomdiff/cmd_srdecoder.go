package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/zoomdiff/zoomdiff/models"
)

// runSRDecoder writes a copy of an SR model whose embedded auto-encoder
// has another decoder. The encoders must match weight for weight, so the
// U-Net's latents keep their meaning; the card is the SR file's, with the
// --card entries added.
func runSRDecoder(args []string) error {
	fs := flag.NewFlagSet("sr-decoder", flag.ContinueOnError)
	model := fs.String("model", "", "SR model to copy (default builtin:sr)")
	ae := fs.String("ae", "", "auto-encoder whose decoder to use (required; its encoder must be the SR model's)")
	out := fs.String("o", "", "model file to write (required)")
	card := paramFlags{}
	fs.Var(card, "card", "model-card entry KEY=VALUE to add or replace (repeatable)")
	half := fs.Bool("f16", true, "store the model file in float16")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *ae == "" || *out == "" || fs.NArg() != 0 {
		return errors.New("usage: zoomdiff sr-decoder [--model SR] --ae AE -o OUT [--card KEY=VALUE ...]")
	}
	s, err := models.SR(*model)
	if err != nil {
		return err
	}
	a, err := models.AutoEncoder(*ae)
	if err != nil {
		return err
	}
	if err := s.SetDecoder(a); err != nil {
		return fmt.Errorf("%s into %s: %w", *ae, modelName(*model), err)
	}
	meta, err := models.Open(modelName(*model))
	if err != nil {
		return err
	}
	entries := meta.Card()
	for k, v := range card {
		entries[k] = v
	}
	if err := s.Save(*out, *half, entries); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s with the decoder of %s\n", *out, modelName(*model), *ae)
	return nil
}

// modelName is the SR model a --model value names ("" is the built-in one).
func modelName(path string) string {
	if path == "" {
		return "builtin:sr"
	}
	return path
}
