// Package models holds the trained models that ship inside the zoomdiff
// binary (go:embed), so the tools work on a fresh machine with no
// download. README.md in this folder is their model card.
package models

import (
	_ "embed"
	"fmt"
	"maps"
	"strings"

	"github.com/zoomdiff/zoomdiff/autoencoder"
	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/render"
)

var (
	//go:embed ae.safetensors
	aeFile []byte
	//go:embed sr.safetensors
	srFile []byte
	//go:embed gen.safetensors
	genFile []byte
	//go:embed real.safetensors
	realFile []byte
	//go:embed student.safetensors
	studentFile []byte
	//go:embed real-student.safetensors
	realStudentFile []byte
	//go:embed cond.safetensors
	condFile []byte
)

// Builtin is one embedded model file.
type Builtin struct {
	Name    string // what --model accepts for it: "builtin:NAME"
	Summary string
	Data    []byte
	// Student names the built-in few-step student distilled from this
	// model, if any: SRMethod samples with it where it serves the steps.
	Student string
}

// List returns the embedded models.
func List() []Builtin {
	return []Builtin{
		{Name: "builtin:ae", Summary: "stage 1: encoder (f = 4, 16 latent channels) + implicit decoder, trained on the photo folders", Data: aeFile},
		{Name: "builtin:sr", Summary: "stages 2-3: latent diffusion SR (x4 training pairs, v-prediction, alignment fine-tuned) with builtin:ae inside; renders any scale", Data: srFile, Student: "builtin:student"},
		{Name: "builtin:student", Summary: "builtin:sr distilled for 4, 2 and 1 DDIM steps (regression on its 10-step DPM-Solver answers); the default model samples with it in 2 steps (--steps 4 or 1 too)", Data: studentFile},
		{Name: "builtin:real", Summary: "builtin:sr fine-tuned on real-photo inputs (blur, resize, noise, JPEG: package degrade); for photos and web images rather than clean bicubic-shrunk ones", Data: realFile, Student: "builtin:real-student"},
		{Name: "builtin:real-student", Summary: "builtin:real distilled for 4, 2 and 1 DDIM steps (regression on its 10-step DPM-Solver answers for degraded inputs); --model real samples with it in 2 steps (--steps 4 or 1 too)", Data: realStudentFile},
		{Name: "builtin:cond", Summary: "condition network: computes the condition of builtin:sr, student, real and real-student at the input's size, 15x faster than their encoder (--param exact-condition=true: the encoder)", Data: condFile},
		{Name: "builtin:gen", Summary: "generation from noise: class-conditional latent diffusion over builtin:ae's 8x8 latents of CIFAR-10 (32x32, 10 classes), v-prediction, classifier-free guidance; renders any size", Data: genFile},
	}
}

