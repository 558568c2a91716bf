package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// target binds a row of the settings table to its Config field: load reads
// the variable into the field, logValue shows the field as LogValue does.
type target interface {
	load(l *loader, name string)
	logValue(secret bool) slog.Value
	addr() any     // the field's address, for the tests
	redacts() bool // whether logValue hides a secret by itself, for the tests
}

// field is a target of type T.
type field[T any] struct {
	p         *T
	read      func(l *loader, name string) T
	show      func(T) slog.Value
	redacting bool // show prints nothing of a secret
}

func (f field[T]) load(l *loader, name string) { *f.p = f.read(l, name) }

// logValue shows the field. Of a secret it shows only what a redacting show
// does, and nothing at all otherwise.
func (f field[T]) logValue(secret bool) slog.Value {
	if secret && !f.redacting {
		return slog.StringValue("[redacted]")
	}
	return f.show(*f.p)
}

func (f field[T]) addr() any     { return f.p }
func (f field[T]) redacts() bool { return f.redacting }

// bind is a field read and shown by the given functions.
func bind[T any](p *T, read func(*loader, string) T, show func(T) slog.Value) target {
	return field[T]{p: p, read: read, show: show}
}

// redacted is bind for a field whose show never prints a secret.
func redacted[T any](p *T, read func(*loader, string) T, show func(T) slog.Value) target {
	return field[T]{p: p, read: read, show: show, redacting: true}
}

// valid drops the ok of a reader: a variable that is invalid leaves the zero
// value, and its problem is reported.
func valid[T any](read func(*loader, string) (T, bool)) func(*loader, string) T {
	return func(l *loader, name string) T {
		v, _ := read(l, name)
		return v
	}
}

// The common kinds of setting.
func stringVar(p *string) target          { return bind(p, (*loader).value, slog.StringValue) }
func choiceVar(p *string) target          { return bind(p, (*loader).oneOf, slog.StringValue) }
func boolVar(p *bool) target              { return bind(p, (*loader).bool, slog.BoolValue) }
func intVar(p *int) target                { return bind(p, valid((*loader).int), slog.IntValue) }
func durationVar(p *time.Duration) target { return bind(p, valid((*loader).duration), showDuration) }
func minutesVar(p *time.Duration) target  { return bind(p, valid((*loader).minutes), showDuration) }

// keyVar is a key shown as [set] or [unset]; required ones must be set.
func keyVar(p *string, required bool) target {
	read := (*loader).value
	if required {
		read = func(l *loader, name string) string { return l.required(name, "a base64-encoded PEM private key") }
	}
	return redacted(p, read, showSet)
}

// keysVar is a list of keys, shown as their number.
func keysVar(p *[]string) target {
	return redacted(p, (*loader).list, func(keys []string) slog.Value { return slog.IntValue(len(keys)) })
}

func showDuration(d time.Duration) slog.Value { return slog.StringValue(formatDuration(d)) }

// showSet shows only whether s is set.
func showSet(s string) slog.Value { return slog.StringValue(setOrUnset(s)) }

func showJoined(items []string) slog.Value { return slog.StringValue(strings.Join(items, ",")) }

func showPrefixes(prefixes []netip.Prefix) slog.Value {
	s := make([]string, len(prefixes))
	for i, p := range prefixes {
		s[i] = p.String()
	}
	return slog.StringValue(strings.Join(s, ","))
}

func showDatabaseURL(s string) slog.Value { return slog.StringValue(redactDatabaseURL(s)) }

func showLevel(level slog.Level) slog.Value { return slog.StringValue(level.String()) }

func setOrUnset(s string) string {
	if s == "" {
		return "[unset]"
	}
	return "[set]"
}
