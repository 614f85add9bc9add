package deadletter

import (
	"strings"
	"unicode/utf8"
)

// oneLine makes s a single line: when s holds a tab or a line break (CR,
// LF, vertical tab, form feed, NEL, or a Unicode line or paragraph
// separator), every run of white space becomes one space and leading and
// trailing white space is dropped. Other strings are returned unchanged.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n\t\v\f\u0085\u2028\u2029") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return s
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Back up to the start of the rune that would be cut (at most 3 bytes).
	for i := n; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}
