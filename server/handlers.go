package server

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/models"
)

//go:embed web
var webFS embed.FS

// pngLevel trades size for speed: answers are interactive, and BestSpeed
// encodes about three times faster than the default for 10–20 % more bytes.
const pngLevel = zlib.BestSpeed

// writeTimeout bounds how long a client may take to read an answer while
// a worker slot is held for it. A streamed answer is rendered as it is
// written, so the deadline is renewed after every band: it bounds a
// client that stops reading, not the render. A variable so tests can
// shorten it.
var writeTimeout = 2 * time.Minute

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/upscale", s.handleUpscale)
	m.HandleFunc("POST /v1/generate", s.handleGenerate)
	m.HandleFunc("GET /v1/models", s.handleModels)
	m.HandleFunc("GET /v1/jobs/{id}", s.handleJob)
	m.HandleFunc("DELETE /v1/jobs/{id}", s.handleJobDelete)
	m.HandleFunc("GET /v1/jobs/{id}/events", s.handleJobEvents)
	m.HandleFunc("GET /v1/jobs/{id}/images/{i}", s.handleJobImage)
	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /metrics", s.metrics.handler(s))
	// Other methods on the API paths, and unknown API paths, answer in
	// JSON like the rest of the API rather than with the mux's plain text.
	for path, allow := range map[string]string{
		"/v1/upscale": "POST", "/v1/generate": "POST", "/v1/models": "GET",
		"/v1/jobs/{id}": "GET, DELETE", "/v1/jobs/{id}/events": "GET", "/v1/jobs/{id}/images/{i}": "GET",
		"/healthz": "GET", "/metrics": "GET",
	} {
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, errorf(http.StatusMethodNotAllowed, "%s %s: use %s", r.Method, r.URL.Path, allow))
		})
	}
	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "no API endpoint %s", r.URL.Path))
	})
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	// "/" rather than "GET /": a method in this pattern would conflict
	// with "/v1/" (each would match requests the other does not).
	m.Handle("/", securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errorf(http.StatusMethodNotAllowed, "%s %s: use GET", r.Method, r.URL.Path))
			return
		}
		files.ServeHTTP(w, r)
	})))
	s.mux = m
}

// securityHeaders keeps the page to its own scripts and lets it show the
// blob: and data: URLs it makes from results.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// writeJSON answers v with the given status.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers {"error": msg} with the error's status, plus
// Retry-After when it has one.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Code, map[string]string{"error": e.Msg})
}

// errBusy is the 429 for a full queue.
func (s *Server) errBusy() *apiError {
	return &apiError{Code: http.StatusTooManyRequests,
		Msg:        fmt.Sprintf("server is busy (%d running, %d queued); retry later", s.cfg.Workers, s.cfg.Queue),
		RetryAfter: s.pool.retryAfter()}
}

func (s *Server) errDraining() *apiError {
	return &apiError{Code: http.StatusServiceUnavailable, Msg: "server is shutting down; retry later", RetryAfter: 5}
}

func (s *Server) handleUpscale(w http.ResponseWriter, r *http.Request) {
	fields, img, ok := s.accept(w, r, true, false)
	if !ok {
		return
	}
	req, err := s.parseUpscaleFields(fields)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.image = img
	if err := s.precheck(req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.dispatch(w, r, "upscale", req.delivery, func(ctx context.Context, report reporter) (*outcome, error) {
		return s.runUpscale(ctx, req, report)
	})
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Generator == nil {
		refuse(w, errorf(http.StatusNotImplemented, "this server has no image generator configured"))
		return
	}
	fields, _, ok := s.accept(w, r, false, true)
	if !ok {
		return
	}
	req, err := s.parseGenerateFields(fields)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.dispatch(w, r, "generate", req.delivery, func(ctx context.Context, report reporter) (*outcome, error) {
		return s.runGenerate(ctx, req, report)
	})
}

// accept reads a work request's fields, and its image where allowImage,
// unless the server is draining; allowJSON admits a JSON body. When it
// cannot, it answers the client itself and ok is false.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, allowImage, allowJSON bool) (fields url.Values, img []byte, ok bool) {
	if s.draining.Load() {
		refuse(w, s.errDraining())
		return nil, nil, false
	}
	if allowImage {
		select {
		case s.uploads <- struct{}{}:
			defer func() { <-s.uploads }()
		default:
			refuse(w, &apiError{Code: http.StatusTooManyRequests, RetryAfter: s.pool.retryAfter(),
				Msg: fmt.Sprintf("server is busy reading %d uploads; retry later", s.cfg.MaxUploads)})
			return nil, nil, false
		}
	}
	fields, img, err := s.readFields(w, r, allowImage, allowJSON)
	if err != nil {
		refuse(w, err)
		return nil, nil, false
	}
	return fields, img, true
}

