package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/server"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	model := fs.String("model", "", "weights file for the learned method")
	genModel := fs.String("gen-model", "", "generator for /v1/generate (default: the built-in one, if this build has it)")
	genSteps := fs.Int("gen-steps", diffusion.DefaultGenSteps, "denoising steps per generation")
	card := fs.String("card", "", "model card text file shown by /v1/models (default: the weights file with .md, if present)")
	method := fs.String("method", "", "default method (default: model if it loads, else bicubic)")
	workers := fs.Int("workers", 2, "requests worked on at once")
	queue := fs.Int("queue", 8, "requests that may wait for a worker before 429")
	timeout := fs.Duration("timeout", 0, "per-request work deadline, queueing included (default 5m)")
	grace := fs.Duration("grace", 0, "on SIGINT/SIGTERM, how long admitted work may finish before it is cancelled (default 30s)")
	maxUpload := fs.Int64("max-upload", 0, "largest request body in bytes (default 32 MiB)")
	maxIn := fs.Int64("max-input-pixels", 0, "largest input image in pixels (default 4096×4096)")
	maxOut := fs.Int64("max-output-pixels", 0, "largest output image in pixels of a method that makes it whole (default 4096×4096)")
	maxStream := fs.Int64("max-streamed-pixels", 0, "largest output image in pixels of the model, which renders band by band in bounded memory (default 8192×8192)")
	maxScale := fs.Float64("max-scale", 0, "largest scale factor (default 16)")
	maxSamples := fs.Int("max-samples", 0, "most samples per upscale (default 4)")
	jobTTL := fs.Duration("job-ttl", 0, "how long finished async results are kept (default 10m)")
	maxJobs := fs.Int("max-jobs", 0, "most stored async jobs (default 32)")
	verbose := fs.Bool("v", false, "log every request, health checks and scrapes included")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff serve [--addr HOST:PORT] [--model FILE] [flags]")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := server.Config{
		Model: *model, DefaultMethod: *method, Logger: log,
		Workers: *workers, Queue: *queue, Timeout: *timeout, Grace: *grace,
		MaxUploadBytes: *maxUpload, MaxInputPixels: *maxIn, MaxOutputPixels: *maxOut, MaxStreamedPixels: *maxStream,
		MaxScale: *maxScale, MaxSamples: *maxSamples, JobTTL: *jobTTL, MaxJobs: *maxJobs,
	}
	if g, err := models.Generator(*genModel); err == nil {
		cfg.Generator = diffusion.ImageGenerator{Model: g, Steps: *genSteps}
	} else if *genModel != "" {
		return err
	} else {
		log.Info("no generator: /v1/generate answers 501", "reason", err)
	}
	if *queue == 0 {
		cfg.Queue = -1 // the flag's 0 means no queue; Config's 0 means the default
	}
	if text, err := readCard(*card, *model); err != nil {
		return err
	} else if text != "" {
		cfg.Cards = map[string]string{"model": text}
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.ListenAndServe(ctx, *addr)
}

// readCard reads the model card: the --card file, or the weights file's
// name with .md when that exists.
func readCard(card, model string) (string, error) {
	if card == "" && model != "" {
		guess := strings.TrimSuffix(model, filepath.Ext(model)) + ".md"
		if _, err := os.Stat(guess); err == nil {
			card = guess
		}
	}
	if card == "" {
		return "", nil
	}
	data, err := os.ReadFile(card)
	if err != nil {
		return "", fmt.Errorf("model card: %w", err)
	}
	return string(data), nil
}
