package main

// The comparison baselines of issue #8 register their upscaling methods
// ("liif", "idm") in their packages' init; importing them here makes
// them available to upscale, eval, serve and bench.
import (
	_ "github.com/zoomdiff/zoomdiff/baseline/idm"
	_ "github.com/zoomdiff/zoomdiff/baseline/liif"
)
