// Package rfc3339 reads RFC 3339 times as time.Parse(time.RFC3339Nano)
// does, the usual UTC form directly. Every event carries such a time, and
// derived events copy it.
package rfc3339

import "time"

// Parse reads t as time.Parse(time.RFC3339Nano, t) does, with the same
// result and error. The usual form, "2006-01-02T15:04:05Z" with an
// optional fraction of one to nine digits, is read directly; canonical
// reports whether t is also exactly what
// time.Time.UTC().AppendFormat(time.RFC3339Nano) writes for the result (no
// trailing zero in the fraction), so that it can be copied instead of
// formatted again. Anything else goes to time.Parse.
func Parse[T ~string | ~[]byte](t T) (tm time.Time, canonical bool, err error) {
	if tm, canonical, ok := parseUsual(t); ok {
		return tm, canonical, nil
	}
	tm, err = time.Parse(time.RFC3339Nano, string(t))
	return tm, false, err
}

func parseUsual[T ~string | ~[]byte](t T) (tm time.Time, canonical, ok bool) {
	// 2006-01-02T15:04:05[.999999999]Z
	if len(t) < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[len(t)-1] != 'Z' {
		return time.Time{}, false, false
	}
	century, ok1 := twoDigits(t[0], t[1])
	yy, ok2 := twoDigits(t[2], t[3])
	month, ok3 := twoDigits(t[5], t[6])
	day, ok4 := twoDigits(t[8], t[9])
	hour, ok5 := twoDigits(t[11], t[12])
	minute, ok6 := twoDigits(t[14], t[15])
	sec, ok7 := twoDigits(t[17], t[18])
	year := century*100 + yy
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false, false
	}
	nsec := 0
	canonical = true
	if frac := t[19 : len(t)-1]; len(frac) > 0 {
		// .d to .ddddddddd
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
		canonical = frac[len(frac)-1] != '0'
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(nsec)).UTC(), canonical, true
}

// daysSinceEpoch returns the number of days from 1970-01-01 to the given
// date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400 // [0, 399]
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1    // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}

// twoDigits reads two decimal digits.
func twoDigits(hi, lo byte) (int, bool) {
	h, l := hi-'0', lo-'0'
	return int(h)*10 + int(l), h <= 9 && l <= 9
}

// digits reads a run of decimal digits.
func digits[T ~string | ~[]byte](b T) (int, bool) {
	n := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
