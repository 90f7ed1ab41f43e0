package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

// The command table is sorted (help lists it as written), has no name
// twice, and every command answers -h with its usage and no error.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("command names not sorted or not unique: %v", names)
	}
	// A two-word command answers -h with its list and each of its
	// subcommands with its flags.
	sub := map[string]string{"bench": "scales", "classifier": "train", "train": "condition"}
	for _, c := range commands {
		if c.name == "version" || c.name == "models" {
			continue // no flags of their own to ask about
		}
		asks := [][]string{{"-h"}}
		if s, ok := sub[c.name]; ok {
			asks = append(asks, []string{s, "-h"})
		}
		for _, args := range asks {
			if err := c.run(args); !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s %s: %v, want the usage", c.name, strings.Join(args, " "), err)
			}
		}
	}
	if findCommand("upscale") == nil || findCommand("upscal") != nil {
		t.Error("findCommand")
	}
}
