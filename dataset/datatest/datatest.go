// Package datatest finds the shared data (../shared/data, or
// ZOOMDIFF_DATA) for tests, and skips a test where it is absent, so that
// the tests pass on a machine without it.
package datatest

import (
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
)

// Path returns the shared data folder joined with elems, or skips t,
// saying why, when there is no shared data.
func Path(t testing.TB, elems ...string) string {
	t.Helper()
	root, err := dataset.DataDir()
	if err != nil {
		t.Skipf("skipping: no shared data (%v)", err)
	}
	return filepath.Join(append([]string{root}, elems...)...)
}
