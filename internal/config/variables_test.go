package config

import (
	"os"
	"strings"
	"testing"
)

// TestSettingsRenderBounds checks that a row's description shows its bounds only through
// "{range}", so the text cannot drift from what Load enforces.
func TestSettingsRenderBounds(t *testing.T) {
	for _, s := range settings() {
		kinds := 0
		if s.ints != nil {
			kinds++
		}
		if s.durations != nil {
			kinds++
		}
		if len(s.choices) > 0 {
			kinds++
		}
		if kinds > 1 {
			t.Errorf("%s: more than one of ints, durations and choices", s.name)
		}
		r := s.rangeText()
		switch {
		case strings.Contains(s.desc, "{range}") && r == "":
			t.Errorf("%s: description has {range} but the row has no bounds", s.name)
		case r != "" && strings.Contains(s.desc, r):
			t.Errorf("%s: description restates %q by hand; write {range}", s.name, r)
		case strings.ContainsAny(s.description(), "{}"):
			t.Errorf("%s: description %q has a brace left", s.name, s.description())
		}
	}
}

// TestREADMERowsMatchVariables checks each row of the README's configuration table word for word.
func TestREADMERowsMatchVariables(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, v := range Variables() {
		def := v.Default
		if def == "" {
			def = "—"
		}
		want := "| `" + v.Name + "` | " + def + " | " + v.Description + " |"
		found := false
		for _, line := range lines {
			if strings.HasPrefix(line, "| `"+v.Name+"` |") {
				found = true
				if line != want {
					t.Errorf("README row for %s:\n got %s\nwant %s", v.Name, line, want)
				}
			}
		}
		if !found {
			t.Errorf("README's configuration table has no row for %s", v.Name)
		}
	}
}
