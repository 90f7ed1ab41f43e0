package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zoomdiff/zoomdiff/render"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// apiError is an error with the HTTP status it should be answered with.
// Its message is shown to the client, so it must say what to change.
type apiError struct {
	Code       int
	Msg        string
	RetryAfter int // seconds; set for 429 and 503
}

func (e *apiError) Error() string { return e.Msg }

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

const (
	maxFieldBytes = 4 << 10  // a text field (the longest sensible is a param)
	maxParts      = 64       // form parts per request
	maxFieldsBody = 64 << 10 // a URL-encoded or JSON body, which holds fields only
)

// upscaleRequest is a parsed POST /v1/upscale.
type upscaleRequest struct {
	image   []byte
	method  string
	scale   float64 // 0 when size is set
	size    string  // "" when scale is set
	samples int
	seed    uint64
	params  map[string]string // method params, seed excluded (it varies per sample)
	delivery
}

// generateRequest is a parsed POST /v1/generate.
type generateRequest struct {
	n        int
	w, h     int
	seed     uint64
	class    string  // "" for the classes in turn
	guidance float64 // negative: the model's default
	delivery
}

// delivery is how a work request wants its answer.
type delivery struct {
	async bool // run as a job: answer 202 with its id
	json  bool // answer JSON even for one image (synchronous requests only)
}

// limitedBody wraps http.MaxBytesReader and remembers whether the limit was
// hit: the multipart reader does not always keep the *http.MaxBytesError
// in its error chain, and "too large" (413) must not read as "truncated"
// (400).
type limitedBody struct {
	r   io.Reader
	hit bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		l.hit = true
	}
	return n, err
}

// readError turns an error reading the body into the answer for it.
func (l *limitedBody) readError(err error, limit int64) *apiError {
	if l.hit {
		return errorf(http.StatusRequestEntityTooLarge, "upload is over the %s limit", byteSize(limit))
	}
	return errorf(http.StatusBadRequest, "reading the upload: %v (truncated or malformed body?)", err)
}

// byteSize prints a byte count readably.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}

// readFields reads a request's form fields: the query string plus, by
// content type, a multipart, URL-encoded or (if allowJSON) JSON body. A
// multipart part named "image" is returned as the file when allowImage;
// every other part must be a short text field. Content types other than
// these answer 415.
func (s *Server) readFields(w http.ResponseWriter, r *http.Request, allowImage, allowJSON bool) (fields url.Values, img []byte, err error) {
	// Bound the time to send the body, then lift the deadline so that it
	// cannot fire during the work (see Serve). On an error it stays: after
	// the answer net/http reads on to reuse the connection, and a stalled
	// client must not hold it. Recorders in tests do not support deadlines;
	// that is fine.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	defer func() {
		if err == nil {
			rc.SetReadDeadline(time.Time{})
		}
	}()
	fields = url.Values{}
	for k, v := range r.URL.Query() {
		fields[k] = append(fields[k], v...)
	}
	body := &limitedBody{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if allowImage {
			return nil, nil, errorf(http.StatusUnsupportedMediaType, "no Content-Type: send multipart/form-data with the image in a file field named image")
		}
		// A bodiless POST with everything in the query string is fine.
		if n, _ := io.CopyN(io.Discard, body, 1); n > 0 {
			return nil, nil, errorf(http.StatusUnsupportedMediaType, "a body needs a Content-Type: multipart/form-data, application/x-www-form-urlencoded or application/json")
		}
		return fields, nil, nil
	}
	mt, mp, perr := mime.ParseMediaType(ct)
	switch {
	case perr != nil:
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v", ct, perr)
	case mt == "multipart/form-data":
		img, err = s.readMultipart(body, mp["boundary"], fields, allowImage)
		return fields, img, err
	case allowImage:
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %s: send multipart/form-data with the image in a file field named image", mt)
	case mt == "application/x-www-form-urlencoded":
		data, rerr := s.readFieldsBody(body, "form")
		if rerr != nil {
			return nil, nil, rerr
		}
		v, perr := url.ParseQuery(string(data))
		if perr != nil {
			return nil, nil, errorf(http.StatusBadRequest, "form body: %v", perr)
		}
		for k, vs := range v {
			fields[k] = append(fields[k], vs...)
		}
		return fields, nil, nil
	case mt == "application/json" && allowJSON:
		data, rerr := s.readFieldsBody(body, "JSON")
		if rerr != nil {
			return nil, nil, rerr
		}
		if err := jsonFields(data, fields); err != nil {
			return nil, nil, err
		}
		return fields, nil, nil
	}
	want := "multipart/form-data or application/x-www-form-urlencoded"
	if allowJSON {
		want = "multipart/form-data, application/x-www-form-urlencoded or application/json"
	}
	return nil, nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %s: want %s", mt, want)
}

