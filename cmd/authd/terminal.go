package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"golang.org/x/term"
)

// terminal returns the file descriptor of r if r is a terminal.
func terminal(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// maxPasswordLine bounds the line read from stdin for a password.
const maxPasswordLine = 1024

// readPassword reads a new password: typed twice without echo when stdin
// is a terminal (the prompts on stderr), else the first line of stdin
// without its line end (nothing else is trimmed).
func (c adminIO) readPassword() (string, error) {
	if fd, ok := terminal(c.stdin); ok {
		read := func(prompt string) (string, error) {
			fmt.Fprint(c.stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(c.stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(b), nil
		}
		pw, err := read("New password: ")
		if err != nil {
			return "", err
		}
		again, err := read("Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", refusal("the passwords typed do not match")
		}
		return pw, nil
	}
	if c.stdin == nil {
		return "", refusal("no password: give it on stdin, or run at a terminal to be asked")
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, maxPasswordLine+1)).ReadString('\n')
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read password: %w", err)
	case len(line) > maxPasswordLine:
		return "", refusal("the first line of stdin is too long to be a password")
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", refusal("no password on stdin (its first line is empty)")
	}
	return line, nil
}

// confirm asks on the terminal to type want; without a terminal it
// refuses.
func (c adminIO) confirm(question, want string) error {
	if _, ok := terminal(c.stdin); !ok {
		return refusal("stdin is not a terminal, so no one can be asked: pass -yes to go ahead without asking")
	}
	fmt.Fprintf(c.stderr, "%s Type %s to confirm: ", question, want)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read answer: %w", err)
	}
	if strings.TrimSpace(line) != want {
		return refusal("not confirmed")
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// when writes a time for people (UTC, RFC 3339), or none.
func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

// cell is s fit for a column: control characters (tabs, line breaks) shown as "?".
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
