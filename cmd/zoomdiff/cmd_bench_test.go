//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// asMainEnv makes the test binary act as zoomdiff itself, so that `bench
// scales`, which re-executes its own program for every measurement, can
// run under go test.
const asMainEnv = "ZOOMDIFF_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bench scales runs our model and both baselines (untrained) in their own
// processes at two scales, and reports a run past a cap as such.
func TestBenchScales(t *testing.T) {
	t.Setenv(asMainEnv, "1")
	in := filepath.Join(t.TempDir(), "in.png")
	writeTestPNG(t, in, 8, 8)
	out, err := captureStdout(t, func() error {
		return runBench([]string{"scales", "--input", in, "--scales", "2,3", "--steps", "1", "--json", "--quiet"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows []benchRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, out)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 3 methods × 2 scales:\n%s", len(rows), out)
	}
	for _, r := range rows {
		if r.Status != statusOK || !(r.Seconds > 0) || !(r.PeakMiB > 1) || (r.Method != "model" && !strings.HasPrefix(r.Weights, "random:")) {
			t.Errorf("row %+v", r)
		}
	}
	if rows[1].Output != "24x24" {
		t.Errorf("x3 of 8x8 gave %s", rows[1].Output)
	}

	// A memory cap no process fits: the first run is reported out of
	// memory, the larger scale as not run because of it.
	table, err := captureStdout(t, func() error {
		return runBench([]string{"scales", "--input", in, "--scales", "2,3", "--methods", "liif,model", "--mem-cap", "1MiB", "--quiet"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OOM (> 1 MiB)", "not run: OOM (> 1 MiB) at x2", "random:liif", "| x3 | 24x24 |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	// 50 steps of the image-space U-Net cannot finish in half a second.
	table, err = captureStdout(t, func() error {
		return runBench([]string{"scales", "--input", in, "--scales", "8", "--methods", "model,idm", "--steps", "50", "--time-cap", "500ms", "--quiet"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "timeout (> 500ms)") || !strings.Contains(table, "time ours/idm") {
		t.Errorf("table:\n%s", table)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scales"}, "--input"},
		{[]string{"scales", "--input", in, "--methods", "model,esrgan"}, "esrgan"},
		{[]string{"scales", "--input", in, "--mem-cap", "lots"}, "mem-cap"},
		{[]string{"scales", "--input", in, "--scales", "1"}, "above 1"},
		{[]string{"frames"}, "usage"},
	} {
		if err := runBench(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"8GiB": 8 << 30, "512 MiB": 512 << 20, "1.5GB": 1.5e9, "4096": 4096, "2KiB": 2048} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1GiB", "8 parsecs", "NaN"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
	if s := formatBytes(8 << 30); s != "8 GiB" {
		t.Errorf("formatBytes(8 GiB) = %q", s)
	}
}
