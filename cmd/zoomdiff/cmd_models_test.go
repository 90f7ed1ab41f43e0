package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelsCommand(t *testing.T) {
	out, err := captureStdout(t, func() error { return runModels([]string{"--json"}) })
	if err != nil {
		t.Fatal(err)
	}
	var infos []modelInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("models --json: %v\n%s", err, out)
	}
	if len(infos) == 0 || infos[0].Name != "builtin:ae" || infos[0].Kind != "autoencoder" || infos[0].Bytes < 1e5 {
		t.Fatalf("models --json: %+v", infos)
	}
	var cfg struct {
		LatentChannels int `json:"latent_channels"`
	}
	if err := json.Unmarshal(infos[0].Config, &cfg); err != nil || cfg.LatentChannels < 3 {
		t.Fatalf("built-in config %s: %v", infos[0].Config, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if _, err := captureStdout(t, func() error { return runModels([]string{bad}) }); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Fatalf("a corrupt file: error %v, want one naming it", err)
	}
	// Named, a built-in model is listed alone, beside the files named.
	out, err = captureStdout(t, func() error { return runModels([]string{"--json", "builtin:student", "../../models/gen.safetensors"}) })
	infos = nil
	if err != nil || json.Unmarshal([]byte(out), &infos) != nil || len(infos) != 2 || infos[0].Name != "builtin:student" || infos[1].Kind != "gen" {
		t.Fatalf("models builtin:student FILE: %v %+v", err, infos)
	}
	if _, err := captureStdout(t, func() error { return runModels([]string{"nosuch"}) }); err == nil || !strings.Contains(err.Error(), "neither a built-in model (builtin:ae") {
		t.Errorf("an unknown name: %v, want one listing the built-in models", err)
	}
	// A file named twice, under any path, would be listed twice.
	gen := "../../models/gen.safetensors"
	if _, err := captureStdout(t, func() error { return runModels([]string{gen, "../zoomdiff/" + gen}) }); err == nil || !strings.Contains(err.Error(), "are the same file") {
		t.Errorf("a file named twice: %v, want a refusal", err)
	}
}
