package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// noLimit is the upper bound of durations that only have a lower one.
const noLimit = time.Duration(math.MaxInt64)

// loader reads variables through their rows and collects problems. Problems never contain the
// value of a secret.
type loader struct {
	getenv   func(string) string
	rows     map[string]setting
	problems []error
	files    map[string]string // the values of secrets read from NAME_FILE (secretfile.go)
}

func newLoader(getenv func(string) string, settings []setting) *loader {
	rows := make(map[string]setting, len(settings))
	for _, s := range settings {
		rows[s.name] = s
	}
	return &loader{getenv: getenv, rows: rows}
}

func (l *loader) problemf(name, format string, args ...any) {
	l.problems = append(l.problems, errors.New(name+": "+fmt.Sprintf(format, args...)))
}

// raw returns the variable exactly as getenv does; a secret one may come from the file that
// NAME_FILE names instead (fromFile).
func (l *loader) raw(name string) string {
	row, ok := l.rows[name]
	if !ok {
		// The tests catch this: every variable Load reads must be listed in Variables.
		l.problemf(name, "internal error: variable is not listed in Variables")
	}
	if row.secret {
		return l.fromFile(name, l.getenv(name))
	}
	return l.getenv(name)
}

// value returns the variable with surrounding white space removed, or its documented literal
// default when it is unset or empty. A computed default, such as "(number of CPUs)", is the
// caller's business: value returns "" for it.
func (l *loader) value(name string) string {
	if s := strings.TrimSpace(l.raw(name)); s != "" {
		return s
	}
	if d := l.rows[name].def; !strings.HasPrefix(d, "(") {
		return d
	}
	return ""
}

// show quotes s for an error message, unless name is secret.
func (l *loader) show(name, s string) string {
	if l.rows[name].secret {
		return "the value (not shown)"
	}
	return strconv.Quote(s)
}

// required returns the variable, reporting a problem when it is unset.
func (l *loader) required(name, what string) string {
	s := l.value(name)
	if s == "" {
		l.problemf(name, "must be set (%s)", what)
	}
	return s
}

// intBounds returns the bounds of an integer or minutes row.
func (l *loader) intBounds(name string) (bounds[int], bool) {
	if b := l.rows[name].ints; b != nil {
		return *b, true
	}
	l.problemf(name, "internal error: its row has no integer bounds")
	return bounds[int]{}, false
}

// int parses an integer within the row's bounds. ok is false when the variable is invalid or
// unset without a literal default.
func (l *loader) int(name string) (n int, ok bool) {
	b, ok := l.intBounds(name)
	s := l.value(name)
	if !ok || s == "" {
		return 0, false
	}
	lo, hi := b.min, b.max
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		l.problemf(name, "%s is out of range (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	case err != nil:
		l.problemf(name, "%s is not an integer (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	case n < lo || n > hi:
		l.problemf(name, "%s is out of range (want %d to %d)", l.show(name, s), lo, hi)
		return 0, false
	}
	return n, true
}

// int32 is int for an int32 field; the row's bounds keep it in range.
func (l *loader) int32(name string) int32 {
	n, _ := l.int(name)
	return int32(n)
}

// minutes parses a whole number of minutes within the row's bounds, the tutorial's unit for
// cookie Max-Age.
func (l *loader) minutes(name string) (time.Duration, bool) {
	b, ok := l.intBounds(name)
	s := l.value(name)
	if !ok || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		l.problemf(name, "%s is not a whole number of minutes (e.g. 15)", l.show(name, s))
		return 0, false
	}
	if err != nil || n < b.min || n > b.max {
		l.problemf(name, "%s is out of range (want %d to %d minutes)", l.show(name, s), b.min, b.max)
		return 0, false
	}
	return time.Duration(n) * time.Minute, true
}

// duration parses a Go duration within the row's bounds. ok is false when the variable is
// invalid.
func (l *loader) duration(name string) (d time.Duration, ok bool) {
	b := l.rows[name].durations
	if b == nil {
		l.problemf(name, "internal error: its row has no duration bounds")
		return 0, false
	}
	lo, hi := b.min, b.max
	s := l.value(name)
	d, err := time.ParseDuration(s)
	if err != nil {
		if isDigits(s) {
			l.problemf(name, "%s is not a duration: add a unit (e.g. %sm or %ss)", l.show(name, s), s, s)
		} else {
			l.problemf(name, "%s is not a duration (e.g. 15m)", l.show(name, s))
		}
		return 0, false
	}
	if d < lo || d > hi {
		if hi == noLimit {
			l.problemf(name, "%s is out of range (want at least %s)", formatDuration(d), formatDuration(lo))
		} else {
			l.problemf(name, "%s is out of range (want %s to %s)", formatDuration(d), formatDuration(lo), formatDuration(hi))
		}
		return 0, false
	}
	return d, true
}

func (l *loader) bool(name string) bool {
	s := l.value(name)
	b, err := strconv.ParseBool(s)
	if err != nil {
		l.problemf(name, "%s is not a boolean (want true or false)", l.show(name, s))
	}
	return b
}

// oneOf returns the variable in lower case if it is one of the row's choices.
func (l *loader) oneOf(name string) string {
	allowed := l.rows[name].choices
	s := strings.ToLower(l.value(name))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	l.problemf(name, "%s is not one of %s", l.show(name, s), strings.Join(allowed, ", "))
	return ""
}

func (l *loader) logLevel(name string) slog.Level {
	switch s := l.oneOf(name); s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// list splits a comma-separated variable, trimming items and dropping empty ones.
func (l *loader) list(name string) []string {
	var items []string
	for item := range strings.SplitSeq(l.value(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatDuration prints d without zero trailing units: 24h rather than 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
