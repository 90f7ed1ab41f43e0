//go:build !linux

package main

import "errors"

// runBench needs Linux: it reads a child's memory from /proc.
func runBench([]string) error {
	return errors.New("bench runs on Linux only: it reads each child's memory from /proc")
}
