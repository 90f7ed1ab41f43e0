// Command loadtest fires more concurrent upscale requests at a zoomdiff
// server than it admits, and reports whether every request was answered
// (200, or 429/503 with Retry-After), the latency percentiles, and the
// server's peak memory and queue length as its /metrics show them.
//
//	zoomdiff serve --addr 127.0.0.1:8090 --workers 2 --queue 4 &
//	go run ./server/loadtest -url http://127.0.0.1:8090 -c 32 -n 400
//
// It is bounded by -n requests and -max-time, and exits 1 if any request
// got no answer or an unexpected status.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoomdiff/zoomdiff/render"
)

// options configures a run.
type options struct {
	url         string
	concurrency int
	requests    int
	maxTime     time.Duration
	inW, inH    int
	scale       string
	method      string
	timeout     time.Duration
	backoff     time.Duration // pause after a 429/503 before the next request
}

// result is one request's outcome.
type result struct {
	code    int // 0: no answer
	err     error
	latency time.Duration
	retry   bool // a Retry-After header came with a 429/503
}

// report summarises a run.
type report struct {
	sent, answered  int
	codes           map[int]int
	noAnswer        []error
	missingRetry    int
	p50, p90, p99   time.Duration
	max             time.Duration
	ok50, ok99      time.Duration
	wall            time.Duration
	peakRSS         int64 // bytes, from the server's metrics; 0 if unknown
	peakQueue       int64
	peakRunning     int64
	metricsScrapes  int
	unexpectedCodes int
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL")
	flag.IntVar(&o.concurrency, "c", 32, "concurrent clients (more than the server's workers+queue to see 429s)")
	flag.IntVar(&o.requests, "n", 400, "total requests")
	flag.DurationVar(&o.maxTime, "max-time", 2*time.Minute, "stop sending after this long")
	size := flag.String("in", "256x256", "input image size WxH (a synthetic PNG)")
	flag.StringVar(&o.scale, "scale", "2", "scale factor sent")
	flag.StringVar(&o.method, "method", "bicubic", "method sent")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "client timeout per request")
	flag.DurationVar(&o.backoff, "backoff", 0, "a client's pause after a 429 or 503 (0: retry at once, the harshest load)")
	flag.Parse()
	var err error
	if o.inW, o.inH, err = render.ParseSize(*size); err != nil || o.inW <= 0 || o.inH <= 0 {
		fmt.Fprintf(os.Stderr, "loadtest: -in %q: want WxH\n", *size)
		os.Exit(2)
	}
	rep, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout, o)
	if len(rep.noAnswer) > 0 || rep.unexpectedCodes > 0 || rep.missingRetry > 0 {
		os.Exit(1)
	}
}

// syntheticPNG makes a smooth w×h test image.
func syntheticPNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 255), 255})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// run sends o.requests requests from o.concurrency clients while sampling
// the server's metrics.
func run(ctx context.Context, o options) (*report, error) {
	payload, contentType := uploadBody(o)
	client := &http.Client{
		Timeout: o.timeout,
		// One connection per client: the point is concurrency at the server.
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency + 4},
	}
	if _, err := scrape(ctx, client, o.url); err != nil {
		return nil, fmt.Errorf("server not reachable: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxTime)
	defer cancel()

	rep := &report{codes: map[int]int{}}
	stopSampling := sampleMetrics(client, o.url, rep)
	start := time.Now()
	results := sendAll(ctx, client, o, contentType, payload)
	rep.wall = time.Since(start)
	stopSampling()
	// One last scrape: the peak RSS may have been reached after the last
	// sample.
	if m, err := scrape(context.Background(), client, o.url); err == nil {
		rep.peakRSS = max(rep.peakRSS, int64(m["process_max_resident_memory_bytes"]))
	}
	rep.tally(results)
	return rep, nil
}

// uploadBody is the multipart upscale request every client sends: a
// synthetic o.inW×o.inH PNG with o's scale and method.
func uploadBody(o options) (payload []byte, contentType string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("scale", o.scale)
	mw.WriteField("method", o.method)
	fw, _ := mw.CreateFormFile("image", "load.png")
	fw.Write(syntheticPNG(o.inW, o.inH))
	mw.Close()
	return body.Bytes(), mw.FormDataContentType()
}

// sampleMetrics scrapes the server's metrics every 100 ms into rep's peaks
// until the returned function is called; that function returns once the
// sampler has stopped, so rep is then safe to read.
func sampleMetrics(client *http.Client, url string, rep *report) (stop func()) {
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			m, err := scrape(context.Background(), client, url)
			if err == nil {
				rep.metricsScrapes++
				rep.peakQueue = max(rep.peakQueue, int64(m["zoomdiff_work_queue_length"]))
				rep.peakRunning = max(rep.peakRunning, int64(m["zoomdiff_work_running"]))
				rep.peakRSS = max(rep.peakRSS, int64(m["process_max_resident_memory_bytes"]))
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(stopSampling)
		<-sampled
	}
}

// sendAll posts the upscale request up to o.requests times from
// o.concurrency clients, until ctx ends, and returns the outcomes of the
// requests sent, in the order they were started.
func sendAll(ctx context.Context, client *http.Client, o options, contentType string, payload []byte) []result {
	var next atomic.Int64
	results := make([]result, o.requests)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.requests || ctx.Err() != nil {
					return
				}
				results[i] = send(ctx, client, o.url+"/v1/upscale", contentType, payload)
				if c := results[i].code; o.backoff > 0 && (c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable) {
					time.Sleep(o.backoff)
				}
			}
		}()
	}
	wg.Wait()
	return results[:min(int(next.Load()), o.requests)]
}