// dispatch runs a parsed request's work as d asks: as a job of this kind,
// or at once, answering with its images.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, kind string, d delivery, run func(context.Context, reporter) (*outcome, error)) {
	if d.async {
		s.submitJob(w, kind, run)
		return
	}
	s.runSync(w, r, d.json, run)
}

// fail answers an error found after the body was read.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := err.(*apiError); ok {
		writeError(w, ae)
		return
	}
	writeError(w, errorf(http.StatusInternalServerError, "%v", err))
}

// refuse answers an error found before or while reading the body, and
// closes the connection afterwards. Otherwise net/http would try to read
// the rest of the body before answering, to keep the connection, and a
// client that stalled mid-upload (the error being its read timeout) would
// never get the answer.
func refuse(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close")
	ae, ok := err.(*apiError)
	if !ok {
		ae = errorf(http.StatusInternalServerError, "%v", err)
	}
	writeError(w, ae)
}

// runSync admits, queues and runs work for a synchronous request and
// writes its images.
func (s *Server) runSync(w http.ResponseWriter, r *http.Request, asJSON bool, run func(context.Context, reporter) (*outcome, error)) {
	if !s.pool.tryAdmit() {
		writeError(w, s.errBusy())
		return
	}
	defer s.pool.leave()
	ctx, cancel := s.workContext(r.Context())
	defer cancel()
	release, err := s.pool.acquire(ctx)
	if err != nil {
		writeError(w, s.classify(ctx, r.Context(), err))
		return
	}
	// The slot is held until the answer is written: the images are in
	// memory until then, and the slot count is what bounds that memory.
	defer release()
	failed := func(err error) {
		e := s.classify(ctx, r.Context(), err)
		if e.Code >= 500 && e.Code != http.StatusServiceUnavailable {
			s.log.Error("work failed", "route", r.URL.Path, "err", err)
		}
		writeError(w, e)
	}
	out, err := safeRun(ctx, nil, run)
	if err != nil {
		failed(err)
		return
	}
	rc := http.NewResponseController(w)
	renew := func() { rc.SetWriteDeadline(time.Now().Add(writeTimeout)) }
	renew()
	resultHeaders := func(h http.Header) {
		h.Set("X-Zoomdiff-Method", out.method)
		h.Set("X-Zoomdiff-Size", fmt.Sprintf("%dx%d", out.w, out.h))
		if out.note != "" {
			h.Set("X-Zoomdiff-Note", out.note)
		}
	}
	if !asJSON {
		// Streamed row by row: no encoded copy of a large answer is held.
		// A streamed method renders as the PNG is written, so the headers
		// wait for its first bytes: a render that fails before them can
		// still answer with its error.
		body := &headersOnWrite{w: w, set: func(h http.Header) {
			resultHeaders(h)
			h.Set("X-Zoomdiff-Seed", strconv.FormatUint(out.seeds[0], 10))
			h.Set("Content-Type", "image/png")
			h.Set("Content-Disposition", fmt.Sprintf(`inline; filename="zoomdiff-%dx%d.png"`, out.w, out.h))
		}}
		bw := bufio.NewWriterSize(body, 64<<10)
		err := out.encode(ctx, 0, bw, renew)
		if err == nil {
			err = bw.Flush()
		}
		switch {
		case err == nil:
		case !body.started:
			failed(fmt.Errorf("rendering the image: %w", err))
		default:
			// The 200 is sent. Ending the body as usual would hand the
			// client a cut-off PNG as a whole one; cutting the connection
			// tells it the answer broke.
			s.log.Warn("writing the answer", "err", err)
			panic(http.ErrAbortHandler)
		}
		return
	}
	type image struct {
		Seed uint64 `json:"seed"`
		PNG  string `json:"png"`
	}
	res := struct {
		Method string  `json:"method"`
		Note   string  `json:"note,omitempty"`
		Width  int     `json:"width"`
		Height int     `json:"height"`
		Images []image `json:"images"`
	}{Method: out.method, Note: out.note, Width: out.w, Height: out.h}
	for i := range out.outputs {
		var buf bytes.Buffer
		if err := out.encode(ctx, i, &buf, nil); err != nil {
			failed(fmt.Errorf("encoding image %d: %w", i, err))
			return
		}
		res.Images = append(res.Images, image{out.seeds[i], base64.StdEncoding.EncodeToString(buf.Bytes())})
		out.outputs[i] = nil // let it go before the next one is encoded
	}
	resultHeaders(w.Header())
	writeJSON(w, http.StatusOK, res)
}

