package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// fuzzServer has small limits so that fuzzed inputs stay cheap.
func fuzzServer(t testing.TB) *Server {
	cfg := DefaultConfig()
	cfg.Logger, cfg.MaxUploadBytes, cfg.MaxInputPixels, cfg.MaxOutputPixels = quiet, 64<<10, 128*128, 256*256
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzParseUpscaleRequest feeds arbitrary content types and bodies to the
// request reader and field parser (not the upscaler): every input must give
// either a well-formed request within the limits or a 4xx error, never a
// panic or a 5xx.
func FuzzParseUpscaleRequest(f *testing.F) {
	body, ct := multipartBody(f, pngBytes(f, 4, 3, false), "scale", "2", "method", "bicubic", "samples", "2", "seed", "9", "param", "eta=1")
	f.Add(ct, body)
	body, ct = multipartBody(f, pngBytes(f, 4, 3, true), "size", "x9", "async", "1")
	f.Add(ct, body)
	f.Add("application/x-www-form-urlencoded", []byte("scale=2"))
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/upscale", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		fields, img, err := s.readFields(w, r, true, false)
		var req *upscaleRequest
		if err == nil {
			req, err = s.parseUpscaleFields(fields)
		}
		if err == nil {
			req.image = img
			err = s.precheck(req)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Code < 400 || ae.Code > 499 || ae.Msg == "" {
				t.Fatalf("error %v is not a 4xx answer", err)
			}
			return
		}
		if !s.hasMethod(req.method) || req.samples < 1 || req.samples > s.cfg.MaxSamples || len(req.image) == 0 {
			t.Fatalf("accepted a bad request: %+v", req)
		}
		if (req.scale == 0) == (req.size == "") {
			t.Fatalf("accepted scale %v and size %q", req.scale, req.size)
		}
		if req.scale != 0 && (req.scale < s.cfg.MinScale || req.scale > s.cfg.MaxScale) {
			t.Fatalf("accepted scale %v", req.scale)
		}
		if _, bad := req.params["seed"]; bad {
			t.Fatal("seed leaked into params")
		}
		for name, hi := range map[string]int{"steps": s.cfg.MaxSteps, "tile": s.cfg.MaxTile} {
			if v, ok := req.params[name]; ok {
				if n, err := strconv.Atoi(v); err != nil || n < 1 || n > hi {
					t.Fatalf("accepted %s %q", name, v)
				}
			}
		}
	})
}

// FuzzUpscaleImage sends arbitrary bytes as the uploaded image through the
// whole handler (header check, imageio.Decode, bicubic ×2, PNG encoding):
// the answer must be a 200 with a valid image of the right size, or a 4xx
// with a JSON error; never a 5xx or a panic.
func FuzzUpscaleImage(f *testing.F) {
	f.Add(pngBytes(f, 5, 4, false))
	f.Add(pngBytes(f, 3, 3, true))
	f.Add(hugePNGHeader(1<<20, 1<<20))
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, data []byte) {
		body, ct := multipartBody(t, data, "scale", "2", "method", "bicubic")
		r := httptest.NewRequest("POST", "/v1/upscale", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch {
		case w.Code == http.StatusOK:
			in, err := imageio.ProbeBytes(data)
			if err != nil {
				t.Fatalf("200 for an image whose header does not parse: %v", err)
			}
			// The size as displayed: orientation applied.
			if m := decodePNG(t, w.Body.Bytes()); m.W != 2*in.W || m.H != 2*in.H {
				t.Fatalf("%dx%d input gave %dx%d", in.W, in.H, m.W, m.H)
			}
		case w.Code >= 400 && w.Code < 500:
			if !strings.Contains(w.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("%d without a JSON error", w.Code)
			}
			errorOf(t, w.Body.Bytes())
		default:
			t.Fatalf("status %d: %s", w.Code, truncate(w.Body.String(), 300))
		}
	})
}
