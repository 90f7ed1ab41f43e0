package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/render"
)

// Generator makes new images from noise. The server answers /v1/generate
// with 501 Not Implemented until one is configured.
type Generator interface {
	// Generate returns n images of w×h drawn with the given seed, of
	// class ("" for the classes in turn, or for a model without classes)
	// at classifier-free guidance weight guidance (negative: the model's
	// default). It should honour ctx cancellation between denoising steps.
	Generate(ctx context.Context, n, w, h int, seed uint64, class string, guidance float64) ([]*imageio.Image, error)
	// Classes names the classes a request may ask for; none for an
	// unconditional model.
	Classes() []string
}

// ParamUpscaler is an optional interface for methods that are expensive to
// create, such as a learned model that loads its weights in its factory.
// The server creates such a method once (with methods.Options.Model and no
// Params) and calls WithParams per request with that request's settings
// (seed, steps, …), instead of calling the factory, and so reloading the
// weights, every time. The returned Upscaler is used by one request only;
// whatever it shares with its parent must be safe for concurrent use.
type ParamUpscaler interface {
	render.Method
	WithParams(params map[string]string) (render.Method, error)
}

// ProgressReporter is an optional interface for upscalers that can say how
// far along they are (e.g. after each denoising step). The server calls
// SetProgress on the per-request instance before Upscale; jobs and the web
// page show the fraction as the sampling stage. (The model, a
// *diffusion.Upscaler, also reports its condition through its options.)
type ProgressReporter interface {
	SetProgress(func(done, total int))
}

// Carder is an optional interface for methods with a model card (what the
// model was trained on, its scores and limits), shown by /v1/models.
type Carder interface {
	Card() string
}

// Config configures a Server. Start from DefaultConfig: every field
// means what it holds. The tagged fields are `zoomdiff serve`'s flags.
type Config struct {
	// Model is the weights file passed to learned methods as
	// methods.Options.Model.
	Model string `opt:"model" help:"weights file for the learned method"`
	// Condition is the condition network the SR model samples with,
	// passed as methods.Options.Condition ("": builtin:cond where it
	// fits). Requests cannot name one: it is a file on the server.
	Condition string `opt:"condition" help:"condition network file for the SR model (default: builtin:cond where it fits)"`
	// Cards holds model-card text by method name, for methods that do not
	// implement Carder.
	Cards map[string]string
	// DefaultMethod is used when a request names none. Empty means "model"
	// when it is offered and can be created, else "bicubic".
	DefaultMethod string `opt:"method" help:"default method (empty: model if it loads, else bicubic)"`
	// Generator serves /v1/generate; nil answers 501.
	Generator Generator

	// Workers is how many requests run at once. Each method is itself
	// multi-threaded, so more workers than cores buys little.
	Workers int `opt:"workers" help:"requests worked on at once"`
	// Queue is how many admitted requests may wait for a worker (0: none).
	// Beyond Workers+Queue the server answers 429.
	Queue int `opt:"queue" help:"requests that may wait for a worker before 429"`
	// Timeout bounds each request's work, queueing included.
	Timeout time.Duration `opt:"timeout" help:"per-request work deadline, queueing included"`
	// Grace is how long shutdown lets admitted work finish before
	// cancelling it.
	Grace time.Duration `opt:"grace" help:"on SIGINT/SIGTERM, how long admitted work may finish before it is cancelled"`

	// MaxUploadBytes bounds a request body.
	MaxUploadBytes int64 `opt:"max-upload" help:"largest request body in bytes"`
	// MaxUploads bounds the image uploads read at once. Each holds up to
	// MaxUploadBytes before its request is admitted or refused (the pool
	// bounds only admitted ones), so without it many clients uploading
	// together could hold gigabytes; beyond it a request gets 429 before
	// its body is read.
	MaxUploads int `opt:"max-uploads" help:"most image uploads read at once"`
	// BodyTimeout bounds how long a client may take to send its request
	// body, so that slow-drip uploads cannot hold connections and memory
	// forever.
	BodyTimeout time.Duration `opt:"body-timeout" help:"longest a client may take to send its request body"`
	// MaxInputPixels bounds the uploaded image, checked on its header
	// before decoding.
	MaxInputPixels int64 `opt:"max-input-pixels" help:"largest input image in pixels"`
	// MaxOutputPixels bounds each output image of a method that makes it
	// whole (4096×4096 by default: 200 MB as float32 RGB per image while
	// it is being made).
	MaxOutputPixels int64 `opt:"max-output-pixels" help:"largest output image in pixels of a method that makes it whole"`
	// MaxStreamedPixels bounds each output of a method that renders band
	// by band (render.Streamer: the model), whose memory is a band's
	// whatever the size: only time grows with it.
	MaxStreamedPixels int64 `opt:"max-streamed-pixels" help:"largest output image in pixels of the model, which renders band by band in bounded memory"`
	// MinScale and MaxScale bound the scale factor, and the per-axis ratio
	// of output to input size when a size is given.
	MinScale float64 `opt:"min-scale" help:"smallest scale factor"`
	MaxScale float64 `opt:"max-scale" help:"largest scale factor"`
	// MaxSamples bounds samples per upscale.
	MaxSamples int `opt:"max-samples" help:"most samples per upscale"`
	// MaxGenerate bounds images per generation.
	MaxGenerate int `opt:"max-generate" help:"most images per generation"`
	// MaxSteps bounds the steps parameter, given as its own field or as
	// param=steps=N.
	MaxSteps int `opt:"max-steps" help:"most denoising steps a request may ask for"`
	// MaxTile bounds param=tile=N, the window a diffusion method samples
	// in: its memory grows faster than the window's area (`zoomdiff
	// upscale` ×2 of a 181×120 input peaked at 0.26 GB with windows of 64,
	// 0.56 GB at 96, 1.5 GB at 128 and 1.9 GB in one window), so an
	// unbounded one lets a single request exhaust the server's memory.
	MaxTile int `opt:"max-tile" help:"largest sampling window (param tile) a request may ask for"`

	// MaxJobs bounds stored asynchronous jobs. When full, the oldest
	// finished job is dropped; if none has finished, 429.
	MaxJobs int `opt:"max-jobs" help:"most stored async jobs"`
	// JobTTL is how long a finished job's results are kept.
	JobTTL time.Duration `opt:"job-ttl" help:"how long finished async results are kept"`
	// MaxJobBytes bounds the PNG bytes all stored jobs hold; beyond it the
	// oldest finished jobs are dropped early.
	MaxJobBytes int64 `opt:"max-job-bytes" help:"PNG bytes all stored async results may hold"`

	// Logger receives one line per request and lifecycle messages.
	Logger *slog.Logger
	// NewUpscaler creates methods (methods.New; tests inject fakes).
	NewUpscaler func(name string, opts methods.Options) (render.Method, error)
	// Methods lists the methods offered (methods.List).
	Methods func() []methods.Info
}

