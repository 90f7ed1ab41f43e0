// Package evaluate runs the super-resolution benchmark protocol and holds
// the registry of upscaling methods that the CLI and the protocol share.
//
// A method is anything that implements render.Method. The resampling
// kernels register themselves here; the diffusion model registers as
// "model" from its own package, so the CLI and the benchmark never need to
// know which methods exist.
package evaluate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// Options configures a method when it is created.
type Options struct {
	// Model is the path of the method's weights, for learned methods.
	Model string
	// Params holds method-specific settings as name=value strings (e.g.
	// steps, seed), so new methods need no change here or in the CLI.
	Params map[string]string
}

// Factory builds a method from Options.
type Factory func(Options) (render.Method, error)

// MethodInfo describes a registered method.
type MethodInfo struct {
	Name    string // what --method accepts
	Summary string // one line for help texts
}

var registry = struct {
	sync.Mutex
	m map[string]registered
}{m: map[string]registered{}}

type registered struct {
	summary string
	f       Factory
}

// Register adds a method under name (lower case). It panics if the name is
// taken: two packages claiming one name is a build mistake, not a runtime
// condition.
func Register(name, summary string, f Factory) {
	registry.Lock()
	defer registry.Unlock()
	name = strings.ToLower(name)
	if _, dup := registry.m[name]; dup {
		panic("evaluate: method registered twice: " + name)
	}
	registry.m[name] = registered{summary, f}
}

// New creates the method registered as name.
func New(name string, opts Options) (render.Method, error) {
	registry.Lock()
	r, ok := registry.m[strings.ToLower(name)]
	registry.Unlock()
	if !ok {
		var names []string
		for _, m := range Methods() {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("unknown method %q (available: %s)", name, strings.Join(names, ", "))
	}
	u, err := r.f(opts)
	if err != nil {
		return nil, fmt.Errorf("method %s: %w", name, err)
	}
	return u, nil
}

// Methods lists the registered methods by name.
func Methods() []MethodInfo {
	registry.Lock()
	defer registry.Unlock()
	out := make([]MethodInfo, 0, len(registry.m))
	for n, r := range registry.m {
		out = append(out, MethodInfo{n, r.summary})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Resampler is the render.Method (and render.Kernel) of a plain
// resampling kernel.
type Resampler struct {
	Method resample.Method // the kernel
}

// Kernel returns the kernel, so that render.Prepare can build its weights
// for a requested scale.
func (r Resampler) Kernel() resample.Method { return r.Method }

// Name returns the kernel's name, e.g. "bicubic".
func (r Resampler) Name() string { return r.Method.String() }

// Upscale resizes lr to w×h. The kernel scale is the size ratio, as
// imresize(lr, [h w]) uses; the benchmark's integer scales make that exactly
// the scale factor.
func (r Resampler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return resample.Image(lr, w, h, resample.Options{Method: r.Method})
}

func init() {
	summaries := map[resample.Method]string{
		resample.Bicubic:  "MATLAB-compatible bicubic (the benchmark baseline)",
		resample.Bilinear: "bilinear (triangle kernel)",
		resample.Nearest:  "nearest neighbour",
		resample.Lanczos3: "Lanczos-3 windowed sinc",
		resample.Area:     "area average when shrinking, pixel repetition when enlarging",
	}
	for m, s := range summaries {
		Register(m.String(), s, func(Options) (render.Method, error) { return Resampler{m}, nil })
	}
}
