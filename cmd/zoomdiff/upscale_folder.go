package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/progress"
)

// folderUpscale is `zoomdiff upscale DIR -o OUTDIR`: every image under DIR,
// sub-folders included, upscaled to the same relative path under OUTDIR.
type folderUpscale struct {
	in, out          string
	overwrite, quiet bool
	stderr           io.Writer
	// one upscales one file, reporting its progress to report.
	one func(ctx context.Context, in, out string, report func(stage string, done, total int)) error
	// outputs lists the files one writes for an output path (the model's
	// samples OUT-1, OUT-2, …), all of which must exist for a skip.
	outputs func(out string) []string
	// notes counts the inputs one had a note on (methods.Note); first is
	// the first of them with its note, for the closing summary.
	notes int
	first string
}

// noted records one's note on the input in (see fileUpscale.noted).
func (f *folderUpscale) noted(in, note string) {
	if f.notes == 0 {
		f.first = in + ": " + note
	}
	f.notes++
}

// folderFile is one image found under the input folder.
type folderFile struct {
	rel     string // path relative to the input folder, for messages
	in, out string
}

// folderOutput is where the image at rel (relative to the input folder)
// goes: the same relative path under outDir, with its extension for the
// formats zoomdiff writes (PNG, JPEG, TIFF) and .png for the others (WebP,
// BMP, GIF).
func folderOutput(outDir, rel string) string {
	if _, err := imageio.FormatFor(rel); err != nil {
		rel = strings.TrimSuffix(rel, filepath.Ext(rel)) + ".png"
	}
	return filepath.Join(outDir, rel)
}

// list walks the input folder, skipping the output folder if it lies
// inside. Folders that cannot be read are returned as problems.
func (f *folderUpscale) list(outInfo os.FileInfo) (files []folderFile, problems []string) {
	filepath.WalkDir(f.in, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, err.Error())
			return nil // WalkDir skips what it could not read and goes on
		}
		if d.IsDir() {
			if path != f.in {
				if info, err := d.Info(); err == nil && os.SameFile(info, outInfo) {
					return filepath.SkipDir // our own outputs
				}
			}
			return nil
		}
		if !imageio.HasImageExt(path) {
			return nil
		}
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			// A link to a file is followed; a link to anything else (a
			// folder: links are not walked into) is left alone. A broken
			// link is kept, to be reported like an unreadable file.
			if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
				return nil
			}
		case !t.IsRegular(): // a device or a pipe named like an image
			return nil
		}
		rel, err := filepath.Rel(f.in, path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			return nil
		}
		files = append(files, folderFile{rel: rel, in: path, out: folderOutput(f.out, rel)})
		return nil
	})
	return files, problems
}

// run upscales every image, going on after failures, and fails at the end
// if any file did. Outputs go through atomicfile (a temporary file renamed
// when complete), so an interruption (Ctrl-C cancels ctx) stops between or
// within files without leaving a partial image.
func (f *folderUpscale) run(ctx context.Context) error {
	outInfo, err := f.checkFolders()
	if err != nil {
		return err
	}
	files, problems := f.list(outInfo)
	total := len(files) + len(problems)
	if total == 0 {
		return fmt.Errorf("no images (%s) under %s", strings.Join(imageio.Extensions, ", "), f.in)
	}
	r := newFolderRun(f, files)
	for _, p := range problems {
		r.say("failed: %s", p)
		r.failed = append(r.failed, p)
	}
	stopped := -1 // the file being upscaled when interrupted
	for i, file := range files {
		if ctx.Err() != nil || r.upscale(ctx, i, file) {
			stopped = i
			break
		}
	}
	if stopped >= 0 {
		r.bar.Finish()
		return fmt.Errorf("interrupted after %d of %d files (%d upscaled, none left half-written): %w",
			stopped, len(files), r.done, ctx.Err())
	}
	r.bar.Update(len(files), "")
	r.bar.Finish()
	return r.summary(total)
}

