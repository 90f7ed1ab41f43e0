//go:build !linux

package server

// residentBytes is unknown off Linux; the metric is left out.
func residentBytes() (int64, bool) { return 0, false }

// peakResidentBytes is unknown off Linux; the metric is left out.
func peakResidentBytes() (int64, bool) { return 0, false }
