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

	"github.com/zoomdiff/zoomdiff/progress"
)

// imageExts are the extensions folder mode upscales, the formats imageio
// reads; files with other extensions are ignored without a word.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".bmp": true}

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
}

// folderFile is one image found under the input folder.
type folderFile struct {
	rel     string // path relative to the input folder, for messages
	in, out string
}

// folderOutput is where the image at rel (relative to the input folder)
// goes: the same relative path under outDir, with its extension for PNG
// and JPEG and .png for the formats zoomdiff does not write (WebP, BMP).
func folderOutput(outDir, rel string) string {
	ext := filepath.Ext(rel)
	switch strings.ToLower(ext) {
	case ".png", ".jpg", ".jpeg":
	default:
		rel = strings.TrimSuffix(rel, ext) + ".png"
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
		if !imageExts[strings.ToLower(filepath.Ext(path))] {
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
	if _, err := os.Stat(f.out); errors.Is(err, fs.ErrNotExist) && imageExts[strings.ToLower(filepath.Ext(f.out))] {
		return fmt.Errorf("-o %s: the input is a folder, so -o names the output folder", f.out)
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	inInfo, err := os.Stat(f.in)
	if err != nil {
		return fmt.Errorf("input folder: %w", err)
	}
	outInfo, err := os.Stat(f.out)
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if os.SameFile(inInfo, outInfo) {
		return fmt.Errorf("-o %s is the input folder: the outputs would replace the images", f.out)
	}
	files, problems := f.list(outInfo)
	total := len(files) + len(problems)
	if total == 0 {
		return fmt.Errorf("no images (.png, .jpg, .jpeg, .webp, .bmp) under %s", f.in)
	}
	// Inputs are listed before anything is written, so outputs can never
	// be picked up as inputs; but with DIR inside OUTDIR an output could
	// still land on an input, and a.png and a.webp both make a.png.
	inputs := map[string]bool{}
	for _, file := range files {
		inputs[absPath(file.in)] = true
	}
	claimed := map[string]string{}

	bar := progress.New(f.stderr, "upscale", len(files), f.quiet)
	say := func(format string, a ...any) {
		if bar != nil {
			bar.Printf(format, a...)
		} else {
			fmt.Fprintf(f.stderr, format+"\n", a...)
		}
	}
	var failed []string
	for _, p := range problems {
		say("failed: %s", p)
		failed = append(failed, p)
	}
	done, skipped, stopped := 0, 0, -1 // stopped: the file being upscaled when interrupted
	for i, file := range files {
		if ctx.Err() != nil {
			stopped = i
			break
		}
		bar.Update(i, file.rel)
		fail := func(err error) {
			say("failed %s: %v", file.rel, err)
			failed = append(failed, file.rel)
		}
		outs := f.outputs(file.out)
		if err := claim(outs, file.rel, inputs, claimed); err != nil {
			fail(err)
			continue
		}
		if !f.overwrite && allExist(outs) {
			skipped++
			if !f.quiet {
				say("skipped %s: %s exists (--overwrite to redo it)", file.rel, outs[0])
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(file.out), 0o755); err != nil {
			fail(err)
			continue
		}
		report := func(stage string, n, of int) {
			bar.Update(i, fmt.Sprintf("%s: %s %d/%d", file.rel, stage, n, of))
		}
		if err := f.one(ctx, file.in, file.out, report); err != nil {
			if ctx.Err() != nil {
				stopped = i
				break
			}
			fail(err)
			continue
		}
		done++
	}
	if stopped >= 0 {
		bar.Finish()
		return fmt.Errorf("interrupted after %d of %d files (%d upscaled, none left half-written): %w",
			stopped, len(files), done, ctx.Err())
	}
	bar.Update(len(files), "")
	bar.Finish()
	if !f.quiet {
		fmt.Fprintf(f.stderr, "%d upscaled, %d skipped, %d failed of %d files; outputs under %s\n",
			done, skipped, len(failed), total, f.out)
	}
	if len(failed) > 0 {
		names := failed
		if len(names) > 3 {
			names = append(names[:3:3], "…")
		}
		return fmt.Errorf("%d of %d files failed: %s", len(failed), total, strings.Join(names, ", "))
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
