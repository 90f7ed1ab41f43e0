//go:build linux

// The bench command reads a child's memory from /proc and its peak from
// getrusage (kB on Linux), so it is built on Linux only.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zoomdiff/zoomdiff/baseline"
	"github.com/zoomdiff/zoomdiff/evaluate"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
)

func runBench(args []string) error {
	return dispatch("bench", []subcommand{{"scales", runBenchScales}}, args)
}

// benchRow is one method at one scale, each measured in its own process.
type benchRow struct {
	Method     string  `json:"method"`
	Weights    string  `json:"weights"` // the --model the method ran with ("" for the built-in model)
	Scale      float64 `json:"scale"`
	Output     string  `json:"output"` // WxH
	Status     string  `json:"status"` // ok, oom, timeout, error or skipped
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakMiB    float64 `json:"peak_mib"`
	Error      string  `json:"error,omitempty"`
}

// Row statuses. A run past a cap is reported as such, never left out; so
// is a larger scale not run because a smaller one already failed.
const (
	statusOK      = "ok"
	statusOOM     = "oom"
	statusTimeout = "timeout"
	statusError   = "error"
	statusSkipped = "skipped"
)

// benchCaps bound every child process.
type benchCaps struct {
	mem  int64 // bytes of resident memory
	time time.Duration
}

// benchOptions are the checked flags of `zoomdiff bench scales`.
type benchOptions struct {
	input    string
	inW, inH int // the input's size
	scales   []float64
	steps    int
	methods  []string          // in the order given
	weights  map[string]string // the --model of each method ("" for the built-in model)
	asJSON   bool
	quiet    bool
	caps     benchCaps
}

// parseBenchScales parses and checks the command line of `zoomdiff bench
// scales`, reading the input's size, so that a mistake fails before the
// first measurement.
func parseBenchScales(args []string) (*benchOptions, error) {
	o := &benchOptions{}
	fs := flag.NewFlagSet("bench scales", flag.ContinueOnError)
	fs.StringVar(&o.input, "input", "", "low-resolution input image (required)")
	scales := fs.String("scales", "2,4,8,12,30,100,200", "comma-separated scales above 1")
	fs.IntVar(&o.steps, "steps", 50, "denoising steps of the diffusion methods (model, idm)")
	methods := fs.String("methods", "model,liif,idm", "comma-separated methods; model is ours")
	fs.BoolVar(&o.asJSON, "json", false, "print the rows as one JSON array instead of a table")
	memCap := fs.String("mem-cap", "8GiB", "peak resident memory allowed per run (GOMEMLIMIT plus a watchdog that kills)")
	fs.DurationVar(&o.caps.time, "time-cap", 20*time.Minute, "wall time allowed per run")
	ours := fs.String("model", "", "our model's weights (default the built-in one)")
	liifModel := fs.String("liif-model", baseline.RandomPrefix+"liif", "LIIF weights; random:liif is untrained (time and memory do not depend on training)")
	idmModel := fs.String("idm-model", baseline.RandomPrefix+"idm", "IDM weights; random:idm is untrained")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	if err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() != 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.input == "":
		return nil, errors.New("--input is required")
	case o.steps < 1:
		return nil, fmt.Errorf("--steps %d: want at least 1", o.steps)
	case o.caps.time <= 0:
		return nil, fmt.Errorf("--time-cap %v: want a positive duration", o.caps.time)
	}
	var err error
	if o.scales, err = scaleList(*scales); err != nil {
		return nil, err
	}
	if o.caps.mem, err = parseBytes(*memCap); err != nil {
		return nil, fmt.Errorf("--mem-cap: %w", err)
	}
	if o.inW, o.inH, err = imageio.Config(o.input); err != nil {
		return nil, err
	}
	o.weights = map[string]string{"model": *ours, "liif": *liifModel, "idm": *idmModel}
	for _, m := range strings.Split(*methods, ",") {
		m = strings.TrimSpace(m)
		if _, known := o.weights[m]; !known {
			return nil, fmt.Errorf("--methods: %q is not one of model, liif, idm", m)
		}
		o.methods = append(o.methods, m)
	}
	return o, nil
}

