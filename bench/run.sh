#!/bin/sh
# Runs the tracked benchmarks and their PyTorch peers and prints the
# comparison table; see bench/README.md. Arguments go to the Go program,
# e.g. bench/run.sh -count 5.
set -e
cd "$(dirname "$0")/.."
exec go run ./bench/compare "$@"