// headersOnWrite sets a response's headers just before its first byte.
type headersOnWrite struct {
	w       http.ResponseWriter
	set     func(http.Header)
	started bool
}

func (o *headersOnWrite) Write(p []byte) (int, error) {
	if !o.started {
		o.started = true
		o.set(o.w.Header())
	}
	return o.w.Write(p)
}

// modelInfo is one entry of /v1/models.
type modelInfo struct {
	Name      string `json:"name"`
	Summary   string `json:"summary"`
	Card      string `json:"card,omitempty"`
	Available bool   `json:"available"`
	// Generative says the method draws different samples for one input
	// (seed, samples and sampling settings apply).
	Generative bool `json:"generative"`
	// Streams says the method renders band by band, so that its outputs
	// may be as large as max_streamed_pixels rather than max_output_pixels.
	Streams bool   `json:"streams"`
	Error   string `json:"error,omitempty"`
	Default bool   `json:"default,omitempty"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	var list []modelInfo
	for _, m := range s.methods {
		info := modelInfo{Name: m.Name, Summary: m.Summary, Card: s.cfg.Cards[m.Name], Available: true, Default: m.Name == s.defaultMethod}
		// Creating a method can be expensive (weights) and is cached; the
		// kernels are free, so this is cheap after the first call.
		if b, err := s.base(m.Name); err != nil {
			info.Available, info.Error = false, err.Error()
		} else {
			info.Generative, info.Streams = b.generative, b.streams
			if b.card != "" {
				info.Card = b.card
			}
		}
		list = append(list, info)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"default":   s.defaultMethod,
		"methods":   list,
		"generator": s.generatorInfo(),
		// The web page's help states the default temperature and steps
		// from here, so they are written once (packages diffusion, models).
		"defaults": map[string]any{"temperature": diffusion.TemperatureSchedule(), "steps": models.StepsHelp()},
		"limits": map[string]any{
			"max_upload_bytes":    s.cfg.MaxUploadBytes,
			"max_input_pixels":    s.cfg.MaxInputPixels,
			"max_output_pixels":   s.cfg.MaxOutputPixels,
			"max_streamed_pixels": s.cfg.MaxStreamedPixels,
			"min_scale":           s.cfg.MinScale,
			"max_scale":           s.cfg.MaxScale,
			"max_samples":         s.cfg.MaxSamples,
			"max_generate":        s.cfg.MaxGenerate,
			"max_steps":           s.cfg.MaxSteps,
			"max_tile":            s.cfg.MaxTile,
			"workers":             s.cfg.Workers,
			"queue":               s.cfg.Queue,
			"timeout_seconds":     s.cfg.Timeout.Seconds(),
			"job_ttl_seconds":     s.cfg.JobTTL.Seconds(),
		},
	})
}

// generatorInfo says whether /v1/generate works and which classes it takes.
func (s *Server) generatorInfo() map[string]any {
	info := map[string]any{"available": s.cfg.Generator != nil}
	if s.cfg.Generator != nil {
		if c := s.cfg.Generator.Classes(); len(c) > 0 {
			info["classes"] = c
		}
	}
	return info
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	status, code := "ok", http.StatusOK
	if s.draining.Load() {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{
		"status": status, "running": s.pool.running.Load(), "queued": s.pool.waiting.Load(),
		"workers": s.cfg.Workers, "queue": s.cfg.Queue,
	})
}

// jsonCompact marshals v on one line, as an SSE data field needs.
func jsonCompact(v any) ([]byte, error) { return json.Marshal(v) }
