package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/internal/optflag"
)

// trainFlags are what every `zoomdiff train` stage reads from its command
// line: the data, the output, resuming and the model card as flags, and
// everything else (the recipe, the architecture of a fresh model, how
// often to checkpoint and validate) as --set settings generated from the
// stage's options structs, so each default is written once, in the
// package that owns it.
type trainFlags struct {
	fs       *flag.FlagSet
	synopsis string
	data     string
	val      string
	out      string
	resume   bool
	quiet    bool
	card     paramFlags
	run      runSettings
	settings *optflag.Settings
}

// runSettings are a training run's settings besides its recipe.
type runSettings struct {
	CheckpointEvery int  `opt:"checkpoint-every" help:"steps between checkpoints (the model file and OUT.train)"`
	ValEvery        int  `opt:"val-every" help:"steps between validations (of --val, or of the images a generator's .tar holds back)"`
	Half            bool `opt:"f16" help:"store the model file in float16"`
}

// defaultRunSettings checkpoints every 100 steps and validates every
// valEvery.
func defaultRunSettings(valEvery int) runSettings {
	return runSettings{CheckpointEvery: 100, ValEvery: valEvery, Half: true}
}

// newTrainFlags declares the flags every stage shares and one --set flag
// for run and the structs in recipe (pointers, filled in place; groups
// names the tagged groups the stage reads). valHelp describes --val; a
// stage without one passes "".
func newTrainFlags(stage, synopsis, valHelp string, run runSettings, groups []string, recipe ...any) *trainFlags {
	t := &trainFlags{fs: flag.NewFlagSet("train "+stage, flag.ContinueOnError), synopsis: synopsis, card: paramFlags{}, run: run}
	fs := t.fs
	fs.StringVar(&t.data, "data", "", "comma-separated folders of training photos (searched recursively)")
	fs.StringVar(&t.out, "out", "", "model file to write (the training state goes to OUT.train)")
	fs.BoolVar(&t.resume, "resume", false, "continue from OUT.train")
	fs.BoolVar(&t.quiet, "quiet", false, "print nothing but errors")
	fs.Var(t.card, "card", "model-card entry KEY=VALUE stored in the model file (repeatable), e.g. data=... or training=...")
	if valHelp != "" {
		fs.StringVar(&t.val, "val", "", valHelp)
	}
	t.settings = optflag.Add(fs, "set", groups, append([]any{&t.run}, recipe...)...)
	fs.Usage = optflag.Usage(fs, synopsis, t.settings)
	return t
}

// parse reads args and checks that --data and --out were given.
func (t *trainFlags) parse(args []string) error {
	if err := parseArgs(t.fs, args); err != nil {
		return err
	}
	if t.data == "" || t.out == "" {
		return fmt.Errorf("--data and --out are required (usage: %s)", t.synopsis)
	}
	if t.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (usage: %s)", t.fs.Args(), t.synopsis)
	}
	// The first checkpoint comes minutes into a run: a mistyped folder
	// must fail now, not then.
	if dir := filepath.Dir(t.out); !isDir(dir) {
		return fmt.Errorf("--out %s: the folder %s does not exist", t.out, dir)
	}
	return nil
}

// isDir reports whether path names an existing folder.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// statePath is the training-state file beside the model file.
func (t *trainFlags) statePath() string { return t.out + ".train" }

// curvePath is the validation curve's CSV file beside the model file.
func (t *trainFlags) curvePath() string { return t.out + ".val.csv" }

// dataDirs loads the training folders, refusing photos smaller than
// minSide.
func (t *trainFlags) dataDirs(minSide int) (*dataset.Set, error) {
	return dataset.LoadDirs(strings.Split(t.data, ","), minSide)
}

// logf prints a progress line unless --quiet was given.
func (t *trainFlags) logf(format string, a ...any) { logf(t.quiet, format, a...) }

func logf(quiet bool, format string, a ...any) {
	if !quiet {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
}
