// Command compare runs zoomdiff's tracked CPU benchmarks next to their
// PyTorch peers (bench/torch_peer.py) and prints one table:
//
//	go run ./bench/compare     (from the repository root; or bench/run.sh)
//
// For every benchmark it takes the best of -count runs on each side, since
// the machine may be busy with other work and the best run is the one least
// disturbed by it. The ratio is our throughput over PyTorch's (torch ns/op ÷
// our ns/op): above 1 we are faster. The CPU columns compare process CPU
// time per op the same way; other work on the machine does not inflate it,
// which makes -threads 1 the comparison to trust on a busy machine.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/zoomdiff/zoomdiff/engine/blas"
)

// benchPattern selects the tracked benchmarks under ./engine/... and
// ./models (the built-in SR model's U-Net).
const benchPattern = `Sgemm1024$|Conv3x3C64S128|TrainStepToy|SRUNetForward64`

// rows are the table's lines: our benchmark (with the environment it runs
// under) against the torch_peer.py benchmark of the same name.
var rows = []struct {
	label, name, torch string
	system             bool // run with ZOOMDIFF_BLAS=system: the CBLAS library instead of the default
}{
	{"Sgemm1024", "Sgemm1024", "Sgemm1024", false},
	{"Sgemm1024 (system CBLAS)", "Sgemm1024", "Sgemm1024", true},
	{"Conv3x3C64S128", "Conv3x3C64S128", "Conv3x3C64S128", false},
	{"Conv3x3C64S128Backward", "Conv3x3C64S128Backward", "Conv3x3C64S128Backward", false},
	{"TrainStepToy", "TrainStepToy", "TrainStepToy", false},
	{"SRUNetForward64", "SRUNetForward64", "SRUNetForward64", false},
}

