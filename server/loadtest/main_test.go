package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zoomdiff/zoomdiff/server"
)

// TestRun points a short load run at an in-process server with one worker
// and one queue place: every request must be answered, some with 429.
func TestRun(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Workers, cfg.Queue, cfg.Logger = 1, 1, slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	o := options{url: ts.URL, concurrency: 8, requests: 40, maxTime: 30 * time.Second, inW: 64, inH: 48, scale: "2", method: "bicubic", timeout: 30 * time.Second}
	rep, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.print(&out, o)
	t.Log("\n" + out.String())
	if rep.answered != 40 || len(rep.noAnswer) != 0 || rep.unexpectedCodes != 0 || rep.missingRetry != 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.codes[200] == 0 {
		t.Error("no request succeeded")
	}
	if rep.p99 < rep.p50 || rep.max < rep.p99 {
		t.Errorf("percentiles out of order: %v %v %v", rep.p50, rep.p99, rep.max)
	}
}
