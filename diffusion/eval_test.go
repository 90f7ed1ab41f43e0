package diffusion

import (
	"context"
	"math"
	"testing"

	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
)

func TestParseSampleOptions(t *testing.T) {
	o, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"sampler": "ddpm", "steps": "25", "eta": "0.5", "seed": "9", "tile": "32", "overlap": "8", "strength": "0.5", "detail": "6"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Sampler != "ddpm" || o.Steps != 25 || o.Eta != 0.5 || o.Seed != 9 || o.Tile != 32 || o.Overlap != 8 || o.Strength != 0.5 || o.Detail != 6 {
		t.Fatalf("parsed %+v", o)
	}
	for _, bad := range []map[string]string{{"steps": "x"}, {"eta": "NaN"}, {"seed": "-1"}, {"stpes": "5"}, {"temperature": "warm"}, {"detail": "fine"}} {
		if _, err := ParseSampleOptions(DefaultSampleOptions(), bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// An explicit temperature of 0 means no noise; auto is the default
	// by scale, whatever the base held.
	for v, want := range map[string]float64{"0": 0, "auto": TemperatureByScale, "0.5": 0.5} {
		if o, err := ParseSampleOptions(withOpts(func(o *SampleOptions) { o.Temperature = 0.3 }), map[string]string{"temperature": v}); err != nil || o.Temperature != want {
			t.Errorf("temperature=%s parsed as %v (%v), want %v", v, o.Temperature, err, want)
		}
	}
	// Zero is zero: no back-projection, no margin; what is not named keeps
	// the base's value.
	if o, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"consistency": "0", "margin": "0"}); err != nil || o.Consistency != 0 || o.Margin != 0 || o.Steps != DefaultSRSteps {
		t.Errorf("consistency=0 margin=0 parsed as %+v (%v), want none and the default steps", o, err)
	}
}

// The default temperature is 0.9 up to ×4, 0.817 at ×8 and 0.7 from ×12,
// linear in log scale between; Stream applies it.
func TestTemperatureFor(t *testing.T) {
	for _, c := range []struct{ s, want float64 }{{1, 0.9}, {4, 0.9}, {6, 0.9 - 0.083*math.Log(1.5)/math.Log(2)}, {8, 0.817},
		{10, 0.817 - 0.117*math.Log(1.25)/math.Log(1.5)}, {12, 0.7}, {200, 0.7}} {
		if got := TemperatureFor(c.s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("TemperatureFor(%v) = %v, want %v", c.s, got, c.want)
		}
	}
	s := tinySR(t, 3)
	lr := synthImage(8, 6, 4)
	up := func(tau float64) []float32 {
		out, err := s.Upscale(context.Background(), lr, 96, 72, withOpts(func(o *SampleOptions) { o.Steps, o.Seed, o.Temperature = 3, 2, tau }))
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Pix
	}
	auto, at12, at09 := up(TemperatureByScale), up(TemperatureFor(12)), up(0.9)
	for i := range auto {
		if auto[i] != at12[i] {
			t.Fatalf("the default at ×12 is not TemperatureFor(12) (value %d: %v, %v)", i, auto[i], at12[i])
		}
	}
	same := true
	for i := range auto {
		same = same && auto[i] == at09[i]
	}
	if same {
		t.Error("the default at ×12 draws what τ = 0.9 draws")
	}
}

func TestValidateAndDenoiseLoss(t *testing.T) {
	s := tinySR(t, 10)
	imgs := []*imageio.Image{synthImage(40, 36, 1), synthImage(30, 50, 2), synthImage(3, 3, 3)}
	r, err := evaluate.ValidateCrops(context.Background(), &Upscaler{SR: s, Opt: withOpts(func(o *SampleOptions) { o.Steps = 2 })}, imgs, 4, 32)
	if err != nil {
		t.Fatal(err)
	}
	// The 3×3 image is too small for ×4 and is skipped.
	if r.Crops != 2 || math.IsNaN(r.PSNRY) || !(r.BicubicPSNRY > 10) {
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
	opt, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"steps": "2", "seed": "3"})
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
	if _, err := ParseSampleOptions(DefaultSampleOptions(), map[string]string{"bogus": "1"}); err == nil {
		t.Error("unknown parameter accepted")
	}
	for _, p := range []map[string]string{{"steps": "5000"}, {"eta": "-1"}, {"sampler": "euler"}, {"strength": "2"}} {
		o, err := ParseSampleOptions(DefaultSampleOptions(), p)
		if err == nil {
			err = s.CheckOptions(o)
		}
		if err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}

// Each kind of model starts from its own defaults: a generator those of
// generate (its sampler, steps, τ = 1 and the model's guidance), so that
// zoom --seed draws the sample generate draws; the real-photo model its
// window; a student its DDIM steps.
func TestConfigSampleOptions(t *testing.T) {
	if got, want := (Config{Generator: true}).SampleOptions(), DefaultGenSampleOptions(); got.Sampler != want.Sampler ||
		got.Steps != want.Steps || got.Temperature != want.Temperature || got.Guidance != GuidanceByModel {
		t.Errorf("generator: %+v, want %+v", got, want)
	}
	if got := (Config{}).SampleOptions(); got.Sampler != DefaultSRSampler || got.Steps != DefaultSRSteps || got.Tile != DefaultTile || got.Guidance != 0 {
		t.Errorf("SR model: %+v", got)
	}
	if got := (Config{Degradation: DegradeReal}).SampleOptions(); got.Tile != realTile || got.Overlap != realTile/4 {
		t.Errorf("real-photo model: window %d/%d, want %d/%d", got.Tile, got.Overlap, realTile, realTile/4)
	}
	if got := (Config{Student: 4}).SampleOptions(); got.Sampler != SamplerDDIM || got.Steps != DefaultStudentSteps {
		t.Errorf("student: %s in %d steps", got.Sampler, got.Steps)
	}
}
