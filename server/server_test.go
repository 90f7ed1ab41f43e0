package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

func TestUpscale(t *testing.T) {
	_, ts := newTestServer(t, testConfig(nil))
	in := pngBytes(t, 40, 30, false)
	body, ct := multipartBody(t, in, "scale", "2", "method", "bicubic", "seed", "7")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	if resp.Header.Get("X-Zoomdiff-Size") != "80x60" || resp.Header.Get("X-Zoomdiff-Seed") != "7" {
		t.Errorf("headers %v", resp.Header)
	}
	got := decodePNG(t, data)
	// The same pixels as the CLI: imresize-style bicubic built for the
	// scale itself, then 8-bit quantisation.
	lr, _ := imageio.Decode(in, imageio.ReadOptions{})
	want, err := resample.Scale(lr, 2, resample.Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	want.Quantize8()
	if got.W != 80 || got.H != 60 {
		t.Fatalf("got %dx%d, want 80x60", got.W, got.H)
	}
	for i := range want.Pix {
		if got.Pix[i] != want.Pix[i] {
			t.Fatalf("value %d = %v, want %v", i, got.Pix[i], want.Pix[i])
		}
	}

	// Size with one side keeps the aspect ratio; the default method is
	// bicubic because "model" cannot be created in this test.
	body, ct = multipartBody(t, in, "size", "100x")
	resp, data = post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 200 {
		t.Fatalf("size 100x: %d %s", resp.StatusCode, data)
	}
	if m := decodePNG(t, data); m.W != 100 || m.H != 75 || resp.Header.Get("X-Zoomdiff-Method") != "bicubic" {
		t.Errorf("size 100x gave %dx%d by %s, want 100x75 by bicubic", m.W, m.H, resp.Header.Get("X-Zoomdiff-Method"))
	}

	// Query parameters work as fields (curl -F image=@x.png '…?scale=3').
	body, ct = multipartBody(t, in)
	resp, data = post(t, ts.URL+"/v1/upscale?scale=0.5&method=lanczos3", ct, body)
	if m := decodePNG(t, data); resp.StatusCode != 200 || m.W != 20 || m.H != 15 {
		t.Errorf("query scale 0.5: %d, %dx%d", resp.StatusCode, m.W, m.H)
	}

	// Transparency survives.
	body, ct = multipartBody(t, pngBytes(t, 16, 16, true), "scale", "2")
	_, data = post(t, ts.URL+"/v1/upscale", ct, body)
	if m := decodePNG(t, data); m.Alpha == nil {
		t.Error("alpha was dropped")
	}
}

func TestUpscaleSamplesJSON(t *testing.T) {
	cfg := testConfig(nil)
	s, ts := newTestServer(t, cfg)
	body, ct := multipartBody(t, pngBytes(t, 10, 10, false), "scale", "3", "method", "param", "samples", "3", "seed", "41", "steps", "20", "param", "eta=0.5")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var res struct {
		Method        string
		Width, Height int
		Images        []struct {
			Seed uint64
			PNG  string
		}
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Method != "param" || res.Width != 30 || len(res.Images) != 3 {
		t.Fatalf("answer %+v", res)
	}
	for i, im := range res.Images {
		if im.Seed != 41+uint64(i) {
			t.Errorf("image %d has seed %d, want %d", i, im.Seed, 41+i)
		}
		raw, err := base64.StdEncoding.DecodeString(im.PNG)
		if err != nil {
			t.Fatal(err)
		}
		if m := decodePNG(t, raw); m.W != 30 || m.H != 30 {
			t.Errorf("image %d is %dx%d", i, m.W, m.H)
		}
	}
	// The ParamUpscaler was created once and asked for one variant per
	// sample with the request's settings.
	b, _ := s.base("param")
	pf := b.param.(*paramFake)
	if len(pf.params) != 3 || pf.params[2]["seed"] != "43" || pf.params[0]["steps"] != "20" || pf.params[1]["eta"] != "0.5" {
		t.Errorf("WithParams got %v", pf.params)
	}
}

func TestJobs(t *testing.T) {
	s, ts := newTestServer(t, testConfig(nil))
	body, ct := multipartBody(t, pngBytes(t, 12, 8, false), "scale", "2", "method", "param", "samples", "2", "async", "1")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var v jobView
	json.Unmarshal(data, &v)
	if resp.Header.Get("Location") != "/v1/jobs/"+v.ID || v.State == "" {
		t.Fatalf("job answer %s, Location %q", data, resp.Header.Get("Location"))
	}
	// The event stream ends with the finished job.
	resp, data = get(t, ts.URL+"/v1/jobs/"+v.ID+"/events")
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s", resp.Header.Get("Content-Type"))
	}
	events := strings.Split(strings.TrimSpace(string(data)), "\n\n")
	last := events[len(events)-1]
	if !strings.HasPrefix(last, "event: job\ndata: ") || !strings.Contains(last, `"state":"done"`) {
		t.Fatalf("last event %q", last)
	}
	resp, data = get(t, ts.URL+"/v1/jobs/"+v.ID)
	json.Unmarshal(data, &v)
	if resp.StatusCode != 200 || v.State != stateDone || v.Progress != 1 || len(v.Images) != 2 || v.Width != 24 || v.Expires.IsZero() {
		t.Fatalf("job %s", data)
	}
	resp, data = get(t, ts.URL+v.Images[1])
	if m := decodePNG(t, data); resp.StatusCode != 200 || m.W != 24 || m.H != 16 {
		t.Fatalf("image: %d", resp.StatusCode)
	}
	for _, path := range []string{"/images/2", "/images/x", "/images/-1"} {
		if resp, data := get(t, ts.URL+"/v1/jobs/"+v.ID+path); resp.StatusCode != 404 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, data)
		}
	}
	// Expiry: a finished job goes after its TTL.
	s.jobs.mu.Lock()
	s.jobs.now = func() time.Time { return time.Now().Add(s.cfg.JobTTL + time.Second) }
	s.jobs.mu.Unlock()
	if resp, _ := get(t, ts.URL+"/v1/jobs/"+v.ID); resp.StatusCode != 404 {
		t.Errorf("expired job: %d", resp.StatusCode)
	}
	s.jobs.mu.Lock()
	s.jobs.now = time.Now
	s.jobs.mu.Unlock()
	if resp, data := get(t, ts.URL+"/v1/jobs/nope"); resp.StatusCode != 404 || errorOf(t, data) == "" {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}

