package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestSettingsRenderBounds checks that a row's description shows its bounds only through
// "{range}", so the text cannot drift from what Load enforces.
func TestSettingsRenderBounds(t *testing.T) {
	for _, s := range settings(new(Config)) {
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

// TestSettingsBindEveryField walks Config's fields: each is bound by exactly one row of the
// settings table, so Load reads it and LogValue shows it. A row without a field names the row
// whose reader reads its variable too, and a secret row's field redacts it.
func TestSettingsBindEveryField(t *testing.T) {
	var c Config
	rows := settings(&c)
	byName := make(map[string]setting)
	for _, s := range rows {
		byName[s.name] = s
	}
	bound := make(map[any][]string) // a field's address: the rows that bind it
	for _, s := range rows {
		switch {
		case s.to != nil && s.partOf != "":
			t.Errorf("%s: has a field and partOf %s", s.name, s.partOf)
		case s.to != nil:
			bound[s.to.addr()] = append(bound[s.to.addr()], s.name)
			if s.secret && !s.to.redacts() {
				t.Errorf("%s: secret, but its field's log value does not redact it", s.name)
			}
		case s.partOf == "":
			t.Errorf("%s: binds no field and is part of no other row", s.name)
		case byName[s.partOf].to == nil:
			t.Errorf("%s: part of %q, which reads no field", s.name, s.partOf)
		}
	}
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		addr := v.Field(i).Addr().Interface()
		if names := bound[addr]; len(names) != 1 {
			t.Errorf("Config.%s is bound by %d rows %v, want exactly one", v.Type().Field(i).Name, len(names), names)
		}
		delete(bound, addr)
	}
	for _, names := range bound {
		t.Errorf("%v bind something that is not a field of Config", names)
	}
}

// TestLogValueShowsEveryRow: LogValue has one attribute per row with a field, under the row's key.
func TestLogValueShowsEveryRow(t *testing.T) {
	c := mustLoad(t, secretEnv())
	got := make(map[string]bool)
	for _, a := range c.LogValue().Group() {
		if got[a.Key] {
			t.Errorf("LogValue shows %s twice", a.Key)
		}
		got[a.Key] = true
	}
	for _, s := range settings(new(Config)) {
		if s.to != nil && !got[s.logKey()] {
			t.Errorf("LogValue does not show %s (key %s)", s.name, s.logKey())
		}
	}
}

// TestREADMEListsFileSecrets: the README's note on NAME_FILE names exactly the secret
// variables, the ones that Load also reads from a file.
func TestREADMEListsFileSecrets(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, note, ok := strings.Cut(string(b), "**Secrets from files.**")
	if !ok {
		t.Fatal("README.md has no **Secrets from files.** note")
	}
	note, _, _ = strings.Cut(note, "\n\n")
	note, _, _ = strings.Cut(note, "may instead be")
	var listed []string
	for i, part := range strings.Split(note, "`") {
		if i%2 == 1 {
			listed = append(listed, part)
		}
	}
	var want []string
	for _, v := range Variables() {
		if v.Secret {
			want = append(want, v.Name)
		}
	}
	if !reflect.DeepEqual(listed, want) {
		t.Errorf("README's note lists %v,\nwant the secret variables %v", listed, want)
	}
}