// Find returns the embedded model called name ("builtin:real", or just
// "real"), or false. A built-in name wins over a file of that name in the
// working directory; model files are named NAME.safetensors.
func Find(name string) (Builtin, bool) {
	for _, b := range List() {
		if b.Name == name || b.Name == "builtin:"+name {
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
	return load(path, "builtin:ae", autoencoder.LoadBytes, autoencoder.Load)
}

// SR loads a super-resolution model from a file or a "builtin:" name; ""
// means the default, builtin:sr.
//
// A model in builtin:cond's condition space (every built-in SR model, and
// a model trained from one with its encoder frozen) computes its sampling
// condition with that network (diffusion.CondNet).
func SR(path string) (*diffusion.SR, error) {
	s, err := load(path, "builtin:sr", diffusion.LoadSRBytes, diffusion.LoadSR)
	if err != nil {
		return nil, err
	}
	n, err := CondNet("")
	if err != nil {
		return nil, err
	}
	if s.CheckCondNet(n) == nil {
		s.Cond = n
	}
	return s, nil
}

// CondNet loads a condition network from a file or a "builtin:" name; ""
// means the default, builtin:cond.
func CondNet(path string) (*diffusion.CondNet, error) {
	return load(path, "builtin:cond", diffusion.LoadCondNetBytes, diffusion.LoadCondNet)
}

// Generator loads a generation model from a
// file or a "builtin:" name; "" means the default, builtin:gen.
func Generator(path string) (*diffusion.Generator, error) {
	return load(path, "builtin:gen", diffusion.LoadGeneratorBytes, func(path string) (*diffusion.Generator, error) {
		if strings.HasPrefix(path, "builtin:") {
			return nil, fmt.Errorf("no built-in model %q (`zoomdiff models` lists them)", path)
		}
		return diffusion.LoadGenerator(path)
	})
}

// load is what the loaders above share: path, or def when path is "", is
// read from the embedded copy when it names a built-in model (fromBytes)
// and from the file otherwise (fromFile).
func load[M any](path, def string, fromBytes func(name string, data []byte) (M, error), fromFile func(path string) (M, error)) (M, error) {
	if path == "" {
		path = def
	}
	if b, ok := Find(path); ok {
		return fromBytes(b.Name, b.Data)
	}
	return fromFile(path)
}

// SamplerAuto, as the sampler param (or no sampler param at all), lets
// SRMethod choose: DDIM on a student, a built-in model's student where it
// serves the steps asked for (and η = 0, from pure noise), and
// diffusion.DefaultSRSampler otherwise. Without a steps param a student
// samples in diffusion.DefaultStudentSteps and any other model in
// diffusion.DefaultSRSteps, so the default model's default is its
// student's two steps.
const SamplerAuto = "auto"

// StepsHelp says what the steps setting does with the built-in SR
// models, for the front ends' help (upscale --steps, the web page).
func StepsHelp() string {
	return fmt.Sprintf("%d, 1 or 4 sample the built-in model's distilled student (the default, %d); any other count the full model (%d: about 3x slower, about 0.05-0.1 dB higher on clean photos, the same on textured ones)",
		diffusion.DefaultStudentSteps, diffusion.DefaultStudentSteps, diffusion.DefaultSRSteps)
}

// SRMethod opens an SR model (a file or a "builtin:" name; "" means
// fallback) as a render.Method, a *diffusion.Upscaler, with the sampling
// params (see
// diffusion.ParseSampleOptions and SamplerAuto). condition names the
// condition network the model samples with (a file or a "builtin:" name,
// refused unless trained for the model's condition space); "" leaves the
// model as SR loads it. The "model" method is SRMethod with builtin:sr,
// "real" with builtin:real.
func SRMethod(model, fallback, condition string, params map[string]string) (render.Method, error) {
	auto := params["sampler"] == "" || params["sampler"] == SamplerAuto
	_, stepsGiven := params["steps"]
	if auto {
		params = maps.Clone(params)
		delete(params, "sampler")
	}
	opt, err := diffusion.ParseSampleOptions(diffusion.DefaultSampleOptions(), params)
	if err != nil {
		return nil, err
	}
	var s *diffusion.SR
	if model == "" {
		model = fallback
	}
	// A built-in model named either way ("", "real", "builtin:sr") samples
	// with its student where that serves; a file is taken as it is.
	if b, ok := Find(model); ok && auto && b.Student != "" && opt.Eta == 0 && opt.Strength == 0 {
		st, err := SR(b.Student)
		if err != nil {
			return nil, err
		}
		if !stepsGiven || st.StudentFor(opt.Steps) {
			model, s = b.Student, st
		}
	}
	if s == nil {
		if s, err = SR(model); err != nil {
			return nil, err
		}
	}
	if condition != "" {
		n, err := CondNet(condition)
		if err != nil {
			return nil, err
		}
		if err := s.SetCondNet(n); err != nil {
			return nil, fmt.Errorf("%s with %s: %w", model, condition, err)
		}
	}
	// Then over the chosen model's own defaults (window; DDIM and its step
	// count for a student), where the params leave them open.
	if opt, err = diffusion.ParseSampleOptions(s.Config.SampleOptions(), params); err != nil {
		return nil, err
	}
	if err := s.CheckOptions(opt); err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	return &diffusion.Upscaler{SR: s, Opt: opt}, nil
}
