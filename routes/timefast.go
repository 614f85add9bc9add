package routes

import (
	"time"

	"github.com/brazegw/gateway/internal/rfc3339"
)

// parseTime reads the time attribute (see rfc3339.Parse).
func parseTime(t []byte) (time.Time, bool, error) {
	return rfc3339.Parse(t)
}

// appendTime writes t as time.Time.UTC().AppendFormat(time.RFC3339Nano)
// does.
func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}
