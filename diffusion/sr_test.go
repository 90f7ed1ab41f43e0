package diffusion

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	s := tinySR(t, 1)
	dir := t.TempDir()
	lr := synthImage(6, 5, 1)
	opt := withOpts(func(o *SampleOptions) { o.Steps, o.Eta, o.Seed = 3, 0.5, 7 })
	want, err := s.Upscale(context.Background(), lr, 13, 11, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, half := range []bool{false, true} {
		path := filepath.Join(dir, "sr.safetensors")
		if err := s.Save(path, half, map[string]string{"note": "test"}); err != nil {
			t.Fatal(err)
		}
		got, err := LoadSR(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config.Scale != 4 || got.Config.LatentScale[3] != 20 || got.Config.UNet.ModelCh != 8 {
			t.Fatalf("config not restored: %+v", got.Config)
		}
		// The auto-encoder came back from the same file, frozen.
		for _, p := range got.AE.Params.List() {
			if p.T.RequiresGrad() {
				t.Fatalf("loaded auto-encoder parameter %s is trainable", p.Name)
			}
		}
		out, err := got.Upscale(context.Background(), lr, 13, 11, opt)
		if err != nil {
			t.Fatal(err)
		}
		tol := float32(0)
		if half {
			tol = 0.02 // float16 weights
		}
		for i, v := range out[0].Pix {
			if d := v - want[0].Pix[i]; d > tol || d < -tol {
				t.Fatalf("half=%v: pixel value %d: %g after reload, %g before", half, i, v, want[0].Pix[i])
			}
		}
	}
}

func TestBadModelFiles(t *testing.T) {
	s := tinySR(t, 2)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := s.Save(good, false, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	aePath := filepath.Join(dir, "ae.safetensors")
	if err := s.AE.Save(aePath, false, nil); err != nil {
		t.Fatal(err)
	}
	// A file whose config describes a wider U-Net than its weights.
	wide := s.Config
	wide.UNet.ModelCh = 16
	var wideBuf bytes.Buffer
	if err := checkpoint.Encode(&wideBuf, Kind, wide, s.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	// A config that fails validation (scale not a multiple of the factor).
	odd := s.Config
	odd.Scale = 6
	var oddBuf bytes.Buffer
	if err := checkpoint.Encode(&oddBuf, Kind, odd, s.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	// A hostile config asking for an enormous network.
	huge := s.Config
	huge.UNet.ModelCh = 1 << 20
	var hugeBuf bytes.Buffer
	if err := checkpoint.Encode(&hugeBuf, Kind, huge, s.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	hugeAE := s.Config
	hugeAE.AE.Channels = 1 << 20
	var hugeAEBuf bytes.Buffer
	if err := checkpoint.Encode(&hugeAEBuf, Kind, hugeAE, s.Named(), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	// Weights without the embedded auto-encoder.
	var noAE bytes.Buffer
	if err := checkpoint.Encode(&noAE, Kind, s.Config, s.Named()[:len(s.UNet.Params.List())], nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":          raw[:len(raw)/2],
		"garbage":            []byte("this is not a safetensors file at all"),
		"empty":              nil,
		"mismatched config":  wideBuf.Bytes(),
		"invalid config":     oddBuf.Bytes(),
		"huge unet":          hugeBuf.Bytes(),
		"huge ae":            hugeAEBuf.Bytes(),
		"missing ae weights": noAE.Bytes(),
	}
	for name, b := range cases {
		if _, err := LoadSRBytes(name, b); err == nil {
			t.Errorf("%s: loaded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := LoadSR(aePath); err == nil || !strings.Contains(err.Error(), "autoencoder") {
		t.Errorf("auto-encoder file as SR model: %v", err)
	}
	if _, err := LoadSR(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file loaded")
	}
}

// TestSetDecoder swaps in the decoder of an auto-encoder with the same
// encoder: the rendering changes to the new decoder's and the latents do
// not; an auto-encoder with another encoder is refused.
func TestSetDecoder(t *testing.T) {
	s := tinySR(t, 3)
	lr := synthImage(8, 8, 1)
	opt := withOpts(func(o *SampleOptions) { o.Steps, o.Seed, o.Consistency = 2, 1, 0 }) // back-projection decodes, so it would differ
	before, err := s.Latents(context.Background(), lr, opt)
	if err != nil {
		t.Fatal(err)
	}
	other := tinyAE(t, 3) // the same weights as s.AE ...
	perturb(other.Params, 99, 0.05)
	for _, p := range s.AE.Params.List() { // ... then the encoder copied back
		if strings.HasPrefix(p.Name, "enc.") {
			for _, q := range other.Params.List() {
				if q.Name == p.Name {
					copy(q.T.Data, p.T.Data)
				}
			}
		}
	}
	if err := s.SetDecoder(other); err != nil {
		t.Fatal(err)
	}
	after, err := s.Latents(context.Background(), lr, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !sameLatents(before, after) {
		t.Error("the latents changed with the decoder")
	}
	for i, p := range s.AE.Params.List() {
		q := other.Params.List()[i]
		for j := range p.T.Data {
			if p.T.Data[j] != q.T.Data[j] {
				t.Fatalf("%s not taken from the new auto-encoder", p.Name)
			}
		}
	}
	if err := s.SetDecoder(tinyAE(t, 4)); err == nil || !strings.Contains(err.Error(), "encoder weight") {
		t.Errorf("an auto-encoder with another encoder: %v", err)
	}
}

// withOpts is DefaultSampleOptions changed by set (nil: unchanged), so a
// test names only what it changes.
func withOpts(set func(o *SampleOptions)) SampleOptions {
	o := DefaultSampleOptions()
	if set != nil {
		set(&o)
	}
	return o
}