func TestJobCancelAndBounds(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Workers, cfg.Queue, cfg.MaxJobs = 1, 4, 2
	s, ts := newTestServer(t, cfg)
	submit := func() (*http.Response, jobView, []byte) {
		body, ct := smallUpload(t, "scale", "2", "method", "block", "async", "true")
		resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
		var v jobView
		json.Unmarshal(data, &v)
		return resp, v, data
	}
	_, j1, _ := submit()
	b.wait(t, 1)
	_, j2, _ := submit()
	waitFor(t, "the second job to queue", func() bool { return s.pool.waiting.Load() == 1 })
	// Both places hold unfinished jobs: the third is refused.
	resp, _, data := submit()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(errorOf(t, data), "job places") {
		t.Fatalf("third job: %d %s", resp.StatusCode, data)
	}
	// Cancelling the running job cancels its work and frees its place.
	req, _ := http.NewRequest("DELETE", ts.URL+"/v1/jobs/"+j1.ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete: %v %v", resp, err)
	}
	b.waitCancelled(t, "deleting the job did not cancel its work")
	b.wait(t, 1) // the second job runs now
	close(b.release)
	waitFor(t, "the second job", func() bool {
		v, _, _, _ := s.jobs.get(j2.ID)
		return v.State == stateDone
	})
	// A finished job gives way to a new one when the store is full.
	if resp, _, data := submit(); resp.StatusCode != 202 {
		t.Fatalf("job after one finished: %d %s", resp.StatusCode, data)
	}
	if resp, _, data := submit(); resp.StatusCode != 202 {
		t.Fatalf("job replacing a finished one: %d %s", resp.StatusCode, data)
	}
}

func TestJobProgress(t *testing.T) {
	_, ts := newTestServer(t, testConfig(nil))
	body, ct := smallUpload(t, "scale", "2", "method", "param", "samples", "2", "async", "1")
	_, data := post(t, ts.URL+"/v1/upscale", ct, body)
	var v jobView
	json.Unmarshal(data, &v)
	_, events := get(t, ts.URL+"/v1/jobs/"+v.ID+"/events")
	// The fake reports 4 steps per sample: the stream must show fractions
	// between 0 and 1, in order.
	var seen []float64
	for _, ev := range strings.Split(string(events), "\n\n") {
		_, d, ok := strings.Cut(ev, "data: ")
		if !ok {
			continue
		}
		var e jobView
		json.Unmarshal([]byte(d), &e)
		seen = append(seen, e.Progress)
	}
	if len(seen) == 0 || seen[len(seen)-1] != 1 {
		t.Fatalf("progress %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("progress went back: %v", seen)
		}
	}
}

