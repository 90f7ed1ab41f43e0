package diffusion

import (
	"context"
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

func TestParseSampleOptions(t *testing.T) {
	o, err := ParseSampleOptions(map[string]string{"sampler": "ddpm", "steps": "25", "eta": "0.5", "seed": "9", "tile": "32", "overlap": "8", "strength": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Sampler != "ddpm" || o.Steps != 25 || o.Eta != 0.5 || o.Seed != 9 || o.Tile != 32 || o.Overlap != 8 || o.Strength != 0.5 {
		t.Fatalf("parsed %+v", o)
	}
	for _, bad := range []map[string]string{{"steps": "x"}, {"eta": "NaN"}, {"seed": "-1"}, {"stpes": "5"}} {
		if _, err := ParseSampleOptions(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestValidateAndDenoiseLoss(t *testing.T) {
	s := tinySR(t, 10)
	imgs := []*imageio.Image{synthImage(40, 36, 1), synthImage(30, 50, 2), synthImage(3, 3, 3)}
	r, err := s.Validate(context.Background(), imgs, 32, SampleOptions{Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The 3×3 image is too small for ×4 and is skipped.
	if r.Images != 2 || math.IsNaN(r.PSNRY) || !(r.BicubicPSNRY > 10) {
		t.Fatalf("validation %+v", r)
	}
	t.Log(r)
	l1, err := s.DenoiseLoss(synthSet(3, 40, 4), 6, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := s.DenoiseLoss(synthSet(3, 40, 4), 6, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || !(l1 > 0) {
		t.Fatalf("denoise loss %g then %g: want the same positive number", l1, l2)
	}
	if _, err := s.DenoiseLoss(synthSet(1, 40, 4), 2, 15, 1); err == nil {
		t.Error("crop 15 accepted")
	}
}

func TestUpscalerAndOptions(t *testing.T) {
	s := tinySR(t, 11)
	opt, err := ParseSampleOptions(map[string]string{"steps": "2", "seed": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckOptions(opt); err != nil {
		t.Fatal(err)
	}
	u := &Upscaler{SR: s, Opt: opt}
	out, err := u.Upscale(context.Background(), synthImage(6, 6, 5), 17, 15)
	if err != nil {
		t.Fatal(err)
	}
	if out.W != 17 || out.H != 15 || u.Name() != "model" {
		t.Fatalf("%s gave %dx%d", u.Name(), out.W, out.H)
	}
	if _, err := ParseSampleOptions(map[string]string{"bogus": "1"}); err == nil {
		t.Error("unknown parameter accepted")
	}
	for _, p := range []map[string]string{{"steps": "5000"}, {"eta": "-1"}, {"sampler": "euler"}, {"strength": "2"}} {
		o, err := ParseSampleOptions(p)
		if err == nil {
			err = s.CheckOptions(o)
		}
		if err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
