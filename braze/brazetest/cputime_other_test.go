//go:build !unix

package brazetest

import "time"

// processCPU is not available here.
func processCPU() (time.Duration, bool) { return 0, false }