// TestBadInput sends malformed and hostile requests: each must get the
// expected 4xx with a JSON error, never a 5xx or a dropped connection.
func TestBadInput(t *testing.T) {
	_, ts := newTestServer(t, testConfig(nil))
	for _, c := range badUpscaleRequests(t) {
		body, ct := c.body()
		resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
		if resp.StatusCode != c.code {
			t.Errorf("%s: status %d, want %d (%s)", c.name, resp.StatusCode, c.code, truncate(string(data), 200))
			continue
		}
		if msg := errorOf(t, data); !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want it to mention %q", c.name, msg, c.want)
		}
	}
}

// badRequest is a request the server must refuse: its body and content
// type, the status and a part of the error message.
type badRequest struct {
	name string
	body func() ([]byte, string)
	code int
	want string
}

// badUpscaleRequests are the malformed POST /v1/upscale requests of
// TestBadInput, for a server with testConfig's limits.
func badUpscaleRequests(t *testing.T) []badRequest {
	good := pngBytes(t, 20, 20, false)
	mp := func(img []byte, fields ...string) func() ([]byte, string) {
		return func() ([]byte, string) { return multipartBody(t, img, fields...) }
	}
	// A PNG whose header declares 100000×100000 pixels (a decompression
	// bomb's header) but carries no data.
	huge := hugePNGHeader(100000, 100000)
	truncatedBody := func() ([]byte, string) {
		// Cut inside the image's data, as a dropped connection would.
		b, ct := multipartBody(t, good, "scale", "2")
		return b[:bytes.Index(b, []byte("IDAT"))+20], ct
	}
	oversize := func() ([]byte, string) {
		return multipartBody(t, bytes.Repeat(good, 1+(1<<20)/len(good)), "scale", "2")
	}
	otherFile := func() ([]byte, string) {
		b, ct := multipartBody(t, good, "scale", "2")
		return bytes.Replace(b, []byte(`name="image"`), []byte(`name="other"`), 1), ct
	}
	cases := []badRequest{
		{"json content type", func() ([]byte, string) { return []byte(`{"scale":2}`), "application/json" }, 415, "multipart/form-data"},
		{"no content type", func() ([]byte, string) { return good, "" }, 415, "Content-Type"},
		{"raw png body", func() ([]byte, string) { return good, "image/png" }, 415, "multipart"},
		{"bad content type", func() ([]byte, string) { return good, "multipart/form-data; boundary=\"x" }, 415, "Content-Type"},
		{"no boundary", func() ([]byte, string) { return good, "multipart/form-data" }, 400, "boundary"},
		{"truncated upload", truncatedBody, 400, "truncated"},
		{"truncated image", mp(good[:len(good)-40], "scale", "2"), 400, "decode"},
		{"not an image", mp([]byte("8BPS this is a Photoshop file"), "scale", "2"), 415, "not a PNG"},
		{"empty image", mp([]byte{}, "scale", "2"), 400, "empty"},
		{"no image", mp(nil, "scale", "2"), 400, "missing the image"},
		{"file in another field", otherFile, 400, "is a file"},
		{"huge declared size", mp(huge, "scale", "2"), 413, "100000x100000"},
		{"upload too large", oversize, 413, "1 MiB limit"},
		{"no scale or size", mp(good), 400, "missing scale or size"},
		{"scale and size", mp(good, "scale", "2", "size", "40x40"), 400, "not both"},
		{"scale text", mp(good, "scale", "four"), 400, "not a number"},
		{"scale over output limit", mp(pngBytes(t, 500, 500, false), "scale", "9"), 400, "over the server's limit"},
		{"size huge", mp(good, "size", "100000x100000"), 400, "over the server's limit"},
		{"size overflow", mp(good, "size", "99999999999999999999x1"), 400, "not a whole number"},
		{"size zero", mp(good, "size", "0x5"), 400, "size"},
		{"size negative", mp(good, "size", "-5x5"), 400, "size"},
		{"size empty sides", mp(good, "size", "x"), 400, "at least one side"},
		{"size garbage", mp(good, "size", "big"), 400, "WxH"},
		{"size ratio", mp(good, "size", "1000x20"), 400, "per side"},
		{"samples 0", mp(good, "scale", "2", "samples", "0"), 400, "samples"},
		{"samples too many", mp(good, "scale", "2", "samples", "5"), 400, "from 1 to 4"},
		{"samples text", mp(good, "scale", "2", "samples", "many"), 400, "samples"},
		{"seed negative", mp(good, "scale", "2", "seed", "-1"), 400, "seed"},
		{"seed overflow", mp(good, "scale", "2", "seed", "18446744073709551616"), 400, "seed"},
		{"steps 0", mp(good, "scale", "2", "steps", "0"), 400, "steps"},
		{"steps too many", mp(good, "scale", "2", "steps", "100000"), 400, "steps"},
		{"unknown method", mp(good, "scale", "2", "method", "magic"), 400, "unknown method"},
		{"unavailable method", mp(good, "scale", "2", "method", "model"), 400, "not available"},
		{"method rejects params", mp(good, "scale", "2", "method", "param", "steps", "13"), 400, "unlucky"},
		{"unknown field", mp(good, "sacle", "2"), 400, `unknown field "sacle"`},
		{"repeated field", mp(good, "scale", "2", "scale", "3"), 400, "given 2 times"},
		{"bad param", mp(good, "scale", "2", "param", "novalue"), 400, "param"},
		{"param seed", mp(good, "scale", "2", "param", "seed=3"), 400, "seed"},
		// The limits hold whichever way a setting comes.
		{"param steps too many", mp(good, "scale", "2", "method", "param", "param", "steps=1001"), 400, "steps"},
		{"param steps text", mp(good, "scale", "2", "method", "param", "param", "steps=ten"), 400, "steps"},
		{"steps field and param", mp(good, "scale", "2", "method", "param", "steps", "2", "param", "steps=3"), 400, "steps given twice"},
		{"param tile too large", mp(good, "scale", "2", "method", "param", "param", "tile=100000"), 400, "tile"},
		{"long field", mp(good, "scale", strings.Repeat("9", 5000)), 400, "longer than"},
		{"png with samples", mp(good, "scale", "2", "method", "param", "samples", "2", "format", "png"), 400, "format png"},
		{"samples of a deterministic method", mp(good, "scale", "2", "method", "bicubic", "samples", "2"), 400, "draws one output"},
		{"bad format", mp(good, "scale", "2", "format", "gif"), 400, "format"},
		{"bad async", mp(good, "scale", "2", "async", "maybe"), 400, "async"},
	}
	// Scales out of range are refused with the value named.
	for _, v := range []string{"0", "-1", "NaN", "+Inf", "1e9", "1e999"} {
		cases = append(cases, badRequest{"scale " + v, mp(good, "scale", v), 400, "scale " + v})
	}
	return cases
}

