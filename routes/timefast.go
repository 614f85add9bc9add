package routes

import "time"

// appendTime writes t as time.Time.UTC().AppendFormat(time.RFC3339Nano)
// does.
func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}