// DefaultConfig serves the methods table's methods with 2 workers and a
// queue of 8, 5 minutes a request, 30 s of grace at shutdown, 32 MiB
// uploads sent within a minute and 8 of them read at once, inputs and
// whole outputs up to 4096×4096 pixels and the model's streamed outputs
// up to 8192×8192, scales 0.1 to 16, at most 4 samples, 4 generated images, 1000 steps and sampling
// windows of 96 a request (every window measured in models/README.md),
// and 32 async jobs kept 10 minutes within 512 MiB.
func DefaultConfig() Config {
	return Config{
		Workers: 2, Queue: 8, Timeout: 5 * time.Minute, Grace: 30 * time.Second,
		MaxUploadBytes: 32 << 20, MaxUploads: 8, BodyTimeout: time.Minute,
		MaxInputPixels: 4096 * 4096, MaxOutputPixels: 4096 * 4096, MaxStreamedPixels: 8192 * 8192,
		MinScale: 0.1, MaxScale: 16, MaxSamples: 4, MaxGenerate: 4, MaxSteps: 1000, MaxTile: 96,
		MaxJobs: 32, JobTTL: 10 * time.Minute, MaxJobBytes: 512 << 20,
		Logger: slog.Default(), NewUpscaler: methods.New, Methods: methods.List,
	}
}

