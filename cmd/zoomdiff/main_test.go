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
	for _, c := range commands {
		args := []string{"-h"}
		switch c.name {
		case "bench":
			args = []string{"scales", "-h"}
		case "classifier":
			args = []string{"train", "-h"}
		case "train":
			args = []string{"sr", "-h"}
		case "version", "models":
			continue // no flags of their own to ask about
		}
		if err := c.run(args); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s %s: %v, want the usage", c.name, strings.Join(args, " "), err)
		}
	}
	if findCommand("upscale") == nil || findCommand("upscal") != nil {
		t.Error("findCommand")
	}
}
