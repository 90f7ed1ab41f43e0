package render

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/resample"
)

func TestTargetSize(t *testing.T) {
	for _, c := range []struct {
		scale float64
		size  string
		w, h  int
	}{
		{2, "", 200, 100}, {1.7, "", 170, 85}, {0.25, "", 25, 13}, {0, "300x", 300, 150},
		{0, "x25", 50, 25}, {0, "30X40", 30, 40}, {0, "1x1", 1, 1},
	} {
		w, h, err := TargetSize(100, 50, c.scale, c.size, DefaultMaxOutputPixels)
		if err != nil || w != c.w || h != c.h {
			t.Errorf("TargetSize(100x50, %v, %q) = %dx%d, %v; want %dx%d", c.scale, c.size, w, h, err, c.w, c.h)
		}
	}
	for _, c := range []struct {
		scale float64
		size  string
		max   int64
	}{
		{2, "10x10", 1e8}, {0, "", 1e8}, {-1, "", 1e8}, {math.NaN(), "", 1e8}, {math.Inf(1), "", 1e8},
		{1e300, "", 1e8}, {1001, "", 1e8}, {0, "abc", 1e8}, {0, "0x5", 1e8}, {0, "-5x5", 1e8}, {0, "x", 1e8},
		{0, "1.5x2", 1e8}, {0, "20x20", 399}, {0, "3000000000x1", 1 << 62}, {2, "", 0},
		// A side derived past 2³¹−1 under a raised pixel limit.
		{0, "x1500000000", 1 << 62}, {3e7, "", 1 << 62},
	} {
		if w, h, err := TargetSize(100, 50, c.scale, c.size, c.max); err == nil {
			t.Errorf("TargetSize(100x50, %v, %q, %d) = %dx%d, want an error", c.scale, c.size, c.max, w, h)
		}
	}
	// Only the pixel limit is ErrOverLimit: front ends say how to raise it.
	if _, _, err := TargetSize(100, 50, 4, "", 100); !errors.Is(err, ErrOverLimit) {
		t.Errorf("over the limit: %v, want ErrOverLimit", err)
	}
	if _, _, err := TargetSize(100, 50, 0, "0x5", 1e8); err == nil || errors.Is(err, ErrOverLimit) {
		t.Errorf("a bad size: %v, want an error other than ErrOverLimit", err)
	}
	if _, _, err := TargetSize(100, 50, 1001, "", 1<<40); err != nil {
		t.Errorf("a raised limit was not honoured: %v", err)
	}
	if w, h, err := ParseSize("x7"); err != nil || w != 0 || h != 7 {
		t.Errorf("ParseSize(x7) = %d, %d, %v", w, h, err)
	}
}

// texture is a w×h test image with structure in every channel.
func texture(w, h int) *imageio.Image {
	m := imageio.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(0.5 + 0.4*math.Sin(float64(i)*0.37))
	}
	return m
}

// rampAlpha gives m an alpha ramp, transparent on the left.
func rampAlpha(m *imageio.Image) *imageio.Image {
	m.Alpha = make([]float32, m.W*m.H)
	for i := range m.Alpha {
		m.Alpha[i] = float32(i%m.W) / float32(m.W-1)
	}
	return m
}

// grey05 returns flat grey and drops alpha, as learned methods do.
type grey05 struct{}

func (grey05) Name() string { return "grey05" }
func (grey05) Upscale(_ context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	m := imageio.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = 0.5
	}
	return m, nil
}

// noisy is a Sampler: texture plus a different offset per sample.
type noisy struct{}

func (noisy) Name() string { return "noisy" }
func (noisy) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	return texture(w, h), nil
}
func (n noisy) UpscaleSamples(ctx context.Context, lr *imageio.Image, w, h, k int) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, k)
	for i := range out {
		out[i] = texture(w, h)
		for p := range out[i].Pix {
			out[i].Pix[p] += 0.01 * float32(i)
		}
	}
	return out, nil
}