// Check refuses a configuration no server can run with.
func (c Config) Check() error {
	switch {
	case c.Workers < 1 || c.Queue < 0:
		return fmt.Errorf("server: %d workers and a queue of %d: want at least 1 worker and a queue of at least 0", c.Workers, c.Queue)
	case c.Timeout <= 0 || c.Grace < 0 || c.BodyTimeout <= 0 || c.JobTTL <= 0:
		return fmt.Errorf("server: timeout %v, grace %v, body timeout %v, job TTL %v: want positive durations (grace may be 0)", c.Timeout, c.Grace, c.BodyTimeout, c.JobTTL)
	case c.MaxUploadBytes < 1 || c.MaxUploads < 1 || c.MaxInputPixels < 1 || c.MaxOutputPixels < 1 || c.MaxStreamedPixels < 1 || c.MaxJobBytes < 1:
		return errors.New("server: the upload, concurrent-upload, pixel and job-byte limits must be at least 1")
	case c.MaxSamples < 1 || c.MaxGenerate < 1 || c.MaxSteps < 1 || c.MaxTile < 1 || c.MaxJobs < 1:
		return fmt.Errorf("server: max samples %d, generate %d, steps %d, tile %d and jobs %d must be at least 1", c.MaxSamples, c.MaxGenerate, c.MaxSteps, c.MaxTile, c.MaxJobs)
	case !(c.MinScale > 0) || !(c.MaxScale >= c.MinScale) || math.IsInf(c.MaxScale, 0):
		return fmt.Errorf("server: scale range [%g, %g]: want 0 < min ≤ max, finite", c.MinScale, c.MaxScale)
	case c.Logger == nil || c.NewUpscaler == nil || c.Methods == nil:
		return errors.New("server: Logger, NewUpscaler and Methods must be set (start from DefaultConfig)")
	}
	return nil
}

// Server serves the API and the web page. Create it with New; it can Serve
// once (shutdown cancels its work context for good).
type Server struct {
	cfg     Config
	log     *slog.Logger
	pool    *pool
	uploads chan struct{} // one token per image upload being read (Config.MaxUploads)
	jobs    *jobStore
	metrics *metrics
	mux     *http.ServeMux

	// workCtx is the parent of all work; cancelling it is the last step
	// of shutdown, when the grace period is over.
	workCtx    context.Context
	cancelWork context.CancelFunc
	draining   atomic.Bool
	jobsMu     sync.Mutex    // orders job starts against shutdown's wait
	quit       chan struct{} // closed when shutdown starts, ends event streams
	handlers   sync.WaitGroup
	jobsWG     sync.WaitGroup

	defaultMethod string
	methods       []methods.Info

	baseMu sync.Mutex
	bases  map[string]*baseEntry
}

// baseEntry caches what the server learned by creating a method with no
// params: the instance (for ParamUpscalers, reused), that it is a plain
// Upscaler (to be created per request with params), or that it fails.
type baseEntry struct {
	param      ParamUpscaler // nil for plain methods
	card       string
	streams    bool  // renders band by band (render.Streamer): MaxStreamedPixels applies
	generative bool  // draws different samples (render.Generative)
	err        error // the method cannot be created
}

// New checks cfg and returns a Server. When DefaultMethod is empty and the
// "model" method is offered, New creates it once (loading its weights)
// to decide whether it can be the default; a failure is logged, not fatal,
// and leaves bicubic as the default.
func New(cfg Config) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		pool:    newPool(cfg.Workers, cfg.Queue),
		uploads: make(chan struct{}, cfg.MaxUploads),
		jobs:    newJobStore(cfg.MaxJobs, cfg.JobTTL, cfg.MaxJobBytes),
		metrics: newMetrics(),
		quit:    make(chan struct{}),
		bases:   map[string]*baseEntry{},
		methods: cfg.Methods(),
	}
	s.workCtx, s.cancelWork = context.WithCancel(context.Background())
	sort.Slice(s.methods, func(i, j int) bool { return s.methods[i].Name < s.methods[j].Name })
	has := s.hasMethod
	switch {
	case cfg.DefaultMethod != "":
		if !has(cfg.DefaultMethod) {
			return nil, fmt.Errorf("server: default method %q is not offered", cfg.DefaultMethod)
		}
		s.defaultMethod = cfg.DefaultMethod
	case has("model"):
		if _, err := s.base("model"); err != nil {
			s.log.Warn("method model is offered but unavailable; default is bicubic", "err", err)
			s.defaultMethod = "bicubic"
		} else {
			s.defaultMethod = "model"
		}
	default:
		s.defaultMethod = "bicubic"
	}
	if !has(s.defaultMethod) {
		return nil, fmt.Errorf("server: default method %q is not offered", s.defaultMethod)
	}
	s.routes()
	return s, nil
}

// hasMethod reports whether name is offered.
func (s *Server) hasMethod(name string) bool {
	i := sort.Search(len(s.methods), func(i int) bool { return s.methods[i].Name >= name })
	return i < len(s.methods) && s.methods[i].Name == name
}

