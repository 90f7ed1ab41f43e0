package models

import (
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

func TestBuiltinAutoEncoderReconstructs(t *testing.T) {
	m, err := AutoEncoder("")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config.GlobalSkip || m.Config.Factor() != 4 {
		t.Fatalf("unexpected built-in config %+v", m.Config)
	}
	// A smooth synthetic image with a sharp-edged block: a trained model
	// must keep the detail that resampling through the latent loses.
	const n = 32
	x := tensor.New(1, n, n, 3)
	for y := 0; y < n; y++ {
		for xx := 0; xx < n; xx++ {
			for c := 0; c < 3; c++ {
				v := 0.5 + 0.3*math.Sin(0.3*float64(xx)+float64(c)) + 0.15*math.Cos(0.2*float64(y))
				if xx > 20 && y < 12 {
					v = 0.1
				}
				x.Data[(y*n+xx)*3+c] = float32(v)
			}
		}
	}
	roundTrip := func(m *autoencoder.Model) float64 {
		d, err := m.NewDecoder(m.Encode(nil, x))
		if err != nil {
			t.Fatal(err)
		}
		out := d.Render(n, n)
		var se float64
		for i, v := range out {
			diff := float64(min(max(v, 0), 1) - x.Data[i])
			se += diff * diff
		}
		return 10 * math.Log10(float64(len(out))/se)
	}
	// The same architecture untrained is exactly area-down + bicubic-up.
	fresh, err := autoencoder.New(m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, base := roundTrip(m), roundTrip(fresh)
	t.Logf("synthetic 32×32 round trip: built-in %.1f dB, untrained (resampling only) %.1f dB", got, base)
	if got < base+3 {
		t.Errorf("built-in AE %.1f dB, resampling alone %.1f dB: want 3 dB better", got, base)
	}
}

func TestFind(t *testing.T) {
	if _, ok := Find("builtin:nope"); ok {
		t.Fatal("found a model that does not exist")
	}
	for _, b := range List() {
		c, err := Open(b.Name)
		if err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
		if c.Kind != autoencoder.Kind {
			t.Errorf("%s: kind %q", b.Name, c.Kind)
		}
	}
	if _, err := AutoEncoder("/does/not/exist.safetensors"); err == nil {
		t.Fatal("a missing file loaded")
	}
}