// TestBadRoutes: unknown paths get 404, known ones with the wrong method
// 405, each with a JSON error.
func TestBadRoutes(t *testing.T) {
	_, ts := newTestServer(t, testConfig(nil))
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/upscale", 405}, {"PUT", "/v1/generate", 405}, {"POST", "/v1/models", 405},
		{"GET", "/v1/nothing", 404}, {"POST", "/healthz", 405}, {"POST", "/", 405}, {"PATCH", "/v1/jobs/x", 405},
	} {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
		errorOf(t, data)
	}
}

func TestGenerate(t *testing.T) {
	cfg := testConfig(nil)
	_, ts := newTestServer(t, cfg)
	resp, data := post(t, ts.URL+"/v1/generate?n=1&size=64x64", "", nil)
	if resp.StatusCode != 501 || !strings.Contains(errorOf(t, data), "no image generator") {
		t.Fatalf("without a generator: %d %s", resp.StatusCode, data)
	}

	cfg.Generator = fakeGen{}
	_, ts = newTestServer(t, cfg)
	resp, data = post(t, ts.URL+"/v1/generate?size=48x32&seed=3", "", nil)
	if m := decodePNG(t, data); resp.StatusCode != 200 || m.W != 48 || m.H != 32 {
		t.Fatalf("query generate: %d", resp.StatusCode)
	}
	// size=N is a square, as generate --size N is.
	resp, data = post(t, ts.URL+"/v1/generate?size=24", "", nil)
	if resp.StatusCode != 200 || decodePNG(t, data).W != 24 || decodePNG(t, data).H != 24 {
		t.Fatalf("size=24: %d %s", resp.StatusCode, truncate(string(data), 200))
	}
	resp, data = post(t, ts.URL+"/v1/generate", "application/json", []byte(`{"n": 2, "size": "16x8", "seed": 18446744073709551615}`))
	var res struct {
		Images []struct{ Seed uint64 }
	}
	json.Unmarshal(data, &res)
	if resp.StatusCode != 200 || len(res.Images) != 2 || res.Images[0].Seed != 18446744073709551615 {
		t.Fatalf("JSON generate: %d %s", resp.StatusCode, truncate(string(data), 300))
	}
	resp, data = post(t, ts.URL+"/v1/generate", "application/x-www-form-urlencoded", []byte("n=1&size=20x20&async=1"))
	if resp.StatusCode != 202 {
		t.Fatalf("async generate: %d %s", resp.StatusCode, data)
	}
	for _, c := range []struct {
		ct, body string
		code     int
	}{
		{"application/json", `{"n": 9}`, 400},
		{"application/json", `{"n": 0}`, 400},
		{"application/json", `{"size": "5000x5000"}`, 400},
		{"application/json", `{"size": "64x"}`, 400},
		{"application/json", `{"size": "x64"}`, 400},
		{"application/json", `{"n": [1]}`, 400},
		{"application/json", `{"n": 1`, 400},
		{"application/json", `{"colour": "red"}`, 400},
		{"application/x-www-form-urlencoded", "n=%zz", 400},
		{"text/plain", "n=1", 415},
		{"", "n=1", 415},
		{"application/json", `{"class": "cat"}`, 400},
		{"application/json", `{"guidance": 1}`, 400},
	} {
		resp, data := post(t, ts.URL+"/v1/generate", c.ct, []byte(c.body))
		if resp.StatusCode != c.code {
			t.Errorf("%s %q: %d, want %d (%s)", c.ct, c.body, resp.StatusCode, c.code, data)
		}
		errorOf(t, data)
	}

	// A class-conditional generator takes a class and a guidance weight.
	cfg.Generator = fakeGen{classes: []string{"cat", "dog"}}
	_, ts = newTestServer(t, cfg)
	resp, data = post(t, ts.URL+"/v1/generate", "application/json", []byte(`{"size": "8x8", "class": "dog", "guidance": 1.5}`))
	if resp.StatusCode != 200 {
		t.Fatalf("class dog: %d %s", resp.StatusCode, data)
	}
	if m := decodePNG(t, data); math.Abs(float64(m.Pix[0])-2.0/3) > 0.01 {
		t.Fatalf("class dog drew level %v, want 2/3", m.Pix[0])
	}
	for body, want := range map[string]string{`{"class": "cow"}`: "want one of cat, dog", `{"guidance": 30}`: "from 0 to 20",
		`{"guidance": "lots"}`: "guidance"} {
		resp, data := post(t, ts.URL+"/v1/generate", "application/json", []byte(body))
		if msg := errorOf(t, data); resp.StatusCode != 400 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", body, resp.StatusCode, msg, want)
		}
	}
}

