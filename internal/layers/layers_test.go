package layers

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/zoomdiff/zoomdiff/"

// root is the repository, two folders up from this package.
const root = "../.."

// tableRows reads README.md's Design table: for each row, top to bottom,
// the package folders it names in backquotes.
func tableRows(t *testing.T) [][]string {
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	quoted := regexp.MustCompile("`([^`]+)`")
	var rows [][]string
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "| layer | packages |"):
			in = true
		case in && !strings.HasPrefix(line, "|"):
			return rows
		case in && !strings.HasPrefix(line, "| ---"):
			var row []string
			for _, m := range quoted.FindAllStringSubmatch(line, -1) {
				if isPackage(m[1]) {
					row = append(row, m[1])
				}
			}
			rows = append(rows, row)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !in {
		t.Fatal("README.md has no Design table (a line starting \"| layer | packages |\")")
	}
	return rows
}

// isPackage reports whether dir (relative to the root) holds Go code
// that is not only tests.
func isPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

// imports returns, for every package of the module, the module's
// packages its non-test files import. bench/ holds the measuring tools,
// which stand outside the layers.
func imports(t *testing.T) map[string][]string {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == "bench" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, im := range f.Imports {
			if p := strings.Trim(im.Path.Value, `"`); strings.HasPrefix(p, module) {
				out[pkg] = append(out[pkg], strings.TrimPrefix(p, module))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportsGoDownward checks that every package is in the table and
// imports nothing from a row above its own.
func TestImportsGoDownward(t *testing.T) {
	rows := tableRows(t)
	row := map[string]int{}
	for i, r := range rows {
		for _, p := range r {
			row[p] = i
		}
	}
	all := imports(t)
	if len(all) < 10 || len(row) < 10 {
		t.Fatalf("found %d packages and %d in the table: the walk or the table parse is broken", len(all), len(row))
	}
	for pkg, deps := range all {
		r, ok := row[pkg]
		if !ok {
			t.Errorf("package %s is in no row of README.md's Design table", pkg)
			continue
		}
		for _, d := range deps {
			if dr, ok := row[d]; ok && dr < r {
				t.Errorf("%s (row %d) imports %s, which sits higher (row %d)", pkg, r+1, d, dr+1)
			}
		}
	}
	for p := range row {
		if _, ok := all[p]; !ok {
			t.Errorf("README.md's Design table names %s, which is not a package here", p)
		}
	}
}
