// Package atomicfile writes files so that readers, and a crash, only ever
// see the old file or the complete new one: the bytes go to a synced
// temporary file in the same directory, which is renamed into place.
//
// Every output of zoomdiff (images, model files, checkpoints, charts,
// animations) goes through Write.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// testHookBeforeRename lets tests fail a write after the temporary file is
// complete, to check that the old file survives and nothing is left behind.
var testHookBeforeRename func() error

// CheckDir refuses a path whose folder does not exist (or is not a
// folder) or cannot be written in, and a path that is itself a folder,
// which the final rename cannot replace: front ends call it before long
// work, so that a mistyped -o fails at once rather than after the work,
// at the write.
func CheckDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("write %s: the folder %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("write %s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("write %s: %s is not a folder", path, dir)
	}
	if err := notFolder(path); err != nil {
		return err
	}
	// Creating a file is the one test of writing that holds whatever
	// forbids it (permissions, ACLs, a read-only mount); Write creates its
	// temporary file the same way.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // not the probe's name, which means nothing to the user
		}
		return fmt.Errorf("write %s: cannot create files in %s: %w", path, dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// notFolder refuses a path that is a folder: the rename at the end of
// Write would fail on it, with the temporary file's name.
func notFolder(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("write %s: it is a folder, not a file", path)
	}
	return nil
}

// Write creates path with the bytes fill writes (buffered). On any error
// the temporary file is removed and an existing file at path is left
// untouched. The file gets mode 0644.
func Write(path string, fill func(w io.Writer) error) (err error) {
	if err := notFolder(path); err != nil {
		return err // before fill's work, which the rename would throw away
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		if derr := CheckDir(path); derr != nil {
			return derr // say so plainly, not as a temporary file's name
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// The writer hides the *os.File from fill, so a type assertion cannot
	// reach Close or Seek and undo the atomicity.
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; outputs are meant to be shared like
	// any other newly created file.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Sync before the rename: otherwise a crash can leave the new name
	// pointing at data that never reached the disk.
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if testHookBeforeRename != nil {
		if err = testHookBeforeRename(); err != nil {
			return err
		}
	}
	if err = os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	// Sync the directory so the rename itself survives a power cut; some
	// platforms cannot open directories for syncing, and the data is already
	// safe, so failure here is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteAll creates several files at once, for outputs produced together
// (the samples of one upscale and their mean, written band by band): fill
// gets one writer per path, in order. Each file is replaced only if fill
// succeeds, so a failure leaves every path as it was.
func WriteAll(paths []string, fill func(ws []io.Writer) error) error {
	var open func(i int, ws []io.Writer) error
	open = func(i int, ws []io.Writer) error {
		if i == len(paths) {
			return fill(ws)
		}
		return Write(paths[i], func(w io.Writer) error { return open(i+1, append(ws, w)) })
	}
	return open(0, make([]io.Writer, 0, len(paths)))
}
