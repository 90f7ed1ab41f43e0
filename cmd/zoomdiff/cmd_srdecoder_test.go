package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/models"
)

func TestSRDecoderCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "sr.safetensors")
	// The built-in SR model embeds builtin:ae, so its decoder goes in as is.
	if err := runSRDecoder([]string{"--ae", "builtin:ae", "-o", out, "--card", "note=test"}); err != nil {
		t.Fatal(err)
	}
	s, err := diffusion.LoadSR(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := models.Open(out)
	if err != nil || c.Meta["note"] != "test" || c.Meta["stage"] == "" {
		t.Errorf("card of the written file: %v, %v", c.Meta, err)
	}
	ae, _ := models.AutoEncoder("")
	if len(s.AE.DecoderParams()) != len(ae.DecoderParams()) {
		t.Fatal("decoder tensors differ in number")
	}
	// A fresh auto-encoder of the same shape has another encoder.
	fresh, err := autoencoder.New(ae.Config, 5)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "ae.safetensors")
	if err := fresh.Save(other, true, nil); err != nil {
		t.Fatal(err)
	}
	if err := runSRDecoder([]string{"--ae", other, "-o", filepath.Join(dir, "x.safetensors")}); err == nil || !strings.Contains(err.Error(), "encoder weight") {
		t.Errorf("another encoder: %v", err)
	}
	if err := runSRDecoder([]string{"-o", out}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no --ae: %v", err)
	}
}