func main() {
	count := flag.Int("count", 3, "runs of each benchmark per round; the best of all is reported")
	threads := flag.Int("threads", 2, "cores for each side: GOMAXPROCS for Go, torch.set_num_threads for PyTorch")
	rounds := flag.Int("rounds", 1, "times to alternate the Go and PyTorch runs, so that a burst of other load does not fall on one side only")
	python := flag.String("python", "", "Python interpreter with torch (default: the first of python3, /usr/bin/python3 that imports torch)")
	noTorch := flag.Bool("no-torch", false, "skip the PyTorch peer")
	flag.Parse()
	if err := run(*count, *rounds, *threads, *python, *noTorch); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(count, rounds, threads int, python string, noTorch bool) error {
	fmt.Printf("%d threads a side, %d CPUs, BLAS: %s\nload average at start: %s\n", threads, runtime.NumCPU(), blas.Name(), loadAvg())
	cnt, cpu := strconv.Itoa(count), strconv.Itoa(threads)
	ours, system, torch := results{}, results{}, results{}
	for range max(rounds, 1) {
		m, err := goBench(nil, "-bench", benchPattern, "-count", cnt, "-cpu", cpu, "./engine/...", "./models")
		if err != nil {
			return err
		}
		ours.merge(m)
		if m, err = goBench([]string{"ZOOMDIFF_BLAS=system"}, "-bench", "Sgemm1024$", "-count", cnt, "-cpu", cpu, "./engine/blas"); err != nil {
			return err
		}
		system.merge(m)
		if !noTorch {
			if m, err = torchBench(python, count, threads); err != nil {
				return err
			}
			torch.merge(m)
		}
	}
	fmt.Printf("load average at end: %s\n\n", loadAvg())

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tours ns/op\ttorch ns/op\tratio\tours cpu-ns/op\ttorch cpu-ns/op\tcpu ratio\t")
	for _, r := range rows {
		src := ours
		if r.system {
			src = system
		}
		o, t := src[r.name], torch[r.torch]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.label, fmtNs(o.ns), fmtNs(t.ns), fmtRatio(t.ns, o.ns),
			fmtNs(o.cpu), fmtNs(t.cpu), fmtRatio(t.cpu, o.cpu))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("\nratio: our throughput ÷ PyTorch's (torch ns/op ÷ ours); best of all runs on each side.")
	return nil
}

// timing is the best wall and CPU time per op seen for one benchmark; 0
// where not measured.
type timing struct{ ns, cpu float64 }

// results maps a benchmark name (without "Benchmark" and the -N suffix) to
// its best timing.
type results map[string]timing

// add keeps the lower of each time.
func (r results) add(name string, t timing) {
	old, ok := r[name]
	if !ok {
		r[name] = t
		return
	}
	r[name] = timing{lowest(old.ns, t.ns), lowest(old.cpu, t.cpu)}
}

func (r results) merge(src results) {
	for name, t := range src {
		r.add(name, t)
	}
}

// lowest is the smaller of two times, ignoring zeros (not measured).
func lowest(a, b float64) float64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// parseMetrics reads "<value> <unit>" pairs from the fields of a benchmark
// line into a timing.
func parseMetrics(f []string) timing {
	var t timing
	for i := 0; i+1 < len(f); i++ {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		switch f[i+1] {
		case "ns/op":
			t.ns = v
		case "cpu-ns/op":
			t.cpu = v
		}
	}
	return t
}

// goBench runs go test -run ^$ with args (and extra environment), echoing
// its output to stderr, and returns the best times of each benchmark.
func goBench(env []string, args ...string) (results, error) {
	cmd := exec.Command("go", append([]string{"test", "-run", "^$"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	echo := strings.Join(env, " ") + " " + strings.Join(cmd.Args, " ")
	// "BenchmarkConv3x3C64S128-2  94  22493079 ns/op  11234567 cpu-ns/op  53.70 GFLOPS"
	return runBench(cmd, echo, "go test", func(f []string) (string, bool) {
		if !strings.HasPrefix(f[0], "Benchmark") {
			return "", false
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		// go test appends -GOMAXPROCS unless it is 1.
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		return name, true
	})
}

// torchBench runs torch_peer.py and returns its times per benchmark.
func torchBench(python string, count, threads int) (results, error) {
	const script = "bench/torch_peer.py"
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("%w (run from the repository root)", err)
	}
	if python == "" {
		for _, p := range []string{"python3", "/usr/bin/python3"} {
			if exec.Command(p, "-c", "import torch").Run() == nil {
				python = p
				break
			}
		}
		if python == "" {
			return nil, errors.New("no Python with torch found; pass -python or -no-torch")
		}
	}
	cmd := exec.Command(python, script, "--rounds", strconv.Itoa(count), "--threads", strconv.Itoa(threads))
	// "torch Conv3x3C64S128 6855802 ns/op 13613034 cpu-ns/op"
	return runBench(cmd, strings.Join(cmd.Args, " "), "torch_peer.py", func(f []string) (string, bool) {
		return f[1], f[0] == "torch"
	})
}

// runBench runs cmd, echoing echo and then its output to stderr, and
// returns the best times of the benchmarks in its output: the lines of four
// or more fields in which name finds a benchmark's name, the metrics
// following the first two fields. Errors running it are prefixed with what.
func runBench(cmd *exec.Cmd, echo, what string, name func(fields []string) (string, bool)) (results, error) {
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = os.Stderr
	fmt.Fprintf(os.Stderr, "$ %s\n", echo)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	best := results{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		if n, ok := name(f); ok {
			if t := parseMetrics(f[2:]); t.ns > 0 {
				best.add(n, t)
			}
		}
	}
	return best, nil
}

func fmtNs(ns float64) string {
	if ns == 0 {
		return "-"
	}
	return strconv.FormatFloat(math.Round(ns), 'f', -1, 64)
}

func fmtRatio(torch, ours float64) string {
	if torch == 0 || ours == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", torch/ours)
}

// loadAvg is the 1-, 5- and 15-minute load average, to show whether other
// work shared the machine; "?" where /proc is not available.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
