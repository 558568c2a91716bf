package policy

import (
	_ "embed"
	"slices"
	"strings"
)

//go:generate go run gen.go

// commonText is the shipped list: see its header for its source and licence.
//
//go:embed blocklist.txt
var commonText string

// Blocklist is a set of passwords refused whatever their case.
type Blocklist struct {
	sorted []string // normalised, sorted, no duplicates
}

// Common is the blocklist shipped in the binary: the most common of the
// passwords of 8 bytes or more in the zxcvbn frequency list (MIT), a few
// thousand. Each call parses the embedded text anew; build one and keep it.
func Common() *Blocklist { return parseBlocklist(commonText) }

// parseBlocklist reads one password a line; empty lines and lines that
// start with # are skipped.
func parseBlocklist(text string) *Blocklist {
	list := make([]string, 0, strings.Count(text, "\n")+1)
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		list = append(list, normalise(line))
	}
	slices.Sort(list)
	return &Blocklist{sorted: slices.Clip(slices.Compact(list))}
}

// Len is the number of passwords in b.
func (b *Blocklist) Len() int { return len(b.sorted) }

// Contains reports whether pw, normalised, is in b.
func (b *Blocklist) Contains(pw string) bool {
	_, found := slices.BinarySearch(b.sorted, normalise(pw))
	return found
}

// normalise is what two passwords that count as one share: the lower case
// of every letter (Unicode). "Password123" is as common as "password123".
func normalise(pw string) string { return strings.ToLower(pw) }
