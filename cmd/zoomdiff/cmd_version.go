package main

import (
	"flag"
	"fmt"
	"runtime"

	"github.com/zoomdiff/zoomdiff/engine/blas"
)

// version is set at build time with -ldflags "-X main.version=..." for releases.
var version = "dev"

func runVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q: version takes none", fs.Args())
	}
	fmt.Printf("zoomdiff %s (%s, %s/%s, %d threads)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Printf("gemm: %s\n", blas.Name())
	return nil
}