func TestModelsHealthAndPage(t *testing.T) {
	cfg := withStreamer(&streamer{})
	cfg.Cards = map[string]string{"bicubic": "the baseline"}
	_, ts := newTestServer(t, cfg)
	resp, data := get(t, ts.URL+"/v1/models")
	var m struct {
		Default  string
		Methods  []modelInfo
		Limits   map[string]float64
		Defaults map[string]string
	}
	if err := json.Unmarshal(data, &m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("models: %d %v %s", resp.StatusCode, err, data)
	}
	byName := map[string]modelInfo{}
	for _, x := range m.Methods {
		byName[x.Name] = x
	}
	if m.Default != "bicubic" || !byName["bicubic"].Default || byName["bicubic"].Card != "the baseline" ||
		byName["param"].Card != "a fake model card" || byName["model"].Available || byName["model"].Error == "" ||
		!byName["param"].Generative || byName["bicubic"].Generative ||
		!byName["stream"].Streams || byName["bicubic"].Streams || m.Limits["max_streamed_pixels"] != 8192*8192 ||
		m.Limits["max_scale"] != 16 || m.Limits["max_upload_bytes"] != 1<<20 ||
		m.Defaults["temperature"] != diffusion.TemperatureSchedule() {
		t.Errorf("models: %s", data)
	}
	resp, data = get(t, ts.URL+"/healthz")
	if resp.StatusCode != 200 || !strings.Contains(string(data), `"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, data)
	}
	resp, data = get(t, ts.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(data), "app.js") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, asset := range []string{"/app.js", "/style.css"} {
		if resp, _ := get(t, ts.URL+asset); resp.StatusCode != 200 {
			t.Errorf("%s: %d", asset, resp.StatusCode)
		}
	}
}

func TestDefaultMethod(t *testing.T) {
	cfg := testConfig(nil)
	cfg.DefaultMethod = "lanczos3"
	s, err := New(cfg)
	if err != nil || s.defaultMethod != "lanczos3" {
		t.Fatalf("%v %q", err, s.defaultMethod)
	}
	cfg.DefaultMethod = "nope"
	if _, err := New(cfg); err == nil {
		t.Error("an unregistered default method was accepted")
	}
	// A "model" that loads becomes the default.
	cfg = testConfig(nil)
	inner := cfg.NewUpscaler
	cfg.NewUpscaler = func(name string, o methods.Options) (render.Method, error) {
		if name == "model" {
			return &paramFake{}, nil
		}
		return inner(name, o)
	}
	if s, err := New(cfg); err != nil || s.defaultMethod != "model" {
		t.Errorf("default with a working model: %q %v", s.defaultMethod, err)
	}
	cfg.MinScale, cfg.MaxScale = 4, 2
	if _, err := New(cfg); err == nil {
		t.Error("an empty scale range was accepted")
	}
}

// TestQueueFull fills the one worker and the one queue place with a
// blocking method: the next request gets 429 with Retry-After at once,
// and the admitted ones finish when released.
func TestQueueFull(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Workers, cfg.Queue = 1, 1
	s, ts := newTestServer(t, cfg)
	body, ct := blockedUpload(t)
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			resp, _ := post(t, ts.URL+"/v1/upscale", ct, body)
			codes <- resp.StatusCode
		}()
	}
	b.wait(t, 1)
	waitFor(t, "one queued request", func() bool { return s.pool.waiting.Load() == 1 })
	start := time.Now()
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(errorOf(t, data), "busy") {
		t.Fatalf("third request: %d %v %s", resp.StatusCode, resp.Header, data)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("429 took %v; it must not wait", d)
	}
	// Metrics show the state while full.
	_, metrics := get(t, ts.URL+"/metrics")
	for _, want := range []string{"zoomdiff_work_running 1", "zoomdiff_work_queue_length 1", `zoomdiff_http_requests_total{route="/v1/upscale",code="429"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	close(b.release)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("admitted request: %d", c)
		}
	}
}

