package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesOnlyOnSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := Write(path, func(w io.Writer) error { _, err := w.Write([]byte("first")); return err }); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	// A failing fill, and a failure after the data is on disk but before
	// the rename, both leave the old file whole and no temporary file.
	if err := Write(path, func(w io.Writer) error { w.Write([]byte("half")); return errors.New("boom") }); err == nil {
		t.Fatal("fill error not reported")
	}
	testHookBeforeRename = func() error { return errors.New("crash") }
	err := Write(path, func(w io.Writer) error { _, err := w.Write([]byte("second")); return err })
	testHookBeforeRename = nil
	if err == nil {
		t.Fatal("hook error not reported")
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Fatalf("old file changed to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Fatal("a missing directory must be an error")
	}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	put := func(ws []io.Writer, s string) error {
		for i, w := range ws {
			if _, err := w.Write([]byte(s + paths[i][len(dir)+1:])); err != nil {
				return err
			}
		}
		return nil
	}
	if err := WriteAll(paths, func(ws []io.Writer) error { return put(ws, "old-") }); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(paths, func(ws []io.Writer) error { put(ws, "new-"); return errors.New("boom") }); err == nil {
		t.Fatal("fill error not reported")
	}
	for _, p := range paths {
		if b, _ := os.ReadFile(p); string(b) != "old-"+p[len(dir)+1:] {
			t.Errorf("%s holds %q after a failed write", p, b)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

// A missing folder is said as such, by CheckDir and by Write, without the
// temporary file's name; a file standing where the folder should be too.
func TestMissingFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{filepath.Join(dir, "no", "x.png"): "does not exist", filepath.Join(file, "x.png"): "is not a folder"} {
		if err := CheckDir(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckDir(%s): %v, want %q", p, err, want)
		}
		err := Write(p, func(w io.Writer) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), ".tmp") {
			t.Errorf("Write(%s): %v, want %q without the temporary file", p, err, want)
		}
	}
	if err := CheckDir(filepath.Join(dir, "x.png")); err != nil {
		t.Errorf("CheckDir in an existing folder: %v", err)
	}
	// A folder where the file should go is refused before fill runs,
	// not by the rename after it.
	folder := filepath.Join(dir, "d.png")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(folder); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("CheckDir(%s): %v, want it refused as a folder", folder, err)
	}
	filled := false
	err := Write(folder, func(w io.Writer) error { filled = true; return nil })
	if err == nil || filled || !strings.Contains(err.Error(), "is a folder") || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("Write(%s): %v (fill ran: %v), want it refused as a folder before fill", folder, err, filled)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("CheckDir left files behind: %v", ents)
	}
}

// A folder that cannot be written in is refused by CheckDir, before the
// work, and said plainly by Write.
func TestReadOnlyFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if f, err := os.CreateTemp(dir, "probe"); err == nil { // root writes anyway
		f.Close()
		os.Remove(f.Name())
		t.Skip("this user can write in a read-only folder")
	}
	p := filepath.Join(dir, "x.png")
	if err := CheckDir(p); err == nil || !strings.Contains(err.Error(), "cannot create files in") {
		t.Errorf("CheckDir(%s): %v, want it refused", p, err)
	}
	err := Write(p, func(w io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot create files in") || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("Write(%s): %v, want the folder said to be read-only, without the temporary file", p, err)
	}
}
