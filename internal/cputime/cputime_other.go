//go:build !unix

// Package cputime reads the CPU time of the running process, for
// benchmarks that report CPU per operation next to wall time (on a shared
// machine the two differ).
package cputime

import "time"

// Process returns the CPU time the process has used; ok is false where it
// cannot be read, as here.
func Process() (d time.Duration, ok bool) { return 0, false }