// checkFolders refuses an -o that names a file or the input folder, and
// creates the output folder. It returns the output folder's info, for
// list to skip it when it lies inside the input.
func (f *folderUpscale) checkFolders() (os.FileInfo, error) {
	if _, err := os.Stat(f.out); errors.Is(err, fs.ErrNotExist) && imageio.HasImageExt(f.out) {
		return nil, fmt.Errorf("-o %s: the input is a folder, so -o names the output folder", f.out)
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	inInfo, err := os.Stat(f.in)
	if err != nil {
		return nil, fmt.Errorf("input folder: %w", err)
	}
	outInfo, err := os.Stat(f.out)
	if err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	if os.SameFile(inInfo, outInfo) {
		return nil, fmt.Errorf("-o %s is the input folder: the outputs would replace the images", f.out)
	}
	return outInfo, nil
}

// folderRun is one run of folderUpscale: its bar, the outputs claimed so
// far and the counts for the closing summary.
type folderRun struct {
	*folderUpscale
	bar     *progress.Bar
	clash   []error // the i-th file's outputs replace an input or another's outputs (nil: they do not)
	failed  []string
	done    int
	skipped int
}

// newFolderRun starts the run of files. Inputs are listed before anything
// is written, so outputs can never be picked up as inputs; but with DIR
// inside OUTDIR an output could still land on an input, and a.png and
// a.webp both make a.png: claim catches both, before any file is done.
// The files that keep their name claim first, so that a.png gets a.png
// whatever the walk's order (a.gif comes before it), and a.gif or a.webp
// fails.
func newFolderRun(f *folderUpscale, files []folderFile) *folderRun {
	r := &folderRun{folderUpscale: f, clash: make([]error, len(files)),
		bar: progress.New(f.stderr, "upscale", len(files), f.quiet)}
	inputs, claimed := map[string]bool{}, map[string]string{}
	for _, file := range files {
		inputs[absPath(file.in)] = true
	}
	for _, keepsName := range []bool{true, false} {
		for i, file := range files {
			if _, err := imageio.FormatFor(file.in); (err == nil) == keepsName {
				r.clash[i] = claim(r.outputs(file.out), file.rel, inputs, claimed)
			}
		}
	}
	return r
}

// say prints a line above the bar, or plainly when there is none (quiet).
func (r *folderRun) say(format string, a ...any) {
	if r.bar != nil {
		r.bar.Printf(format, a...)
	} else {
		fmt.Fprintf(r.stderr, format+"\n", a...)
	}
}

// upscale does the i-th file, recording a failure or a skip and going on;
// it reports true when ctx was cancelled during the file, to stop the run.
func (r *folderRun) upscale(ctx context.Context, i int, file folderFile) (interrupted bool) {
	r.bar.Update(i, file.rel)
	fail := func(err error) {
		r.say("failed %s: %v", file.rel, err)
		r.failed = append(r.failed, file.rel)
	}
	if err := r.clash[i]; err != nil {
		fail(err)
		return false
	}
	outs := r.outputs(file.out)
	if !r.overwrite && allExist(outs) {
		r.skipped++
		if !r.quiet {
			r.say("skipped %s: %s exists (--overwrite to redo it)", file.rel, outs[0])
		}
		return false
	}
	if err := os.MkdirAll(filepath.Dir(file.out), 0o755); err != nil {
		fail(err)
		return false
	}
	report := func(stage string, n, of int) {
		r.bar.Update(i, fmt.Sprintf("%s: %s %d/%d", file.rel, stage, n, of))
	}
	if err := r.one(ctx, file.in, file.out, report); err != nil {
		if ctx.Err() != nil {
			return true
		}
		fail(err)
		return false
	}
	r.done++
	return false
}

// summary prints the counts of a finished run (unless quiet) and fails
// when any of the total files did, naming the first three.
func (r *folderRun) summary(total int) error {
	if !r.quiet {
		fmt.Fprintf(r.stderr, "%d upscaled, %d skipped, %d failed of %d files; outputs under %s\n",
			r.done, r.skipped, len(r.failed), total, r.out)
		switch {
		case r.notes == 1:
			fmt.Fprintf(r.stderr, "note: %s (--model real)\n", r.first)
		case r.notes == 2:
			fmt.Fprintf(r.stderr, "note: %s; and 1 more input like it (--model real)\n", r.first)
		case r.notes > 2:
			fmt.Fprintf(r.stderr, "note: %s; and %d more inputs like it (--model real)\n", r.first, r.notes-1)
		}
	}
	if len(r.failed) > 0 {
		names := r.failed
		if len(names) > 3 {
			names = append(names[:3:3], "…")
		}
		return fmt.Errorf("%d of %d files failed: %s", len(r.failed), total, strings.Join(names, ", "))
	}
	return nil
}

// claim refuses outputs that would replace an input or that another input
// of this run already writes, and records them as rel's.
func claim(outs []string, rel string, inputs map[string]bool, claimed map[string]string) error {
	for _, o := range outs {
		a := absPath(o)
		if inputs[a] {
			return fmt.Errorf("output %s would replace an input image", o)
		}
		if by, ok := claimed[a]; ok {
			return fmt.Errorf("output %s is already the output of %s", o, by)
		}
	}
	for _, o := range outs {
		claimed[absPath(o)] = rel
	}
	return nil
}

// absPath is p made absolute and clean, or p cleaned when that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// allExist reports whether every path exists.
func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}
