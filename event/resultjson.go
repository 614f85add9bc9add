package event

import (
	"encoding/json"
	"strconv"
	"time"
)

// One results record is written and read back per event, so its JSON form
// has a fast path: AppendJSON writes exactly the bytes json.Marshal would,
// and UnmarshalJSON reads the records the gateway writes without
// reflection. Anything unusual (escapes, non-ASCII, HTML-sensitive
// characters, nulls, numbers that are not plain integers, keys that are not
// exactly the field names) is left to encoding/json, so the results are
// the same either way; resultjson_test.go checks both against it.

// plainResult is Result without its methods: encoding/json's reading.
type plainResult Result

// AppendJSON appends r's JSON form to dst: byte for byte what
// json.Marshal(r) produces, and its error when it fails.
func (r *Result) AppendJSON(dst []byte) ([]byte, error) {
	if !r.plain() {
		b, err := json.Marshal((*plainResult)(r))
		return append(dst, b...), err
	}
	dst = append(dst, `{"id":`...)
	dst = appendPlain(dst, r.ID)
	dst = append(dst, `,"source":`...)
	dst = appendPlain(dst, r.Source)
	dst = append(dst, `,"type":`...)
	dst = appendPlain(dst, r.Type)
	dst = append(dst, `,"outcome":`...)
	dst = appendPlain(dst, r.Outcome)
	dst = appendOmit(dst, `,"reason":`, string(r.Reason))
	dst = appendOmit(dst, `,"dispatch_id":`, r.DispatchID)
	dst = appendOmit(dst, `,"schedule_id":`, r.ScheduleID)
	dst = appendOmit(dst, `,"send_id":`, r.SendID)
	if r.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(r.Status), 10)
	}
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempts), 10)
	if r.BatchSize != 0 {
		dst = append(dst, `,"batch_size":`...)
		dst = strconv.AppendInt(dst, int64(r.BatchSize), 10)
	}
	dst = append(dst, `,"completed_at":"`...)
	dst = r.CompletedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendOmit(dst, `,"workspace":`, r.Workspace)
	dst = appendOmit(dst, `,"schedule_key":`, r.ScheduleKey)
	return append(dst, '}'), nil
}

// plain reports whether every string of r is written as it is by
// encoding/json and the time can be formatted.
func (r *Result) plain() bool {
	for _, s := range [...]string{r.ID, r.Source, r.Type, r.Outcome, string(r.Reason), r.DispatchID,
		r.ScheduleID, r.SendID, r.Workspace, r.ScheduleKey} {
		if !plainString(s) {
			return false
		}
	}
	y := r.CompletedAt.Year()
	return y >= 0 && y <= 9999
}

// plainString reports whether encoding/json writes s unescaped: printable
// ASCII other than the quote, the backslash and the HTML characters it
// escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			return false
		}
	}
	return true
}

// jsonPlain tells the bytes plainString accepts: one load per byte
// instead of six comparisons (results records check ten strings each).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		switch c {
		case '"', '\\', '<', '>', '&':
		default:
			t[c] = true
		}
	}
	return t
}()

func appendPlain(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendOmit(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendPlain(dst, s)
}

// UnmarshalJSON reads a results record as encoding/json would read it
// into a Result. It validates its input, so it may also be called directly
// (saving json.Unmarshal's own validating pass): invalid JSON gets
// encoding/json's error.
func (r *Result) UnmarshalJSON(b []byte) error {
	if r.fastUnmarshal(b) {
		return nil
	}
	return json.Unmarshal(b, (*plainResult)(r))
}

// fastUnmarshal decodes the plain records the gateway writes; it reports
// false, having changed nothing, for anything else, invalid JSON included.
func (r *Result) fastUnmarshal(b []byte) bool {
	var buf [16]member
	ms, ok := validMembers(buf[:0], b)
	if !ok {
		return false
	}
	out := *r
	for _, m := range ms {
		if string(m.value) == "null" {
			return false
		}
		var str *string
		var num *int
		switch string(m.raw) {
		case `"id"`:
			str = &out.ID
		case `"source"`:
			str = &out.Source
		case `"type"`:
			str = &out.Type
		case `"outcome"`:
			str = &out.Outcome
		case `"reason"`:
			str = (*string)(&out.Reason)
		case `"dispatch_id"`:
			str = &out.DispatchID
		case `"schedule_id"`:
			str = &out.ScheduleID
		case `"send_id"`:
			str = &out.SendID
		case `"workspace"`:
			str = &out.Workspace
		case `"schedule_key"`:
			str = &out.ScheduleKey
		case `"status"`:
			num = &out.Status
		case `"attempts"`:
			num = &out.Attempts
		case `"batch_size"`:
			num = &out.BatchSize
		case `"completed_at"`:
			if out.CompletedAt.UnmarshalJSON(m.value) != nil {
				return false
			}
			continue
		default:
			if !ignoredKey(m.raw) {
				return false
			}
			continue
		}
		switch {
		case str != nil:
			v := m.value
			if len(v) < 2 || v[0] != '"' || !plainString(string(v[1:len(v)-1])) {
				return false
			}
			*str = string(v[1 : len(v)-1])
		case num != nil:
			n, err := strconv.ParseInt(string(m.value), 10, 0)
			if err != nil {
				return false
			}
			*num = int(n)
		}
	}
	*r = out
	return true
}

// resultKeys are the JSON names of Result's fields.
var resultKeys = []string{"id", "source", "type", "outcome", "reason", "dispatch_id", "schedule_id", "send_id",
	"status", "attempts", "batch_size", "completed_at", "workspace", "schedule_key"}

// ignoredKey reports whether encoding/json certainly ignores the key raw
// (quoted): plain ASCII that matches no field name, not even ignoring case.
func ignoredKey(raw []byte) bool {
	k := raw[1 : len(raw)-1]
	for _, c := range k {
		if c >= 0x80 || c == '\\' {
			return false
		}
	}
	for _, name := range resultKeys {
		if len(name) == len(k) && equalFoldASCII(k, name) {
			return false
		}
	}
	return true
}

func equalFoldASCII(a []byte, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
