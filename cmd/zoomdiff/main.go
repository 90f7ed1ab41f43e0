// Command zoomdiff super-resolves images at any scale and generates new
// images at any resolution with a latent diffusion model and an implicit
// neural decoder. Run `zoomdiff help` for the list of commands.
//
// Each subcommand lives in its own file (cmd_<name>.go); the table below
// lists them all, so this file only dispatches.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
)

// command is one subcommand: `zoomdiff <name> [flags] [args]`.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

// commands are the subcommands, as `zoomdiff help` lists them; each lives
// in its own file, cmd_<name>.go.
var commands = []*command{
	{name: "bench", summary: "bench scales: wall time and peak memory of our model and the baselines against the scale", run: runBench},
	{name: "classifier", summary: "train or test the CIFAR-10 feature classifier used for feature FD", run: runClassifier},
	{name: "compare", summary: "compare two evaluations (eval --json --per-image) image by image: each score's difference and its standard error", run: runCompare},
	{name: "eval", summary: "run the SR benchmark protocol (PSNR/SSIM on Y) on image folders", run: runEval},
	{name: "eval-gen", summary: "score a generator: feature FD (and FID) against held-out real images beside a floor and a ceiling, self-SSIM across sizes", run: runEvalGen},
	{name: "generate", summary: "generate new images from noise with a generator model, at any size (the same samples at several sizes)", run: runGenerate},
	{name: "models", summary: "list the built-in models, or the built-in models and model files named, with their cards", run: runModels},
	{name: "plot", summary: "draw CSV columns (e.g. a validation curve) as a PNG line chart", run: runPlot},
	{name: "serve", summary: "serve the upscaling API and web page over HTTP", run: runServe},
	{name: "sr-decoder", summary: "give an SR model the implicit decoder of an auto-encoder fine-tuned with train ae --set decoder-only=true", run: runSRDecoder},
	{name: "strip", summary: "lay images side by side with labels, optionally the same crop of each (comparison figures)", run: runStrip},
	{name: "train", summary: "train a stage: ae (auto-encoder + implicit decoder), sr (latent diffusion), align (alignment fine-tuning), student (few-step distillation), condition (the condition network), gen (generation from noise), or a baseline: liif, idm", run: runTrain},
	{name: "upscale", summary: "resize an image by any scale or to any size", run: runUpscale},
	{name: "version", summary: "print the version and the compute backend in use", run: runVersion},
	{name: "zoom", summary: "animate a continuous zoom into one generated or super-resolved latent (GIF or APNG)", run: runZoom},
}

// defaultMemoryLimit is the soft heap limit (see main).
const defaultMemoryLimit = 6 << 30

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// subcommand is the second word of a two-word command (`train ae`,
// `classifier eval`).
type subcommand struct {
	name string
	run  func(args []string) error
}

// dispatch runs the subcommand of parent named by args[0]; -h, --help or
// help lists the subcommands (flag.ErrHelp, so the exit status is 0).
func dispatch(parent string, table []subcommand, args []string) error {
	names := make([]string, len(table))
	for i, c := range table {
		if len(args) > 0 && args[0] == c.name {
			return c.run(args[1:])
		}
		names[i] = c.name
	}
	if len(args) == 0 {
		return fmt.Errorf("usage: zoomdiff %s %s [flags]", parent, strings.Join(names, "|"))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(os.Stderr, "usage: zoomdiff %s %s [flags]\n\nRun `zoomdiff %s COMMAND -h` for a command's flags.\n",
			parent, strings.Join(names, "|"), parent)
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown %s command %q (have: %s; usage: zoomdiff %s COMMAND [flags])", parent, args[0], strings.Join(names, ", "), parent)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: zoomdiff <command> [flags] [args]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
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
	c := findCommand(os.Args[1])
	if c == nil {
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
	stop, err := startProfile(os.Getenv("ZOOMDIFF_CPUPROFILE"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "zoomdiff: %v\n", err)
		os.Exit(1)
	}
	err = c.run(os.Args[2:])
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "zoomdiff %s: %v\n", c.name, err)
		os.Exit(1)
	}
}

// startProfile writes a CPU profile of the command to path (the
// ZOOMDIFF_CPUPROFILE variable; none when empty) until stop is called:
// `go tool pprof` reads it. It is how the kernels' time was found.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "zoomdiff: cpu profile %s: %v\n", path, err)
		}
	}, nil
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
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			// Said here: left to fs.Parse, the flag would take the
			// first positional argument, moved after it, as its value
			// (`upscale in.png -o` would read -o in.png, no input).
			err := fmt.Errorf("flag needs an argument: %s", a)
			fmt.Fprintln(fs.Output(), err)
			fs.Usage()
			return err
		}
		flags = append(flags, args[i+1])
		i++
	}
	return fs.Parse(append(flags, pos...))
}
