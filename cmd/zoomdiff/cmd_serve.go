package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/internal/optflag"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/server"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	genModel := fs.String("gen-model", "", "generator for /v1/generate (default: the built-in one, if this build has it)")
	genSteps := fs.Int("gen-steps", diffusion.DefaultGenSteps, "denoising steps per generation")
	card := fs.String("card", "", "model card text file shown by /v1/models (default: the weights file with .md, if present)")
	verbose := fs.Bool("v", false, "log every request, health checks and scrapes included")
	cfg := server.DefaultConfig() // the limits' defaults, written once there
	optflag.Flags(fs, nil, &cfg)
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
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	log := cfg.Logger
	if g, err := models.Generator(*genModel); err == nil {
		cfg.Generator = diffusion.ImageGenerator{Model: g, Steps: *genSteps}
	} else if *genModel != "" {
		return err
	} else {
		log.Info("no generator: /v1/generate answers 501", "reason", err)
	}
	if text, err := readCard(*card, cfg.Model); err != nil {
		return err
	} else if text != "" {
		cfg.Cards = map[string]string{"model": text}
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	// The first signal drains (in-flight work gets the grace period); a
	// second ends the process at once.
	ctx, stop := signalContext()
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