// TestClientGone checks that work is cancelled when the client
// disconnects, and that the slot is freed.
func TestClientGone(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Workers = 1
	s, ts := newTestServer(t, cfg)
	body, ct := blockedUpload(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/upscale", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	b.wait(t, 1)
	cancel()
	b.waitCancelled(t, "the work was not cancelled when the client left")
	<-done
	waitFor(t, "the slot to be freed", func() bool { return s.pool.running.Load() == 0 && len(s.pool.admit) == 0 })
	waitFor(t, "the 499 in the metrics", func() bool {
		_, m := get(t, ts.URL+"/metrics")
		return strings.Contains(string(m), `code="499"`)
	})
}

func TestDeadline(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Timeout = 50 * time.Millisecond
	_, ts := newTestServer(t, cfg)
	body, ct := blockedUpload(t)
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(errorOf(t, data), "limit") {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	if err := <-b.cancelled; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("work ended with %v", err)
	}
}

// serve runs a server made from cfg on a fresh local port and returns it,
// its URL, a function that starts the shutdown, and a channel with Serve's
// result.
func serve(t *testing.T, cfg Config) (s *Server, url string, stop func(), result <-chan error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return s, "http://" + ln.Addr().String(), cancel, errc
}

// serveReturns requires Serve's result to be nil and to come within 10 s,
// after what the test waited for.
func serveReturns(t *testing.T, result <-chan error, after string) {
	t.Helper()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve did not return after %s", after)
	}
}

// TestGracefulShutdown: in-flight work finishes and is answered; new
// connections are refused meanwhile; Serve returns once it is done.
func TestGracefulShutdown(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Grace = 20 * time.Second
	s, url, stop, result := serve(t, cfg)
	body, ct := blockedUpload(t)
	type answer struct {
		code int
		data []byte
	}
	answers := make(chan answer, 1)
	go func() {
		resp, data := post(t, url+"/v1/upscale", ct, body)
		answers <- answer{resp.StatusCode, data}
	}()
	b.wait(t, 1)
	stop()
	waitFor(t, "draining", func() bool { return s.draining.Load() })
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-result:
		t.Fatalf("Serve returned (%v) with work in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	a := <-answers
	if a.code != 200 {
		t.Fatalf("in-flight request: %d %s", a.code, a.data)
	}
	decodePNG(t, a.data)
	serveReturns(t, result, "the work finished")
}

// TestLongWork checks that work may outlast the body timeout: net/http's
// ReadTimeout would cancel the request's context at that point.
func TestLongWork(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.BodyTimeout = 100 * time.Millisecond
	_, url, _, _ := serve(t, cfg)
	body, ct := blockedUpload(t)
	go func() {
		b.wait(t, 1)
		time.Sleep(400 * time.Millisecond)
		close(b.release)
	}()
	if resp, data := post(t, url+"/v1/upscale", ct, body); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	select {
	case err := <-b.cancelled:
		t.Fatalf("work was cancelled: %v", err)
	default:
	}
}

// TestSlowBody: a client that stops sending its body is cut off after
// BodyTimeout.
func TestSlowBody(t *testing.T) {
	cfg := testConfig(nil)
	cfg.BodyTimeout = 200 * time.Millisecond
	_, url, _, _ := serve(t, cfg)
	body, ct := smallUpload(t, "scale", "2")
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	c.Write(body[:len(body)/2]) // and then nothing
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	answer, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(answer), "HTTP/1.1 400") || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %q", time.Since(start), truncate(string(answer), 200))
	}
}