// Bands of any height give the same pixels; alpha follows the one rule;
// mean and spread are what they say.
func TestRunBandsMeanStdAlpha(t *testing.T) {
	ctx := context.Background()
	in := rampAlpha(texture(9, 7))
	src, err := Prepare(ctx, noisy{}, in, 20, 15, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	render := func(band int) (samples []*ImageSink, mean, std *ImageSink) {
		out := Outputs{Mean: NewImageSink(20, 15), Std: NewImageSink(20, 15)}
		for range 3 {
			s := NewImageSink(20, 15)
			samples = append(samples, s)
			out.Samples = append(out.Samples, s)
		}
		if err := Run(ctx, src, in, out, Options{Band: band}); err != nil {
			t.Fatal(err)
		}
		return samples, out.Mean.(*ImageSink), out.Std.(*ImageSink)
	}
	s1, m1, d1 := render(1)
	s7, m7, d7 := render(7)
	wantAlpha, _ := resample.ResizeAlpha(in.Alpha, 9, 7, 20, 15)
	for k := range s1 {
		if !slices.Equal(s1[k].Image.Pix, s7[k].Image.Pix) || !slices.Equal(s1[k].Image.Alpha, wantAlpha) || !slices.Equal(s7[k].Image.Alpha, wantAlpha) {
			t.Fatalf("sample %d differs between band heights or from resample.Alpha", k)
		}
	}
	if !slices.Equal(m1.Image.Pix, m7.Image.Pix) || !slices.Equal(d1.Image.Pix, d7.Image.Pix) {
		t.Fatal("mean or std map differs between band heights")
	}
	// Samples are offset by 0, 0.01, 0.02: mean is the middle one, the
	// spread 0.01 in every channel, ×StdGain.
	for p, v := range m1.Image.Pix {
		if math.Abs(float64(v-s1[1].Image.Pix[p])) > 1e-6 {
			t.Fatalf("mean[%d] = %v, want %v", p, v, s1[1].Image.Pix[p])
		}
	}
	for p, v := range d1.Image.Pix {
		if math.Abs(float64(v)-0.01*StdGain) > 1e-5 {
			t.Fatalf("std[%d] = %v, want %v", p, v, 0.01*StdGain)
		}
	}
}

// A grey input gives grey outputs; a kernel given a scale builds its
// weights for it (imresize(img, s)); refusals are clear.
func TestPrepareAndUpscale(t *testing.T) {
	ctx := context.Background()
	in := texture(10, 8)
	in.Gray = true
	out, err := Upscale(ctx, grey05{}, in, 21, 17, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Gray || out[0].W != 21 || out[0].H != 17 {
		t.Errorf("grey input gave gray=%v %dx%d", out[0].Gray, out[0].W, out[0].H)
	}
	k := kernel{resample.Bicubic}
	got, err := Upscale(ctx, k, texture(10, 8), 24, 19, 2.35, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := resample.Image(texture(10, 8), 24, 19, resample.Options{Method: resample.Bicubic, ScaleX: 2.35, ScaleY: 2.35})
	ratio, _ := resample.Image(texture(10, 8), 24, 19, resample.Options{Method: resample.Bicubic})
	if !slices.Equal(got[0].Pix, want.Pix) || slices.Equal(got[0].Pix, ratio.Pix) {
		t.Error("a kernel with a scale did not build its weights for the scale")
	}
	for _, c := range []struct {
		m    Method
		n    int
		want string
	}{
		{grey05{}, 2, "draws one output"},
		{wrongSize{}, 1, "returned 3x3, want 21x17"},
		{nanMethod{}, 1, "NaN"},
		{failing{}, 1, "failing: broken"},
	} {
		if _, err := Upscale(ctx, c.m, in, 21, 17, 0, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s ×%d: %v, want %q", c.m.Name(), c.n, err, c.want)
		}
	}
	if Generative(grey05{}) || !Generative(noisy{}) {
		t.Error("Generative is wrong")
	}
}

type kernel struct{ m resample.Method }

func (k kernel) Name() string            { return k.m.String() }
func (k kernel) Kernel() resample.Method { return k.m }
func (k kernel) Upscale(_ context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	return resample.Image(lr, w, h, resample.Options{Method: k.m})
}

type wrongSize struct{}

func (wrongSize) Name() string { return "wrong-size" }
func (wrongSize) Upscale(context.Context, *imageio.Image, int, int) (*imageio.Image, error) {
	return imageio.New(3, 3), nil
}

type nanMethod struct{}

func (nanMethod) Name() string { return "nan" }
func (nanMethod) Upscale(_ context.Context, _ *imageio.Image, w, h int) (*imageio.Image, error) {
	m := imageio.New(w, h)
	m.Pix[5] = float32(math.NaN())
	return m, nil
}

type failing struct{}

func (failing) Name() string { return "failing" }
func (failing) Upscale(context.Context, *imageio.Image, int, int) (*imageio.Image, error) {
	return nil, errors.New("broken")
}

// WriteFiles carries alpha over, names samples, and leaves nothing behind
// when it fails.
func TestWriteFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := rampAlpha(texture(10, 8))
	src, err := Prepare(ctx, noisy{}, in, 25, 20, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	files := Files{Samples: SamplePaths(filepath.Join(dir, "out.png"), 2), Mean: filepath.Join(dir, "mean.jpg"), Std: filepath.Join(dir, "std.png")}
	if err := WriteFiles(ctx, src, in, files, Options{Band: 6}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"out-1.png", "out-2.png", "mean.jpg", "std.png"} {
		got, err := imageio.Read(filepath.Join(dir, p))
		if err != nil || got.W != 25 || got.H != 20 {
			t.Fatalf("%s: %v", p, err)
		}
		if strings.HasSuffix(p, ".png") && (got.Alpha == nil || got.Alpha[0] != 0 || got.Alpha[24] != 1) {
			t.Errorf("%s: alpha not carried over", p)
		}
	}
	bad := Files{Samples: []string{filepath.Join(dir, "a.png")}, Std: filepath.Join(dir, "b.png")}
	one, _ := Prepare(ctx, grey05{}, in, 25, 20, 0, 1)
	if err := WriteFiles(ctx, one, in, bad, Options{Band: 4}); err == nil || !strings.Contains(err.Error(), "at least 2 samples") {
		t.Errorf("std of one sample: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := WriteFiles(cancelled, one, in, Files{Samples: []string{filepath.Join(dir, "c.png")}}, Options{Band: 4}); err == nil {
		t.Error("a cancelled render succeeded")
	}
	if err := WriteFiles(ctx, one, in, Files{Samples: []string{filepath.Join(dir, "d.gif")}}, Options{Band: 4}); err == nil {
		t.Error("an unknown format was accepted")
	}
	// A missing folder is named by Check, before any work, not as a
	// temporary file that could not be created after it.
	for _, f := range []Files{
		{Samples: []string{filepath.Join(dir, "no", "e.png")}},
		{Samples: []string{filepath.Join(dir, "e.png")}, Mean: filepath.Join(dir, "a.png", "mean.png")},
	} {
		if err := f.Check(); err == nil || !strings.Contains(err.Error(), "folder") || strings.Contains(err.Error(), ".tmp") {
			t.Errorf("%v: Check %v, want the missing folder named", f.Paths(), err)
		}
	}
	// One file named twice would keep one of the two outputs; a JPEG
	// quality the encoder refuses would fail only after the work.
	for _, c := range []struct {
		f    Files
		want string
	}{
		{Files{Samples: SamplePaths(filepath.Join(dir, "f.png"), 2), Mean: filepath.Join(dir, "f-1.png")}, "same file"},
		{Files{Samples: SamplePaths(filepath.Join(dir, "f.png"), 2), Mean: filepath.Join(dir, "m.png"), Std: filepath.Join(dir, ".", "m.png")}, "same file"},
		{Files{Samples: []string{filepath.Join(dir, "f.jpg")}, Write: imageio.WriteOptions{Quality: 101}}, "quality 101"},
	} {
		if err := c.f.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Check %v, want an error mentioning %q", c.f.Paths(), err, c.want)
		}
	}
	for _, p := range []string{"a.png", "b.png", "c.png", "d.gif"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("failed render left %s", p)
		}
	}
}