// readFieldsBody reads a body of fields only (what names its kind in
// errors), up to maxFieldsBody bytes.
func (s *Server) readFieldsBody(body *limitedBody, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxFieldsBody+1))
	if err != nil {
		return nil, body.readError(err, s.cfg.MaxUploadBytes)
	}
	if len(data) > maxFieldsBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "%s body is over %s", what, byteSize(maxFieldsBody))
	}
	return data, nil
}

// readMultipart reads the parts of a multipart body into fields (and the
// image file) without ever spilling to disk as ParseMultipartForm would.
func (s *Server) readMultipart(body *limitedBody, boundary string, fields url.Values, allowImage bool) ([]byte, error) {
	if boundary == "" {
		return nil, errorf(http.StatusBadRequest, "multipart Content-Type without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	var img []byte
	haveImage := false
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, body.readError(err, s.cfg.MaxUploadBytes)
		}
		if parts >= maxParts {
			return nil, errorf(http.StatusBadRequest, "more than %d form fields", maxParts)
		}
		name := part.FormName()
		switch {
		case name == "":
			return nil, errorf(http.StatusBadRequest, "a multipart part has no form field name")
		case name == "image" && allowImage:
			if haveImage {
				return nil, errorf(http.StatusBadRequest, "more than one image field: send one image per request")
			}
			haveImage = true
			// The body limit bounds this read; an image cannot be streamed
			// into the decoders, which want the whole file.
			if img, err = io.ReadAll(part); err != nil {
				return nil, body.readError(err, s.cfg.MaxUploadBytes)
			}
		case part.FileName() != "":
			return nil, errorf(http.StatusBadRequest, "field %q is a file; only the image field may be", name)
		default:
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, body.readError(err, s.cfg.MaxUploadBytes)
			}
			if len(v) > maxFieldBytes {
				return nil, errorf(http.StatusBadRequest, "field %q is longer than %s", name, byteSize(maxFieldBytes))
			}
			fields[name] = append(fields[name], string(v))
		}
	}
	if allowImage && !haveImage {
		return nil, errorf(http.StatusBadRequest, "missing the image: send it as a file in a field named image")
	}
	return img, nil
}

// jsonFields flattens a JSON object of strings, numbers and booleans into
// fields, keeping numbers' text so that 64-bit seeds stay exact.
func jsonFields(data []byte, fields url.Values) error {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return errorf(http.StatusBadRequest, "JSON body: %v", err)
	}
	for k, raw := range obj {
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return errorf(http.StatusBadRequest, "JSON field %q: %v", k, err)
		}
		switch v := v.(type) {
		case string:
			fields[k] = append(fields[k], v)
		case json.Number:
			fields[k] = append(fields[k], v.String())
		case bool:
			fields[k] = append(fields[k], strconv.FormatBool(v))
		default:
			return errorf(http.StatusBadRequest, "JSON field %q: want a string, number or boolean", k)
		}
	}
	return nil
}

// form reads single-valued fields and reports unknown and repeated ones.
type form struct {
	v url.Values
}

