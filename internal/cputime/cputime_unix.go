//go:build unix

// Package cputime reads the CPU time of the running process, for
// benchmarks that report CPU per operation next to wall time (on a shared
// machine the two differ).
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time (user and system) the process has used;
// ok is false where it cannot be read.
func Process() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
