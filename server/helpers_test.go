package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/render"
)

// quiet is a logger for tests that do not look at the log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// blocker is a fake method whose Upscale blocks until released or until
// its context ends, so tests can hold workers busy and watch cancellation.
type blocker struct {
	started   chan struct{} // one value per Upscale that started
	release   chan struct{} // closed to let every Upscale finish
	cancelled chan error    // the context error of Upscales that were cancelled
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 16), release: make(chan struct{}), cancelled: make(chan error, 16)}
}

func (b *blocker) Name() string { return "block" }

func (b *blocker) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return imageio.New(w, h), nil
	case <-ctx.Done():
		b.cancelled <- ctx.Err()
		return nil, ctx.Err()
	}
}

// wait waits for n Upscales to start.
func (b *blocker) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-b.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the fake upscaler did not start")
		}
	}
}

// waitCancelled waits up to 10 s for an Upscale to be cancelled, failing
// with timeout when none is, and requires it to have been by
// context.Canceled.
func (b *blocker) waitCancelled(t *testing.T, timeout string) {
	t.Helper()
	select {
	case err := <-b.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("work ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(timeout)
	}
}

// paramFake records the params it was created with and reports progress.
// It stands in for the model: a generative method (a render.Sampler), so
// requests may ask it for several samples.
type paramFake struct {
	mu     sync.Mutex
	params []map[string]string
}

func (p *paramFake) Name() string { return "param" }
func (p *paramFake) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	return imageio.New(w, h), nil
}
func (p *paramFake) UpscaleSamples(ctx context.Context, lr *imageio.Image, w, h, n int) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, n)
	for i := range out {
		out[i] = imageio.New(w, h)
	}
	return out, nil
}
func (p *paramFake) Card() string { return "a fake model card" }
func (p *paramFake) WithParams(params map[string]string) (render.Method, error) {
	if params["steps"] == "13" {
		return nil, errors.New("13 steps are unlucky")
	}
	p.mu.Lock()
	p.params = append(p.params, params)
	p.mu.Unlock()
	return &progressFake{}, nil
}

type progressFake struct{ report func(done, total int) }

func (f *progressFake) Name() string                        { return "param" }
func (f *progressFake) SetProgress(r func(done, total int)) { f.report = r }
func (f *progressFake) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	for i := range 4 {
		if f.report != nil { // the server sets it only for jobs
			f.report(i+1, 4)
		}
	}
	return flat(w, h, 0.5), nil
}

// flat is a w×h image of grey v.
func flat(w, h int, v float32) *imageio.Image {
	m := imageio.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = v
	}
	return m
}

// panicker is a method with a bug.
type panicker struct{}

func (panicker) Name() string { return "panic" }
func (panicker) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	var m map[string]int
	m["boom"]++
	return nil, nil
}

// fakeGen is a Generator making grey images: seed%7 sevenths, or with a
// class, its number plus one over the number of classes plus one.
type fakeGen struct{ classes []string }

func (g fakeGen) Classes() []string { return g.classes }

func (g fakeGen) Generate(ctx context.Context, n, w, h int, seed uint64, class string, guidance float64) ([]*imageio.Image, error) {
	v := float32(seed%7) / 7
	if class != "" {
		v = float32(slices.Index(g.classes, class)+1) / float32(len(g.classes)+1)
	}
	var out []*imageio.Image
	for range n {
		out = append(out, flat(w, h, v))
	}
	return out, nil
}

// testConfig returns a config serving the table's methods plus the
// fakes "block", "param" and an always failing "model".
func testConfig(b *blocker) Config {
	pf := &paramFake{}
	cfg := DefaultConfig()
	cfg.Logger, cfg.MaxUploadBytes, cfg.MaxInputPixels = quiet, 1<<20, 512*512
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		switch name {
		case "block":
			if b == nil {
				return nil, errors.New("no blocker in this test")
			}
			return b, nil
		case "param":
			return pf, nil
		case "model":
			return nil, errors.New("no model file: give --model")
		case "panic":
			return panicker{}, nil
		}
		return methods.New(name, o)
	}
	cfg.Methods = func() []methods.Info {
		return append(methods.List(),
			methods.Info{Name: "block", Summary: "blocks until released"},
			methods.Info{Name: "param", Summary: "records params"},
			methods.Info{Name: "model", Summary: "unavailable"},
			methods.Info{Name: "panic", Summary: "panics"})
	}
	return cfg
}

// noteConfig is testConfig with a "model" method, bicubic standing in for
// the model: methods.Note's rule needs only the method's name.
func noteConfig() Config {
	cfg := testConfig(nil)
	inner := cfg.NewUpscaler
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		if name == "model" {
			return inner("bicubic", o)
		}
		return inner(name, o)
	}
	return cfg
}

// jpegBytes is pngBytes's picture saved as JPEG at quality q.
func jpegBytes(t testing.TB, w, h, q int) []byte {
	m, err := imageio.Decode(pngBytes(t, w, h, false), imageio.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m.ToImage(false), &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blockedConfig returns a blocker and a test config whose "block" method
// waits on it: the start of every test about work in flight.
func blockedConfig() (*blocker, Config) {
	b := newBlocker()
	return b, testConfig(b)
}

// blockedUpload is a ×2 upscale request of the "block" method.
func blockedUpload(t testing.TB) (body []byte, contentType string) {
	return smallUpload(t, "scale", "2", "method", "block")
}

func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// pngBytes encodes a w×h test picture, with alpha if asked.
func pngBytes(t testing.TB, w, h int, alpha bool) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha {
				a = uint8(x * 255 / max(1, w-1))
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 11), uint8((x + y) * 5), a})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNGHeader returns the start of a PNG whose (valid) header declares
// w×h pixels, with no image data: what a decompression bomb looks like to
// a server that reads headers first.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// multipartBody builds a multipart body: fields in order, and the image (if not
// nil) as a file part named image.
func multipartBody(t testing.TB, img []byte, fields ...string) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	if img != nil {
		fw, err := mw.CreateFormFile("image", "in.png")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(img)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// smallUpload is a multipart body with an opaque 8×8 PNG and fields, the
// input of the tests about the server rather than the pixels.
func smallUpload(t testing.TB, fields ...string) (body []byte, contentType string) {
	return multipartBody(t, pngBytes(t, 8, 8, false), fields...)
}

// post sends a body and returns the status, the decoded JSON error (if
// any) and the raw answer.
func post(t testing.TB, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// errorOf decodes a JSON error answer.
func errorOf(t testing.TB, data []byte) string {
	var e struct{ Error string }
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Errorf("answer is not a JSON error: %q", truncate(string(data), 200))
	}
	return e.Error
}

func decodePNG(t testing.TB, data []byte) *imageio.Image {
	t.Helper()
	m, err := imageio.Decode(data, imageio.ReadOptions{})
	if err != nil {
		t.Fatalf("answer is not an image: %v (%q)", err, truncate(string(data), 200))
	}
	return m
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