// TestShutdownGraceOver: work that outlives the grace period is cancelled
// and answered 503, and Serve still returns.
func TestShutdownGraceOver(t *testing.T) {
	b, cfg := blockedConfig()
	cfg.Grace = 100 * time.Millisecond
	_, url, stop, result := serve(t, cfg)
	body, ct := blockedUpload(t)
	codes := make(chan int, 1)
	go func() {
		resp, data := post(t, url+"/v1/upscale", ct, body)
		if resp.StatusCode != 503 || !strings.Contains(errorOf(t, data), "shutting down") {
			t.Errorf("cut request: %d %s", resp.StatusCode, data)
		}
		codes <- resp.StatusCode
	}()
	// A job in flight is cancelled too.
	jb, jct := smallUpload(t, "scale", "2", "method", "block", "async", "1")
	if resp, data := post(t, url+"/v1/upscale", jct, jb); resp.StatusCode != 202 {
		t.Fatalf("job: %d %s", resp.StatusCode, data)
	}
	b.wait(t, 2)
	start := time.Now()
	stop()
	serveReturns(t, result, "the grace period")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with a 100 ms grace", d)
	}
	for range 2 {
		select {
		case <-b.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("work was not cancelled")
		}
	}
	<-codes
}

// TestPanickingMethod: a bug in a method is a 500 for that request (and a
// failed job), not a dropped connection or a dead server.
func TestPanickingMethod(t *testing.T) {
	s, ts := newTestServer(t, testConfig(nil))
	body, ct := smallUpload(t, "scale", "2", "method", "panic")
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 500 || !strings.Contains(errorOf(t, data), "panicked") {
		t.Fatalf("sync: %d %s", resp.StatusCode, data)
	}
	body, ct = smallUpload(t, "scale", "2", "method", "panic", "async", "1")
	_, data = post(t, ts.URL+"/v1/upscale", ct, body)
	var v jobView
	json.Unmarshal(data, &v)
	waitFor(t, "the job to fail", func() bool {
		v, _, _, _ = s.jobs.get(v.ID)
		return v.State == stateFailed
	})
	if v.Code != 500 || !strings.Contains(v.Error, "panicked") {
		t.Errorf("job %+v", v)
	}
}

func TestMetricsFormat(t *testing.T) {
	_, ts := newTestServer(t, testConfig(nil))
	body, ct := smallUpload(t, "scale", "2")
	post(t, ts.URL+"/v1/upscale", ct, body)
	post(t, ts.URL+"/v1/upscale", "text/plain", nil)
	get(t, ts.URL+"/v1/jobs/abc")
	resp, data := get(t, ts.URL+"/metrics")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	text := string(data)
	for _, want := range []string{
		`zoomdiff_http_requests_total{route="/v1/upscale",code="200"} 1`,
		`zoomdiff_http_requests_total{route="/v1/upscale",code="415"} 1`,
		`zoomdiff_http_requests_total{route="/v1/jobs/{id}",code="404"} 1`,
		`zoomdiff_http_request_duration_seconds_bucket{route="/v1/upscale",le="+Inf"} 2`,
		`zoomdiff_http_request_duration_seconds_count{route="/v1/upscale"} 2`,
		"# TYPE zoomdiff_http_request_duration_seconds histogram",
		"zoomdiff_http_requests_in_flight 1", // this scrape
		"zoomdiff_work_queue_length 0",
		`zoomdiff_jobs{state="running"} 0`,
		"process_max_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every sample line is `name{labels} value` or `name value`; buckets are
	// cumulative.
	var prev float64
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil || i < 1 {
			t.Errorf("bad sample line %q", line)
		}
		if strings.Contains(line, `_bucket{route="/v1/upscale"`) {
			if v < prev {
				t.Errorf("bucket not cumulative: %q", line)
			}
			prev = v
		}
	}
}

