package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/zoomdiff/zoomdiff/engine/checkpoint"
	"github.com/zoomdiff/zoomdiff/models"
)

// modelInfo is what `zoomdiff models` reports for one model.
type modelInfo struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Bytes  int64             `json:"bytes"`
	Config json.RawMessage   `json:"config"`
	Card   map[string]string `json:"card,omitempty"`
	About  string            `json:"about,omitempty"`
}

func runModels(args []string) error {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	var infos []modelInfo
	add := func(name, about string, size int64) error {
		c, err := models.Open(name)
		if err != nil {
			return err
		}
		info := modelInfo{Name: name, Kind: c.Kind, Bytes: size, Config: json.RawMessage(c.Meta[checkpoint.KeyConfig]), About: about, Card: c.Card()}
		infos = append(infos, info)
		return nil
	}
	// Without arguments every built-in model; with them, just the
	// built-in models and files they name.
	builtins := models.List()
	if fs.NArg() > 0 {
		builtins = nil
	}
	var files []string
	for _, a := range fs.Args() {
		if b, ok := models.Find(a); ok {
			builtins = append(builtins, b)
		} else {
			files = append(files, a)
		}
	}
	for i, b := range builtins {
		for _, prev := range builtins[:i] {
			if prev.Name == b.Name {
				return fmt.Errorf("%s is named twice", b.Name)
			}
		}
		if err := add(b.Name, b.Summary, int64(len(b.Data))); err != nil {
			return err
		}
	}
	var seen []os.FileInfo // the files listed, to refuse one named twice
	for _, path := range files {
		st, err := os.Stat(path)
		if err != nil {
			var names []string
			for _, b := range models.List() {
				names = append(names, b.Name)
			}
			return fmt.Errorf("%s: neither a built-in model (%s) nor a model file: %w", path, strings.Join(names, ", "), err)
		}
		for i, prev := range seen {
			if os.SameFile(prev, st) {
				return fmt.Errorf("%s and %s are the same file", files[i], path)
			}
		}
		seen = append(seen, st)
		if err := add(path, "", st.Size()); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	for _, m := range infos {
		fmt.Printf("%s  (%s model, %.1f MB)\n", m.Name, m.Kind, float64(m.Bytes)/1e6)
		if m.About != "" {
			fmt.Printf("  %s\n", m.About)
		}
		fmt.Printf("  config: %s\n", m.Config)
		keys := make([]string, 0, len(m.Card))
		for k := range m.Card {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("  %s: %s\n", k, m.Card[k])
		}
	}
	fmt.Println("model cards: models/README.md in the source tree")
	return nil
}