// check refuses fields outside known, so that a typo ("sacle") is an error
// instead of a silently ignored setting, and repeats of single fields.
func (f form) check(known ...string) error {
	var unknown []string
	for k, vs := range f.v {
		ok := false
		for _, n := range known {
			if k == n {
				ok = true
			}
		}
		if !ok {
			unknown = append(unknown, strconv.Quote(k))
			continue
		}
		if k != "param" && len(vs) > 1 {
			return errorf(http.StatusBadRequest, "field %q given %d times", k, len(vs))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return errorf(http.StatusBadRequest, "unknown field %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return nil
}

func (f form) get(name string) string {
	if vs := f.v[name]; len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// intField parses an optional integer field within [lo, hi].
func (f form) intField(name string, def, lo, hi int) (int, error) {
	s := f.get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		return 0, errorf(http.StatusBadRequest, "%s %q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return int(v), nil
}

// boolField parses an optional boolean field (1/0, true/false, yes/no, on).
func (f form) boolField(name string) (bool, error) {
	switch strings.ToLower(f.get(name)) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, errorf(http.StatusBadRequest, "%s %q: want true or false", name, f.get(name))
}

// seedField parses the optional seed; without one a random seed is drawn,
// and reported with the result so that it can be reproduced.
func (f form) seedField() (uint64, error) {
	s := f.get("seed")
	if s == "" {
		return randomSeed(), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "seed %q: want a whole number from 0 to %d", s, uint64(math.MaxUint64))
	}
	return v, nil
}

// formatField reads format: "png" (the image itself, one only) or "json"
// (base64 PNGs with their seeds). The default is png for one image.
func (f form) formatField(images int) (asJSON bool, err error) {
	switch strings.ToLower(f.get("format")) {
	case "":
		return images > 1, nil
	case "json":
		return true, nil
	case "png":
		if images > 1 {
			return false, errorf(http.StatusBadRequest, "format png returns one image; ask for json (or async=1) with %d images", images)
		}
		return false, nil
	}
	return false, errorf(http.StatusBadRequest, "format %q: want png or json", f.get("format"))
}

// deliveryFields reads async and, for a synchronous request that answers
// with images images, format.
func (f form) deliveryFields(images int) (delivery, error) {
	var d delivery
	var err error
	if d.async, err = f.boolField("async"); err != nil {
		return d, err
	}
	if !d.async {
		d.json, err = f.formatField(images)
	}
	return d, err
}

// parseSize reads "WxH", "Wx" or "xH" with render.ParseSize (a missing
// side is 0, to be derived from the aspect ratio), as a 400 when it is bad
// or when needBoth and a side is missing.
func parseSize(s string, needBoth bool) (w, h int, err error) {
	w, h, err = render.ParseSize(s)
	if err == nil && needBoth && (w == 0 || h == 0) {
		err = fmt.Errorf("size %q: want WxH (or N for a square)", s)
	}
	if err != nil {
		return 0, 0, errorf(http.StatusBadRequest, "%v", err)
	}
	return w, h, nil
}

// parseUpscaleFields validates the text fields of an upscale request. It
// is separate from reading the body so that it can be fuzzed on its own.
func (s *Server) parseUpscaleFields(v url.Values) (*upscaleRequest, error) {
	f := form{v}
	if err := f.check("image", "method", "scale", "size", "samples", "seed", "steps", "param", "async", "format"); err != nil {
		return nil, err
	}
	req := &upscaleRequest{method: strings.ToLower(f.get("method")), params: map[string]string{}}
	if req.method == "" {
		req.method = s.defaultMethod
	}
	if !s.hasMethod(req.method) {
		var names []string
		for _, m := range s.methods {
			names = append(names, m.Name)
		}
		return nil, errorf(http.StatusBadRequest, "unknown method %q (available: %s)", truncate(req.method, 64), strings.Join(names, ", "))
	}
	scale, size := f.get("scale"), f.get("size")
	switch {
	case scale != "" && size != "":
		return nil, errorf(http.StatusBadRequest, "give scale or size, not both")
	case scale == "" && size == "":
		return nil, errorf(http.StatusBadRequest, "missing scale or size: give scale (e.g. 4) or size (WxH, Wx or xH)")
	case scale != "":
		x, err := strconv.ParseFloat(scale, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, errorf(http.StatusBadRequest, "scale %q is not a number", truncate(scale, 64))
		}
		if math.IsNaN(x) || x < s.cfg.MinScale || x > s.cfg.MaxScale {
			return nil, errorf(http.StatusBadRequest, "scale %s: want a number from %g to %g", truncate(scale, 64), s.cfg.MinScale, s.cfg.MaxScale)
		}
		req.scale = x
	default:
		if _, _, err := parseSize(size, false); err != nil {
			return nil, err
		}
		req.size = size
	}
	var err error
	if req.samples, err = f.intField("samples", 1, 1, s.cfg.MaxSamples); err != nil {
		return nil, err
	}
	if req.samples > 1 && !s.generative(req.method) {
		return nil, errorf(http.StatusBadRequest, "samples %d: method %s draws one output for an input (samples are for the generative methods)", req.samples, req.method)
	}
	if req.seed, err = f.seedField(); err != nil {
		return nil, err
	}
	if st := f.get("steps"); st != "" {
		req.params["steps"] = st // bounded below with the params
	}
	for _, p := range f.v["param"] {
		k, val, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || !validParamName(k) {
			return nil, errorf(http.StatusBadRequest, "param %q: want name=value with a name of lower-case letters, digits and _", truncate(p, 64))
		}
		if _, dup := req.params[k]; dup || k == "seed" {
			return nil, errorf(http.StatusBadRequest, "param %s given twice (or also as its own field)", k)
		}
		req.params[k] = strings.TrimSpace(val)
	}
	// The params that set a request's cost are bounded however they come:
	// param=steps=N must not pass MaxSteps, nor a large tile the memory.
	for _, b := range []struct {
		name string
		max  int
	}{{"steps", s.cfg.MaxSteps}, {"tile", s.cfg.MaxTile}} {
		v, ok := req.params[b.name]
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > b.max {
			return nil, errorf(http.StatusBadRequest, "%s %q: want a whole number from 1 to %d", b.name, truncate(v, 64), b.max)
		}
	}
	if req.delivery, err = f.deliveryFields(req.samples); err != nil {
		return nil, err
	}
	return req, nil
}

func validParamName(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// truncate shortens client-supplied text quoted back in error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseGenerateFields validates a generate request.
func (s *Server) parseGenerateFields(v url.Values) (*generateRequest, error) {
	f := form{v}
	if err := f.check("n", "size", "seed", "class", "guidance", "async", "format"); err != nil {
		return nil, err
	}
	req := &generateRequest{guidance: -1}
	var err error
	if req.n, err = f.intField("n", 1, 1, s.cfg.MaxGenerate); err != nil {
		return nil, err
	}
	size := f.get("size")
	if size == "" {
		size = "512x512"
	}
	if _, err := strconv.Atoi(size); err == nil {
		size += "x" + size // N is a square, as in zoomdiff generate --size N
	}
	if req.w, req.h, err = parseSize(size, true); err != nil {
		return nil, err
	}
	if px := int64(req.w) * int64(req.h); px > s.cfg.MaxOutputPixels {
		return nil, errorf(http.StatusBadRequest, "size %dx%d is %d pixels, over the server's limit of %d", req.w, req.h, px, s.cfg.MaxOutputPixels)
	}
	if req.seed, err = f.seedField(); err != nil {
		return nil, err
	}
	if err := s.classFields(f, req); err != nil {
		return nil, err
	}
	if req.delivery, err = f.deliveryFields(req.n); err != nil {
		return nil, err
	}
	return req, nil
}

// classFields reads the optional class and guidance of a generate
// request, which only a class-conditional generator takes.
func (s *Server) classFields(f form, req *generateRequest) error {
	req.class = f.get("class")
	g := f.get("guidance")
	classes := s.cfg.Generator.Classes()
	if len(classes) == 0 && (req.class != "" || g != "") {
		return errorf(http.StatusBadRequest, "class and guidance: this server's generator has no classes")
	}
	if req.class != "" && !slices.Contains(classes, req.class) {
		return errorf(http.StatusBadRequest, "class %q: want one of %s", req.class, strings.Join(classes, ", "))
	}
	if g != "" {
		v, err := strconv.ParseFloat(g, 64)
		if err != nil || !(v >= 0 && v <= 20) {
			return errorf(http.StatusBadRequest, "guidance %q: want a number from 0 to 20", g)
		}
		req.guidance = v
	}
	return nil
}

// checkInput refuses images that are not images, or too large, from their
// header.
func (s *Server) checkInput(data []byte) (w, h int, err error) {
	if len(data) == 0 {
		return 0, 0, errorf(http.StatusBadRequest, "the image field is empty")
	}
	in, err := imageio.ProbeBytes(data)
	w, h = in.W, in.H
	switch {
	case errors.Is(err, imageio.ErrUnsupported):
		return 0, 0, errorf(http.StatusUnsupportedMediaType, "the upload is not a %s image", imageio.FormatNames)
	case err != nil:
		return 0, 0, errorf(http.StatusBadRequest, "cannot read the image header: %v", err)
	case w <= 0 || h <= 0:
		return 0, 0, errorf(http.StatusBadRequest, "the image header says %dx%d", w, h)
	case int64(w)*int64(h) > s.cfg.MaxInputPixels:
		return 0, 0, errorf(http.StatusRequestEntityTooLarge, "the image is %dx%d, over the server's limit of %d input pixels", w, h, s.cfg.MaxInputPixels)
	}
	return w, h, nil
}
