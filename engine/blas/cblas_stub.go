//go:build !((linux || darwin) && !android && !faketime && (amd64 || arm64)) || nocblas

package blas

import "os"

// loadSystem never finds a CBLAS here: either this is a platform we do not
// load libraries on (purego's CGO_ENABLED=0 mode does not build for FreeBSD
// with Go 1.26, and other ports are untested), or the nocblas tag asked for
// a binary that needs no dynamic loader (purego makes even CGO_ENABLED=0
// binaries link libdl).
func loadSystem() (impl, string) {
	if env := os.Getenv("ZOOMDIFF_BLAS"); env != "" && env != "go" {
		return nil, "ZOOMDIFF_BLAS=" + env + " ignored: built without CBLAS support"
	}
	return nil, ""
}

// searchDefault never finds a CBLAS on this build.
func searchDefault() impl { return nil }
