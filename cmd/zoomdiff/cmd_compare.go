package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/zoomdiff/zoomdiff/evaluate"
)

// runCompare is `zoomdiff compare A.json B.json`: two evaluations (eval
// --json --per-image) compared image by image, so that a change's effect
// comes with its standard error.
func runCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON array instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoomdiff compare A.json B.json [--json]")
		fmt.Fprintln(fs.Output(), "  A and B are `zoomdiff eval --json --per-image` outputs; each row is B − A over the images both scored, ± its standard error")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("want two files (usage: zoomdiff compare A.json B.json)")
	}
	var rs [2][]evaluate.Result
	for i, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &rs[i]); err != nil {
			return fmt.Errorf("%s: not the JSON of zoomdiff eval --json: %w", path, err)
		}
	}
	cs, err := evaluate.Compare(rs[0], rs[1])
	if err != nil {
		return fmt.Errorf("compare %s (A) and %s (B): %w", fs.Arg(0), fs.Arg(1), err)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cs)
	}
	fmt.Printf("%s − %s, image by image (mean ± standard error):\n", fs.Arg(1), fs.Arg(0))
	return evaluate.WriteComparisons(os.Stdout, cs)
}
