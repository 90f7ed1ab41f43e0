package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/imageio"
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
	restart  bool
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
	fs.BoolVar(&t.restart, "restart", false, "start a new run over the one OUT.train holds (replaced at the first checkpoint)")
	fs.BoolVar(&t.quiet, "quiet", false, "print nothing but errors")
	fs.Var(t.card, "card", "model-card entry KEY=VALUE stored in the model file (repeatable), e.g. data=... or training=...")
	if valHelp != "" {
		fs.StringVar(&t.val, "val", "", valHelp)
	}
	t.settings = optflag.Add(fs, "set", groups, append([]any{&t.run}, recipe...)...)
	fs.Usage = optflag.Usage(fs, synopsis, t.settings)
	return t
}

// parse reads args and checks that --data and --out were given, that
// --out can be written without overwriting an input (checkOut) and, with
// --resume, that there is a state to resume.
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
	if t.run.CheckpointEvery < 0 || t.run.ValEvery < 0 {
		return fmt.Errorf("checkpoint-every %d, val-every %d: want 0 (at the end only; no validation) or more", t.run.CheckpointEvery, t.run.ValEvery)
	}
	inputs := map[string]string{}
	for _, d := range strings.Split(t.data, ",") {
		inputs[strings.TrimSuffix(d, dataset.HeldOutSuffix)] = "--data"
	}
	if t.val != "" {
		for _, d := range strings.Split(t.val, ",") {
			inputs[strings.TrimSuffix(d, dataset.HeldOutSuffix)] = "--val"
		}
	}
	for _, name := range modelInputFlags {
		if f := t.fs.Lookup(name); f != nil && f.Value.String() != "" {
			inputs[f.Value.String()] = "--" + name
		}
	}
	if err := checkOut(t.out, inputs); err != nil {
		return err
	}
	return checkRun(t.statePath(), t.out, t.resume, t.restart)
}

// checkRun refuses --resume without a training state at path, the one a
// run with --out out writes, and a new run over an existing state unless
// restart: its first checkpoint would replace hours of training that a
// forgotten --resume meant to continue.
func checkRun(path, out string, resume, restart bool) error {
	_, err := os.Stat(path)
	switch {
	case resume && restart:
		return errors.New("--resume continues the run in OUT.train, --restart replaces it: not both")
	case resume && err != nil:
		return fmt.Errorf("--resume: no training state: %w (a run with --out %s writes it at each checkpoint)", err, out)
	case !resume && !restart && err == nil:
		return fmt.Errorf("%s holds a run of --out %s: --resume to continue it, or --restart to start over and replace it", path, out)
	}
	return nil
}

// modelInputFlags are the flags by which stages read model files: a
// checkpoint must not overwrite them (train student reads --teacher
// again with --resume).
var modelInputFlags = []string{"init", "ae", "model", "teacher"}

// checkOut refuses an output path the run could not write, or whose
// checkpoints would overwrite one of inputs (paths, to the flag naming
// them) or a photo. The first checkpoint comes minutes into a run: a
// mistyped --out must fail now, not then.
func checkOut(out string, inputs map[string]string) error {
	if dir := filepath.Dir(out); !isDir(dir) {
		return fmt.Errorf("--out %s: the folder %s does not exist", out, dir)
	}
	if isDir(out) {
		return fmt.Errorf("--out %s is a folder: name the model file to write", out)
	}
	if imageio.HasImageExt(out) || isTar(out) {
		return fmt.Errorf("--out %s: a model file named like an image or an archive would overwrite data; name a .safetensors file", out)
	}
	st, err := os.Stat(out)
	if err != nil {
		return nil // a new file
	}
	for in, flag := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("--out %s is the %s file: its checkpoints would overwrite it; name another file", out, flag)
		}
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
	dirs := strings.Split(t.data, ",")
	for _, d := range dirs {
		if isTar(d) {
			return nil, fmt.Errorf("--data %s: only train gen and classifier train read archives; unpack it and name the folder", d)
		}
	}
	return dataset.LoadDirs(dirs, minSide)
}

// logf prints a progress line unless --quiet was given.
func (t *trainFlags) logf(format string, a ...any) { logf(t.quiet, format, a...) }

func logf(quiet bool, format string, a ...any) {
	if !quiet {
		fmt.Fprintf(os.Stderr, format+"\n", a...)
	}
}
