package server

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	zdmetrics "github.com/zoomdiff/zoomdiff/metrics"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
)

// streamer is a fake render.Streamer: a gradient made row by row, which
// records the most rows it was asked for at once.
type streamer struct {
	maxBand atomic.Int64
	delay   time.Duration // slept per band: a render slower than the write deadline
}

func (s *streamer) Name() string { return "stream" }
func (s *streamer) Upscale(context.Context, *imageio.Image, int, int) (*imageio.Image, error) {
	return nil, errors.New("the streamer is only streamed")
}
func (s *streamer) Stream(_ context.Context, _ *imageio.Image, w, h, n int) (render.Source, error) {
	return &gradient{s: s, w: w, h: h, n: n}, nil
}

type gradient struct {
	s       *streamer
	w, h, n int
}

func (g *gradient) Size() (int, int)               { return g.w, g.h }
func (g *gradient) Samples() int                   { return g.n }
func (g *gradient) AlphaRows(y0, y1 int) []float32 { return nil }
func (g *gradient) value(x, y, c int) float32      { return float32((x+2*y+c*50)%256) / 255 }
func (g *gradient) Rows(_, y0, y1 int) ([]float32, error) {
	time.Sleep(g.s.delay)
	if n := int64(y1 - y0); n > g.s.maxBand.Load() {
		g.s.maxBand.Store(n)
	}
	out := make([]float32, 0, (y1-y0)*g.w*3)
	for y := y0; y < y1; y++ {
		for x := range g.w {
			out = append(out, g.value(x, y, 0), g.value(x, y, 1), g.value(x, y, 2))
		}
	}
	return out, nil
}

// withStreamer is the test config with st offered as method "stream".
func withStreamer(st *streamer) Config {
	cfg := testConfig(nil)
	base, list := cfg.NewUpscaler, cfg.Methods
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		if name == "stream" {
			return st, nil
		}
		return base(name, o)
	}
	cfg.Methods = func() []methods.Info {
		return append(list(), methods.Info{Name: "stream", Summary: "streams a gradient"})
	}
	return cfg
}

// A streamed method answers 8192×8192 with the whole PNG while the heap
// stays far below one float image of that size (805 MB); a method that
// makes whole images is held to MaxOutputPixels.
func TestStreamedOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 8192x8192 answer in -short mode")
	}
	st := &streamer{}
	cfg := withStreamer(st)
	cfg.MaxOutputPixels = 1024 * 1024
	_, ts := newTestServer(t, cfg)
	in := pngBytes(t, 512, 512, false)

	// Small first: the pixels are the source's.
	body, ct := multipartBody(t, in, "size", "640x480", "method", "stream")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 200 {
		t.Fatalf("640x480: %d %s", resp.StatusCode, data)
	}
	m := decodePNG(t, data)
	g := &gradient{w: 640, h: 480}
	for y := range 480 {
		for x := range 640 {
			for c := range 3 {
				if got, want := m.Pix[(y*640+x)*3+c], g.value(x, y, c); got != want {
					t.Fatalf("pixel (%d,%d,%d) = %v, want %v", x, y, c, got, want)
				}
			}
		}
	}

	stopWatch := watchPeakHeap()
	body, ct = multipartBody(t, in, "size", "8192x8192", "method", "stream")
	req, _ := http.NewRequest("POST", ts.URL+"/v1/upscale", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the header, then count the rest without holding it.
	head := make([]byte, 64<<10)
	k, _ := io.ReadFull(r.Body, head)
	rest, _ := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	peak := stopWatch()
	if r.StatusCode != 200 {
		t.Fatalf("8192x8192: %d %s", r.StatusCode, head[:k])
	}
	c, err := png.DecodeConfig(bytes.NewReader(head[:k]))
	if err != nil || c.Width != 8192 || c.Height != 8192 {
		t.Fatalf("answer is %dx%d (%v), want 8192x8192", c.Width, c.Height, err)
	}
	t.Logf("8192x8192: %.1f MB of PNG, peak heap %.0f MiB, at most %d rows at once", float64(int64(k)+rest)/1e6, float64(peak)/(1<<20), st.maxBand.Load())
	if peak > 300<<20 {
		t.Errorf("peak heap %d MiB while streaming; one float image would be 768 MiB", peak>>20)
	}
	if b := st.maxBand.Load(); b > render.DefaultBand {
		t.Errorf("the source was asked for %d rows at once, want at most %d", b, render.DefaultBand)
	}

	// A method that makes whole images keeps the tighter limit.
	body, ct = multipartBody(t, in, "size", "2048x2048", "method", "bicubic")
	if resp, data := post(t, ts.URL+"/v1/upscale", ct, body); resp.StatusCode != 400 || !bytes.Contains(data, []byte("bicubic")) {
		t.Errorf("bicubic at 2048x2048 over a 1024x1024 limit: %d %s", resp.StatusCode, data)
	}
}

// watchPeakHeap samples the heap every 20 ms until the returned function
// is called, which returns the largest HeapAlloc seen.
func watchPeakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// The server draws the CLI's pixels: the model at ×7.5 with seed 3 on the
// pinned eye crop (alpha included) matches `zoomdiff upscale`'s pinned
// output, since both render through package render.
func TestServerMatchesCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the built-in model in -short mode")
	}
	cfg := testConfig(nil)
	base := cfg.NewUpscaler
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		if name != "model" {
			return base(name, o)
		}
		return models.SRMethod(o.Model, "builtin:sr", o.Condition, o.Params) // as the CLI's model method builds it
	}
	_, ts := newTestServer(t, cfg)
	pinned := filepath.Join("..", "cmd", "zoomdiff", "testdata", "pinned")
	in, err := os.ReadFile(filepath.Join(pinned, "eye.png"))
	if err != nil {
		t.Fatal(err)
	}
	body, ct := multipartBody(t, in, "scale", "7.5", "method", "model", "seed", "3")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	got := decodePNG(t, data)
	want, err := imageio.Read(filepath.Join(pinned, "x7.5.png"))
	if err != nil {
		t.Fatal(err)
	}
	if got.W != want.W || got.H != want.H || got.Alpha == nil || want.Alpha == nil {
		t.Fatalf("server %dx%d alpha %v, CLI %dx%d alpha %v", got.W, got.H, got.Alpha != nil, want.W, want.H, want.Alpha != nil)
	}
	p := math.Min(zdmetrics.PSNR(got.Pix, want.Pix, 1), zdmetrics.PSNR(got.Alpha, want.Alpha, 1))
	t.Logf("server against the CLI's pinned x7.5: %.1f dB", p)
	if p < 60 {
		t.Errorf("the server's pixels are %.1f dB from the CLI's, want >= 60", p)
	}
}

// A streamed answer that takes longer to render than the write deadline
// still arrives whole: the deadline bounds a client that stops reading,
// and is renewed after every band.
func TestSlowStreamedAnswer(t *testing.T) {
	old := writeTimeout
	writeTimeout = 300 * time.Millisecond
	defer func() { writeTimeout = old }()
	st := &streamer{delay: 80 * time.Millisecond}
	_, ts := newTestServer(t, withStreamer(st))
	body, ct := multipartBody(t, pngBytes(t, 64, 64, false), "size", "640x640", "method", "stream")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body) // 10 bands: 0.8 s of rendering
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	if m := decodePNG(t, data); m.W != 640 || m.H != 640 {
		t.Fatalf("answer %dx%d, want 640x640", m.W, m.H)
	}
}
