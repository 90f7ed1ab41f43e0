// Command zoomdiff super-resolves images at any scale and generates new
// images at any resolution with a latent diffusion model and an implicit
// neural decoder. Run `zoomdiff help` for the list of commands.
//
// Each subcommand lives in its own file (cmd_<name>.go) and registers itself
// in init, so this file only dispatches.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// command is one subcommand: `zoomdiff <name> [flags] [args]`.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]*command{}

// defaultMemoryLimit is the soft heap limit (see main).
const defaultMemoryLimit = 6 << 30

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("zoomdiff: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: zoomdiff <command> [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun `zoomdiff <command> -h` for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "zoomdiff: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	// The engine's big temporary tensors are garbage within a step, but
	// with the default GOGC the heap may grow to twice the live data
	// (a training tape holds gigabytes) before the collector runs. A soft
	// limit makes it collect sooner; GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if err := c.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "zoomdiff %s: %v\n", c.name, err)
		os.Exit(1)
	}
}

// parseArgs parses flags that may appear before, between or after the
// positional arguments (`zoomdiff upscale in.png --scale 4 -o out.png`),
// which the flag package alone stops at the first positional one.
func parseArgs(fs *flag.FlagSet, args []string) error {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		// A non-boolean flag takes the next argument as its value.
		if f := fs.Lookup(name); f != nil && i+1 < len(args) {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return fs.Parse(append(flags, pos...))
}
