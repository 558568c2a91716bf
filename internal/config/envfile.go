package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxEnvLine bounds one line of an env file; a base64 PEM key is a few kilobytes.
const maxEnvLine = 1 << 20

// ParseEnvFile parses the tutorial's app.env format: KEY=VALUE lines; blank lines and lines
// starting with # ignored; an optional "export " prefix; white space around the key and an
// unquoted value trimmed. A value may be wrapped in single quotes (taken literally) or double
// quotes (where \n, \" and \\ are escapes); only white space and a # comment may follow the
// closing quote. In an unquoted value a # preceded by white space starts a comment, as with
// viper and docker compose: quote a value that contains " #". There is no variable expansion.
// A later line for the same key wins.
//
// Problems name the line number, never its value, which may be a secret. Every bad line is
// reported.
func ParseEnvFile(r io.Reader) (map[string]string, error) {
	values := make(map[string]string)
	var problems []error
	sc := bufio.NewScanner(r) // splits on \n and drops a trailing \r
	sc.Buffer(make([]byte, 0, 64*1024), maxEnvLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		key, value, ok, err := parseEnvLine(line)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("line %d: %w", n, err))
		case ok:
			values[key] = value
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		problems = append(problems, fmt.Errorf("line %d: longer than %d bytes", n+1, maxEnvLine))
	case err != nil:
		problems = append(problems, fmt.Errorf("read after line %d: %w", n, err))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return values, nil
}

// parseEnvLine parses one line. ok is false for blank and comment lines. Errors never contain
// the value.
func parseEnvLine(line string) (key, value string, ok bool, err error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return "", "", false, nil
	}
	if rest, found := strings.CutPrefix(s, "export"); found && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimLeft(rest, " \t")
	}
	key, raw, found := strings.Cut(s, "=")
	if !found {
		return "", "", false, errors.New("expected KEY=VALUE")
	}
	key = strings.TrimSpace(key)
	if !isEnvName(key) {
		return "", "", false, errors.New("invalid variable name (want letters, digits and _, not starting with a digit)")
	}
	raw = strings.TrimLeft(raw, " \t")
	var rest string
	switch {
	case strings.HasPrefix(raw, `"`):
		value, rest, err = unquoteDouble(raw[1:])
		if err != nil {
			return "", "", false, fmt.Errorf("%s: %w", key, err)
		}
	case strings.HasPrefix(raw, "'"):
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", "", false, fmt.Errorf("%s: unterminated single quote", key)
		}
		value, rest = raw[1:1+end], raw[2+end:]
	default:
		return key, strings.TrimSpace(cutComment(raw)), true, nil
	}
	if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
		return "", "", false, fmt.Errorf("%s: unexpected text after the closing quote", key)
	}
	return key, value, true, nil
}

// cutComment removes a comment, a # preceded by white space, from an unquoted value.
func cutComment(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// unquoteDouble reads a double-quoted value up to its closing quote (already past the opening
// one) and returns the value and what follows the closing quote.
func unquoteDouble(s string) (value, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\' && i+1 < len(s) && s[i+1] == 'n':
			b.WriteByte('\n')
			i++
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated double quote")
}

// isEnvName reports whether s is a valid variable name: [A-Za-z_][A-Za-z0-9_]*.
func isEnvName(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// Lookup returns a getenv for Load that prefers the process environment and falls back to an
// env file's values: Lookup(os.LookupEnv, fileValues). As everywhere in this package, an empty
// value counts as unset, so an empty environment variable does not hide the file's value
// (viper, which the tutorial uses, behaves the same).
func Lookup(lookupEnv func(string) (string, bool), file map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := lookupEnv(name); ok && v != "" {
			return v
		}
		return file[name]
	}
}