// runBenchScales is `zoomdiff bench scales`: the time and peak memory of
// each method at each scale, every run in a child process of this program
// so that the runs neither share memory nor lift each other's peak.
func runBenchScales(args []string) error {
	o, err := parseBenchScales(args)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program to run each measurement in its own process: %w", err)
	}
	tmp, err := os.MkdirTemp("", "zoomdiff-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, stop := signalContext()
	defer stop()
	var rows []benchRow
	for _, m := range o.methods {
		failed := "" // why the larger scales of m are not run
		for _, s := range o.scales {
			r, err := o.benchOne(ctx, exe, tmp, m, s, &failed)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	writeBenchTable(os.Stdout, rows, o.methods, o.scales, o.caps, o.steps)
	return nil
}

// benchOne is the row of method m at scale s, measured by running exe
// with its output in tmp. A run that fails sets *failed, and a non-empty
// *failed skips the run: a larger scale would fail the same way, only
// later.
func (o *benchOptions) benchOne(ctx context.Context, exe, tmp, m string, s float64, failed *string) (benchRow, error) {
	w, h, err := render.TargetSize(o.inW, o.inH, s, "", math.MaxInt64)
	if err != nil {
		return benchRow{}, err
	}
	r := benchRow{Method: m, Weights: o.weights[m], Scale: s, Output: fmt.Sprintf("%dx%d", w, h)}
	if *failed != "" {
		r.Status, r.Error = statusSkipped, *failed
	} else {
		out := filepath.Join(tmp, "out.png")
		measure(ctx, exe, upscaleArgs(o.input, out, r, w*h, o.steps), o.caps, &r)
		os.Remove(out)
		if r.Status != statusOK {
			*failed = fmt.Sprintf("%s at x%s", describeStatus(r, o.caps), evaluate.FormatScale(s))
		}
	}
	if !o.quiet {
		fmt.Fprintf(os.Stderr, "%s x%s (%s): %s\n", m, evaluate.FormatScale(s), r.Output, describe(r, o.caps))
	}
	return r, nil
}

// upscaleArgs is the `zoomdiff upscale` command line of the run r,
// writing out; outputs of up to pixels are allowed.
func upscaleArgs(input, out string, r benchRow, pixels, steps int) []string {
	args := []string{"upscale", input, "--method", r.Method, "--scale", evaluate.FormatScale(r.Scale), "-o", out,
		"--quiet", "--max-pixels", strconv.Itoa(pixels)}
	switch r.Method { // liif has no steps
	case "model":
		args = append(args, "--steps", strconv.Itoa(steps))
	case "idm":
		args = append(args, "--param", "steps="+strconv.Itoa(steps))
	}
	if r.Weights != "" {
		args = append(args, "--model", r.Weights)
	}
	return args
}

// measure runs `exe args` as a child process under the caps and records
// its wall time, CPU time, peak resident memory and how it ended in r.
// The child gets GOMEMLIMIT = the cap, so its collector works harder as
// it nears it, and a watchdog polls its resident set and kills it past
// the cap; a run whose peak (getrusage, which misses nothing) ends above
// the cap counts as out of memory too.
func measure(ctx context.Context, exe string, args []string, caps benchCaps, r *benchRow) {
	ctx, cancel := context.WithTimeout(ctx, caps.time)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+strconv.FormatInt(caps.mem, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Status, r.Error = statusError, err.Error()
		return
	}
	var killed atomic.Bool
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if rss, ok := residentOf(cmd.Process.Pid); ok && rss > caps.mem {
					killed.Store(true)
					cmd.Process.Kill()
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	r.Seconds = time.Since(start).Seconds()
	ps := cmd.ProcessState
	r.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
	peak := int64(0)
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		peak = ru.Maxrss << 10
	}
	r.PeakMiB = float64(peak) / (1 << 20)
	switch {
	case killed.Load() || peak > caps.mem:
		r.Status = statusOOM
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Status = statusTimeout
	case err != nil:
		r.Status, r.Error = statusError, fmt.Sprintf("%v: %s", err, tail(stderr.String(), 400))
	default:
		r.Status = statusOK
	}
}

// residentOf reads the resident set size of process pid from /proc.
func residentOf(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// tail is the end of s, at most n bytes, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// describeStatus says how a failed run ended, e.g. "OOM (> 8 GiB)".
func describeStatus(r benchRow, caps benchCaps) string {
	switch r.Status {
	case statusOOM:
		return fmt.Sprintf("OOM (> %s)", formatBytes(caps.mem))
	case statusTimeout:
		return fmt.Sprintf("timeout (> %v)", caps.time)
	case statusSkipped:
		return "not run: " + r.Error
	}
	return "error: " + r.Error
}

// describe is one run's result for a progress line.
func describe(r benchRow, caps benchCaps) string {
	if r.Status == statusOK {
		return fmt.Sprintf("%.2f s (CPU %.2f s), peak %.0f MiB", r.Seconds, r.CPUSeconds, r.PeakMiB)
	}
	return describeStatus(r, caps)
}

// writeBenchTable prints a Markdown table, one line per scale: each
// method's seconds and peak MiB, then ours over idm's time and memory
// when both ran (a bound when idm hit a cap).
func writeBenchTable(w io.Writer, rows []benchRow, methods []string, scales []float64, caps benchCaps, steps int) {
	at := map[string]benchRow{}
	for _, r := range rows {
		at[r.Method+"@"+evaluate.FormatScale(r.Scale)] = r
	}
	var random []string
	for _, m := range methods {
		if wt := at[m+"@"+evaluate.FormatScale(scales[0])].Weights; strings.HasPrefix(wt, baseline.RandomPrefix) {
			random = append(random, fmt.Sprintf("%s (%s)", m, wt))
		}
	}
	if len(random) > 0 {
		fmt.Fprintf(w, "Untrained weights for %s: time and memory only, the outputs are noise.\n", strings.Join(random, ", "))
	}
	fmt.Fprintf(w, "Each run in its own process; denoising steps: %d; caps a run: %s, %v.\n\n", steps, formatBytes(caps.mem), caps.time)
	head, rule := "| scale | output |", "| --- | --- |"
	for _, m := range methods {
		head += fmt.Sprintf(" %s s | %s peak MiB |", m, m)
		rule += " ---: | ---: |"
	}
	ratio := slices.Contains(methods, "model") && slices.Contains(methods, "idm")
	if ratio {
		head += " time ours/idm | memory ours/idm |"
		rule += " ---: | ---: |"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, s := range scales {
		key := "@" + evaluate.FormatScale(s)
		line := fmt.Sprintf("| x%s | %s |", evaluate.FormatScale(s), at[methods[0]+key].Output)
		for _, m := range methods {
			r := at[m+key]
			if r.Status == statusOK {
				line += fmt.Sprintf(" %.2f | %.0f |", r.Seconds, r.PeakMiB)
			} else {
				line += fmt.Sprintf(" %s | %s |", describeStatus(r, caps), peakCell(r))
			}
		}
		if ratio {
			ours, theirs := at["model"+key], at["idm"+key]
			line += fmt.Sprintf(" %s | %s |", ratioCell(ours, theirs, ours.Seconds, theirs.Seconds, caps.time.Seconds(), statusTimeout),
				ratioCell(ours, theirs, ours.PeakMiB, theirs.PeakMiB, float64(caps.mem)/(1<<20), statusOOM))
		}
		fmt.Fprintln(w, line)
	}
}

// peakCell is the peak memory of a failed run, when it ran at all.
func peakCell(r benchRow) string {
	if r.Status == statusSkipped || r.PeakMiB == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", r.PeakMiB)
}

// ratioCell is ours/theirs of one measure. When theirs hit the cap of
// that measure (status capped), the ratio is bounded by ours/cap.
func ratioCell(ours, theirs benchRow, a, b, limit float64, capped string) string {
	switch {
	case ours.Status != statusOK:
		return "–"
	case theirs.Status == statusOK && b > 0:
		return fmt.Sprintf("%.3f", a/b)
	case theirs.Status == capped:
		return fmt.Sprintf("< %.3f", a/limit)
	}
	return "–"
}

// byteUnits are the suffixes parseBytes accepts, largest first so that
// "GiB" is not read as "B".
var byteUnits = []struct {
	suffix string
	size   float64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

// parseBytes reads a memory size such as "8GiB", "512MiB", "1.5GB" or a
// plain number of bytes.
func parseBytes(s string) (int64, error) {
	num, mul := strings.TrimSpace(s), 1.0
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = strings.TrimSpace(rest), u.size
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0) || v*mul > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q: want a positive size such as 8GiB, 512MiB or 1.5GB", s)
	}
	return int64(v * mul), nil
}

// formatBytes writes n in the largest binary unit that keeps it at least 1.
func formatBytes(n int64) string {
	for _, u := range byteUnits[:4] {
		if float64(n) >= u.size {
			return strconv.FormatFloat(float64(n)/u.size, 'g', 4, 64) + " " + u.suffix
		}
	}
	return fmt.Sprintf("%d B", n)
}
