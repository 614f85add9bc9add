package rules

import (
	"encoding/json"
	"time"
)

// schedule is the schedule object (braze-api.md §4.5).
type schedule struct {
	Time          json.RawMessage `json:"time"`
	InLocalTime   json.RawMessage `json:"in_local_time"`
	AtOptimalTime json.RawMessage `json:"at_optimal_time"`
}

// localTimeLag is how long after a wall-clock time read as UTC that time is
// still ahead somewhere: the westernmost zone, UTC-12, reaches it last.
const localTimeLag = 12 * time.Hour

// schedule applies §5 rule 27 to the request's schedule, which the caller
// has checked is present: a JSON object whose time is an ISO-8601 time,
// without a zone designator when in_local_time or at_optimal_time is set,
// and, when Options.Now is set, not already passed in every time zone for an
// in_local_time schedule.
func (c *checker) schedule() *Violation {
	m := c.req.Schedule
	if !isObject(m) {
		return invalid("schedule", "must be a JSON object")
	}
	var s schedule
	if v := decodeInto(m, &s, "schedule"); v != nil {
		return v
	}
	local, v := boolean(s.InLocalTime, "schedule.in_local_time")
	if v != nil {
		return v
	}
	optimal, v := boolean(s.AtOptimalTime, "schedule.at_optimal_time")
	if v != nil {
		return v
	}
	ts, v := requiredStr(s.Time, "schedule.time")
	if v != nil {
		return v
	}
	t, zoned, ok := parseISO8601(ts)
	if !ok {
		return &Violation{Label: LabelBadRequest, Field: "schedule.time", Detail: "cannot be parsed as an ISO-8601 time"}
	}
	if zoned && (local || optimal) {
		return &Violation{Label: LabelBadRequest, Field: "schedule.time",
			Detail: "must not carry a zone designator with in_local_time or at_optimal_time"}
	}
	if now, ok := c.now(); ok && local && t.Add(localTimeLag).Before(now) {
		return &Violation{Label: LabelBadRequest, Field: "schedule.time",
			Detail: "has already passed in every time zone"}
	}
	return nil
}

// isoTime checks that an optional field, when given, is an ISO-8601 time
// string.
func isoTime(m json.RawMessage, field string) *Violation {
	s, v := str(m, field)
	if v != nil || s == "" {
		return v
	}
	if _, _, ok := parseISO8601(s); !ok {
		return invalid(field, "must be an ISO-8601 time")
	}
	return nil
}

// parseISO8601 parses the ISO-8601 forms Braze's documentation uses: a
// calendar date YYYY-MM-DD, optionally followed by "T" (or a space) and
// hh:mm, hh:mm:ss or hh:mm:ss.fraction, optionally followed by a zone
// designator Z, ±hh:mm, ±hhmm or ±hh. A time without a designator is read as
// UTC; zoned reports whether one was given.
func parseISO8601(s string) (t time.Time, zoned, ok bool) {
	num := func(i, n int) (int, bool) {
		if i < 0 || i+n > len(s) {
			return 0, false
		}
		v := 0
		for j := i; j < i+n; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false, false
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false, false
	}
	var hour, minute, sec, nsec, offset int
	i := 10
	if i < len(s) && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') {
		var okH, okM bool
		hour, okH = num(i+1, 2)
		minute, okM = num(i+4, 2)
		if !okH || !okM || s[i+3] != ':' {
			return time.Time{}, false, false
		}
		i += 6
		if i < len(s) && s[i] == ':' {
			var okS bool
			if sec, okS = num(i+1, 2); !okS {
				return time.Time{}, false, false
			}
			i += 3
			if i < len(s) && (s[i] == '.' || s[i] == ',') {
				i++
				start, scale := i, 100000000
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					nsec += int(s[i]-'0') * scale
					scale /= 10
					i++
				}
				if i == start {
					return time.Time{}, false, false
				}
			}
		}
		if i < len(s) {
			switch s[i] {
			case 'Z', 'z':
				zoned = true
				i++
			case '+', '-':
				sign := 1
				if s[i] == '-' {
					sign = -1
				}
				h, okH := num(i+1, 2)
				if !okH || h > 23 {
					return time.Time{}, false, false
				}
				i += 3
				m := 0
				if i < len(s) {
					okM := false
					if s[i] == ':' {
						m, okM = num(i+1, 2)
						i += 3
					} else {
						m, okM = num(i, 2)
						i += 2
					}
					if !okM || m > 59 {
						return time.Time{}, false, false
					}
				}
				offset = sign * (h*3600 + m*60)
				zoned = true
			}
		}
	}
	if i != len(s) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 2026-02-30 and the like
		return time.Time{}, false, false
	}
	return t.Add(-time.Duration(offset) * time.Second), zoned, true
}