// tally counts the outcomes into rep: answers by status, requests without
// an answer, 429s and 503s without Retry-After, and latency percentiles
// of all answers and of the 200s.
func (rep *report) tally(results []result) {
	var all, ok []time.Duration
	for _, r := range results {
		rep.sent++
		if r.code == 0 {
			rep.noAnswer = append(rep.noAnswer, r.err)
			continue
		}
		rep.answered++
		rep.codes[r.code]++
		all = append(all, r.latency)
		switch r.code {
		case http.StatusOK:
			ok = append(ok, r.latency)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if !r.retry {
				rep.missingRetry++
			}
		default:
			rep.unexpectedCodes++
		}
	}
	rep.p50, rep.p90, rep.p99, rep.max = pct(all, 50), pct(all, 90), pct(all, 99), pct(all, 100)
	rep.ok50, rep.ok99 = pct(ok, 50), pct(ok, 99)
}

// send posts one upscale request and times its whole answer.
func send(ctx context.Context, client *http.Client, url, contentType string, payload []byte) result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(payload))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err, latency: time.Since(start)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := result{code: resp.StatusCode, latency: time.Since(start), retry: resp.Header.Get("Retry-After") != ""}
	if err != nil {
		// A 200 whose body broke off was not answered.
		return result{err: fmt.Errorf("reading the answer: %w", err), latency: r.latency}
	}
	return r
}

// pct returns the p-th percentile (nearest rank) of d.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// scrape reads the unlabelled samples of /metrics.
func scrape(ctx context.Context, client *http.Client, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, errors.New(resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		if name, v, ok := strings.Cut(line, " "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				m[name] = f
			}
		}
	}
	return m, sc.Err()
}

func (r *report) print(w io.Writer, o options) {
	fmt.Fprintf(w, "%d requests (%dx%d PNG, scale %s, %s) from %d clients in %v\n", r.sent, o.inW, o.inH, o.scale, o.method, o.concurrency, r.wall.Round(time.Millisecond))
	codes := make([]int, 0, len(r.codes))
	for c := range r.codes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.codes[c], c))
	}
	fmt.Fprintf(w, "answered %d/%d: %s; no answer: %d; 429/503 without Retry-After: %d; unexpected status: %d\n",
		r.answered, r.sent, strings.Join(parts, ", "), len(r.noAnswer), r.missingRetry, r.unexpectedCodes)
	for i, err := range r.noAnswer {
		if i == 5 {
			fmt.Fprintf(w, "  … %d more\n", len(r.noAnswer)-5)
			break
		}
		fmt.Fprintf(w, "  no answer: %v\n", err)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "latency, all answers: p50 %s, p90 %s, p99 %s, max %s\n", ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max))
	fmt.Fprintf(w, "latency, 200s only:   p50 %s, p99 %s; throughput %.1f upscales/s\n", ms(r.ok50), ms(r.ok99), float64(r.codes[200])/r.wall.Seconds())
	if r.peakRSS > 0 {
		fmt.Fprintf(w, "server: peak RSS %.1f MiB, peak queue %d, peak running %d (%d metric samples)\n", float64(r.peakRSS)/(1<<20), r.peakQueue, r.peakRunning, r.metricsScrapes)
	} else {
		fmt.Fprintf(w, "server: peak queue %d, peak running %d (RSS not exposed on this platform)\n", r.peakQueue, r.peakRunning)
	}
}