// base creates (once) the parameterless instance of a method.
func (s *Server) base(name string) (*baseEntry, error) {
	s.baseMu.Lock()
	defer s.baseMu.Unlock()
	if b, ok := s.bases[name]; ok {
		if b.err != nil {
			return nil, b.err
		}
		return b, nil
	}
	u, err := s.cfg.NewUpscaler(name, methods.Options{Model: s.cfg.Model, Condition: s.cfg.Condition})
	if err != nil {
		// Cached too: the configuration does not change while serving, and
		// a corrupt weights file must not be re-read for every request.
		s.bases[name] = &baseEntry{err: err}
		return nil, err
	}
	b := &baseEntry{card: s.cfg.Cards[name]}
	if c, ok := u.(Carder); ok && b.card == "" {
		b.card = c.Card()
	}
	if p, ok := u.(ParamUpscaler); ok {
		b.param = p
	}
	_, b.streams = u.(render.Streamer)
	b.generative = render.Generative(u)
	s.bases[name] = b
	return b, nil
}

// streams reports whether method renders band by band, so that its
// outputs may be as large as Config.MaxStreamedPixels.
func (s *Server) streams(method string) bool {
	b, err := s.base(method)
	return err == nil && b.streams
}

// generative reports whether method draws different samples, so that
// asking it for several makes sense.
func (s *Server) generative(method string) bool {
	b, err := s.base(method)
	return err == nil && b.generative
}

// upscaler returns a per-request instance of method configured with params.
func (s *Server) upscaler(method string, params map[string]string) (render.Method, error) {
	b, err := s.base(method)
	if err != nil {
		return nil, err
	}
	if b.param != nil {
		return b.param.WithParams(params)
	}
	return s.cfg.NewUpscaler(method, methods.Options{Model: s.cfg.Model, Condition: s.cfg.Condition, Params: params})
}

// Handler returns the server's routes wrapped in the metrics and logging
// middleware.
func (s *Server) Handler() http.Handler { return s.instrument(s.mux) }

// ListenAndServe listens on addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: it stops accepting connections, answers new work on open
// connections with 503, lets admitted work (running or queued, synchronous
// or jobs) finish for up to Config.Grace, then cancels what is left and
// waits briefly for it to unwind. It returns nil after a shutdown, or the
// error that stopped the listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: net/http leaves its deadline on the connection
		// while the handler runs, and when it fires, the read that watches
		// for the client leaving fails and cancels the request's context,
		// killing any upscale that takes longer. The body is bounded by
		// Config.BodyTimeout per request instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "workers", s.cfg.Workers, "queue", s.cfg.Queue, "default_method", s.defaultMethod)
	select {
	case err := <-errc:
		s.cancelWork()
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(hs)
}

// shutdown implements Serve's shutdown sequence.
func (s *Server) shutdown(hs *http.Server) error {
	start := time.Now()
	s.log.Info("shutting down", "grace", s.cfg.Grace, "running", s.pool.running.Load(), "queued", s.pool.waiting.Load())
	s.jobsMu.Lock()
	s.draining.Store(true)
	s.jobsMu.Unlock()
	close(s.quit)
	graceCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Grace)
	defer cancel()
	// Shutdown closes the listener and idle connections and waits for
	// active handlers; jobs run outside handlers and are waited for apart.
	herr := hs.Shutdown(graceCtx)
	jobsDone := make(chan struct{})
	go func() { s.jobsWG.Wait(); close(jobsDone) }()
	select {
	case <-jobsDone:
	case <-graceCtx.Done():
	}
	if herr == nil && graceCtx.Err() == nil {
		s.cancelWork()
		s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	// Grace is over: cancel the work, give handlers a moment to answer
	// 503 and unwind, then cut the remaining connections.
	s.log.Warn("grace period over; cancelling remaining work", "running", s.pool.running.Load(), "queued", s.pool.waiting.Load())
	s.cancelWork()
	unwound := make(chan struct{})
	go func() { s.handlers.Wait(); s.jobsWG.Wait(); close(unwound) }()
	select {
	case <-unwound:
	case <-time.After(10 * time.Second):
		s.log.Warn("work did not stop 10 s after cancellation; closing connections")
	}
	hs.Close()
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// workContext returns the context a request's work runs under: cancelled
// when the client goes away (parent), at shutdown's end (workCtx), or at the
// request deadline.
func (s *Server) workContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	stop := context.AfterFunc(s.workCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// errShuttingDown is the cause of work refused or cancelled by shutdown.
var errShuttingDown = errors.New("server is shutting down")