// A coarse JPEG given to the benchmark model gets methods.Note's advice,
// in the X-Zoomdiff-Note header of a PNG answer and in a job's view; a
// PNG, a fine JPEG or another method gets none.
func TestUpscaleNote(t *testing.T) {
	_, ts := newTestServer(t, noteConfig())
	coarse := jpegBytes(t, 16, 12, methods.RealJPEGQuality-20)
	for _, c := range []struct {
		name   string
		img    []byte
		method string
		note   bool
	}{
		{"coarse JPEG, model", coarse, "model", true},
		{"fine JPEG, model", jpegBytes(t, 16, 12, methods.RealJPEGQuality+5), "model", false},
		{"PNG, model", pngBytes(t, 16, 12, false), "model", false},
		{"coarse JPEG, bicubic", coarse, "bicubic", false},
	} {
		body, ct := multipartBody(t, c.img, "scale", "2", "method", c.method)
		resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, data)
		}
		if got := strings.Contains(resp.Header.Get("X-Zoomdiff-Note"), "compressed photos"); got != c.note {
			t.Errorf("%s: X-Zoomdiff-Note %q, want one: %v", c.name, resp.Header.Get("X-Zoomdiff-Note"), c.note)
		}
		body, ct = multipartBody(t, c.img, "scale", "2", "method", c.method, "async", "1")
		resp, data = post(t, ts.URL+"/v1/upscale", ct, body)
		var v jobView
		if err := json.Unmarshal(data, &v); err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s async: %d %s", c.name, resp.StatusCode, data)
		}
		get(t, ts.URL+"/v1/jobs/"+v.ID+"/events") // returns once the job is done
		_, data = get(t, ts.URL+"/v1/jobs/"+v.ID)
		if err := json.Unmarshal(data, &v); err != nil || v.State != stateDone {
			t.Fatalf("%s: job %s", c.name, data)
		}
		if got := strings.Contains(v.Note, "compressed photos"); got != c.note {
			t.Errorf("%s: job note %q, want one: %v", c.name, v.Note, c.note)
		}
	}
}

// A method that is not generative is not handed the seed the server draws
// for sampling: LIIF takes no parameters and refused every request.
func TestDeterministicMethodWithoutSeed(t *testing.T) {
	cfg := testConfig(nil)
	cfg.Model = "random:liif" // untrained weights: the test is about the request, not the pixels
	_, ts := newTestServer(t, cfg)
	body, ct := smallUpload(t, "scale", "2", "method", "liif")
	if resp, data := post(t, ts.URL+"/v1/upscale", ct, body); resp.StatusCode != 200 {
		t.Fatalf("liif: %d %s", resp.StatusCode, data)
	} else if m := decodePNG(t, data); m.W != 16 || m.H != 16 {
		t.Errorf("liif gave %dx%d, want 16x16", m.W, m.H)
	}
	// Settings the client gives are still the method's to refuse.
	body, ct = smallUpload(t, "scale", "2", "method", "liif", "param", "eta=1")
	if resp, data := post(t, ts.URL+"/v1/upscale", ct, body); resp.StatusCode != 400 || !strings.Contains(errorOf(t, data), "no parameters") {
		t.Errorf("liif with a param: %d %s", resp.StatusCode, data)
	}
}

// Deleting a job ends its event stream with the job cancelled, as any
// other end would, not with "gone" (which the web page shows as an error).
func TestJobEventsOnDelete(t *testing.T) {
	b, cfg := blockedConfig()
	defer close(b.release)
	_, ts := newTestServer(t, cfg)
	body, ct := smallUpload(t, "scale", "2", "method", "block", "async", "1")
	_, data := post(t, ts.URL+"/v1/upscale", ct, body)
	var v jobView
	json.Unmarshal(data, &v)
	b.wait(t, 1)
	resp, err := http.Get(ts.URL + "/v1/jobs/" + v.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1024)
	if n, err := resp.Body.Read(first); err != nil || !strings.Contains(string(first[:n]), `"state":"running"`) {
		t.Fatalf("first event %q (%v)", first[:n], err)
	}
	req, _ := http.NewRequest("DELETE", ts.URL+"/v1/jobs/"+v.ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("delete: %v %v", resp, err)
	}
	rest, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(string(rest), "event: job\n") || !strings.Contains(string(rest), `"state":"cancelled"`) {
		t.Errorf("the stream ended with %q, want the job cancelled", rest)
	}
}

// TestUploadsBounded: with MaxUploads uploads being read, the next
// request gets 429 with Retry-After before its body is read; once the
// slow upload is whole, it is served and the place is free again.
func TestUploadsBounded(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxUploads = 1
	s, ts := newTestServer(t, cfg)
	body, ct := smallUpload(t, "scale", "2", "method", "bicubic")
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/upscale", pr)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow upload being read", func() bool { return len(s.uploads) == 1 })
	resp, data := post(t, ts.URL+"/v1/upscale", ct, body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(errorOf(t, data), "uploads") {
		t.Fatalf("second upload while one is read: %d %v %s", resp.StatusCode, resp.Header, data)
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if c := <-slow; c != 200 {
		t.Fatalf("the slow upload: %d", c)
	}
	if resp, data := post(t, ts.URL+"/v1/upscale", ct, body); resp.StatusCode != 200 {
		t.Errorf("an upload after the slow one: %d %s", resp.StatusCode, data)
	}
	// Generation carries no image: it never waits on the upload places.
	s.uploads <- struct{}{}
	defer func() { <-s.uploads }()
	if resp, _ := post(t, ts.URL+"/v1/generate", "", nil); resp.StatusCode == 429 {
		t.Error("generate refused for want of an upload place")
	}
}
