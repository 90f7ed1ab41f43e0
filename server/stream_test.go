package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
	// fail, when set, is called with each band's first row, and its error
	// is the band's: a method that breaks (or panics) mid-render.
	fail func(y0 int) error
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
	if g.s.fail != nil {
		if err := g.s.fail(y0); err != nil {
			return nil, err
		}
	}
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
func withStreamer(st *streamer) Config { return withMethod("stream", "streams a gradient", st) }

// withMethod is testConfig with one more method, m, called name.
func withMethod(name, summary string, m render.Method) Config {
	cfg := testConfig(nil)
	base, list := cfg.NewUpscaler, cfg.Methods
	cfg.NewUpscaler = func(n string, o methods.Options) (render.Method, error) {
		if n == name {
			return m, nil
		}
		return base(n, o)
	}
	cfg.Methods = func() []methods.Info {
		return append(list(), methods.Info{Name: name, Summary: summary})
	}
	return cfg
}

// startStreamJob submits a ×2 job of the "stream" method to the server at
// url and returns its view as accepted.
func startStreamJob(t *testing.T, url string) jobView {
	t.Helper()
	body, ct := multipartBody(t, pngBytes(t, 16, 16, false), "scale", "2", "method", "stream", "async", "1")
	resp, data := post(t, url+"/v1/upscale", ct, body)
	if resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	var v jobView
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
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

// A streamed method renders as its answer is written, so it can fail
// after the answer began. Before its first bytes, the answer is the
// error; after them, the connection is cut, so that the client sees a
// broken transfer rather than a 200 with a cut-off PNG.
func TestStreamedAnswerFails(t *testing.T) {
	failAt := 0
	st := &streamer{fail: func(y0 int) error {
		if y0 >= failAt {
			return errors.New("the decoder broke")
		}
		return nil
	}}
	_, ts := newTestServer(t, withStreamer(st))
	body, ct := multipartBody(t, pngBytes(t, 256, 256, false), "size", "2048x2048", "method", "stream")
	answer := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/upscale", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp, data, err
	}

	failAt = 2 * render.DefaultBand // within the first 64 KiB written
	resp, data, _ := answer()
	if resp.StatusCode != 500 || !strings.Contains(errorOf(t, data), "the decoder broke") || resp.Header.Get("Content-Disposition") != "" {
		t.Errorf("failing before the first bytes: %d %v %s", resp.StatusCode, resp.Header, data)
	}

	failAt = 2048 - render.DefaultBand // the last band: the rows before it are sent
	resp, data, err := answer()
	if resp.StatusCode != 200 {
		t.Fatalf("failing mid-way: %d %s", resp.StatusCode, data)
	}
	if err == nil {
		t.Errorf("the broken answer (%d bytes) read as complete", len(data))
	}
	t.Logf("broken after %d bytes: %v", len(data), err)
}

// A method that panics while its rows are rendered for a job fails the
// job with a 500; it must not take the server down with it (the job's
// goroutine is not a handler, which net/http would recover).
func TestJobPanicsWhileEncoding(t *testing.T) {
	st := &streamer{fail: func(y0 int) error {
		var m map[string]int
		m["boom"]++ // a bug in the method
		return nil
	}}
	s, ts := newTestServer(t, withStreamer(st))
	v := startStreamJob(t, ts.URL)
	waitFor(t, "the job to fail", func() bool {
		v, _, _, _ = s.jobs.get(v.ID)
		return v.State == stateFailed
	})
	if v.Code != 500 || !strings.Contains(v.Error, "panicked") {
		t.Errorf("job failed with %d %q, want 500 naming the panic", v.Code, v.Error)
	}
	if resp, _ := get(t, ts.URL+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("health after the panic: %d", resp.StatusCode)
	}
}

// The model's progress covers both its stages, sample by sample: the
// condition (here two windows of the condition network) fills the first
// tenth of each sample's share, the sampling the rest, and the fraction
// never goes back.
func TestModelProgressStages(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the built-in model in -short mode")
	}
	cfg := testConfig(nil)
	base := cfg.NewUpscaler
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		if name != "model" {
			return base(name, o)
		}
		return models.SRMethod(o.Model, "builtin:sr", o.Condition, o.Params)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := s.parseUpscaleFields(url.Values{"method": {"model"}, "scale": {"2"}, "samples": {"2"}, "seed": {"5"}})
	if err != nil {
		t.Fatal(err)
	}
	req.image = pngBytes(t, 320, 24, false) // wider than one window of the condition network
	type report struct {
		stage string
		p     float64
	}
	var got []report
	if _, err := s.runUpscale(context.Background(), req, func(stage string, p float64) { got = append(got, report{stage, p}) }); err != nil {
		t.Fatal(err)
	}
	sample, conds, prev := -1, [2]int{}, report{}
	for _, r := range got {
		if r.p < prev.p || r.p > 1 {
			t.Fatalf("progress went from %v to %v: %v", prev, r, got)
		}
		if r.stage == stageCondition && prev.stage != stageCondition {
			sample++
		}
		prev = r
		if sample < 0 || r.stage == "" {
			continue
		}
		lo, split, hi := float64(sample)/2, (float64(sample)+conditionShare)/2, float64(sample+1)/2
		switch r.stage {
		case stageCondition:
			conds[sample]++
			if r.p < lo || r.p > split {
				t.Errorf("sample %d's condition at %v, want within [%v, %v]", sample, r.p, lo, split)
			}
		case stageSampling:
			if r.p < split || r.p > hi {
				t.Errorf("sample %d's sampling at %v, want within [%v, %v]", sample, r.p, split, hi)
			}
		default:
			t.Errorf("stage %q", r.stage)
		}
	}
	// Two windows: reported at 0, 1 and 2 done, for each sample.
	if sample != 1 || conds[0] != 3 || conds[1] != 3 || prev.p != 1 {
		t.Errorf("%d samples with %v condition reports, ending at %v: %v", sample+1, conds, prev.p, got)
	}
}

// A running job's view names its stage: here the encoding, in which a
// streamed method renders its rows; a finished job names none.
func TestJobStage(t *testing.T) {
	held, release := make(chan struct{}, 1), make(chan struct{})
	st := &streamer{fail: func(int) error {
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
		return nil
	}}
	s, ts := newTestServer(t, withStreamer(st))
	v := startStreamJob(t, ts.URL)
	<-held
	if _, data := get(t, ts.URL+"/v1/jobs/"+v.ID); !strings.Contains(string(data), `"stage": "encoding"`) {
		t.Errorf("job while its rows are rendered: %s", data)
	}
	close(release)
	waitFor(t, "the job", func() bool {
		v, _, _, _ = s.jobs.get(v.ID)
		return v.State == stateDone
	})
	if v.Stage != "" || v.Progress != 1 {
		t.Errorf("done job: stage %q, progress %v", v.Stage, v.Progress)
	}
}
