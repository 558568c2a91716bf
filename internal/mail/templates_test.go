package mail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplatesRenderEveryKind(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			v := view{FirstName: firstName("Ada <b>Lovelace</b>"), Email: "ada@example.com", NewEmail: "x@example.org", ValidFor: "15 minutes", Product: "authd"}
			const link = "https://app.example.com/p/tok"
			if IsTokenKind(kind) {
				v.URL = link
			}
			r, err := tpl.render(kind, v, subjectView{ValidMinutes: 15, ValidFor: "15 minutes", Product: "authd"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject == "" || strings.ContainsAny(r.Subject, "\r\n") {
				t.Errorf("subject %q", r.Subject)
			}
			if !strings.HasPrefix(r.Text, "Hi Ada,") || !strings.Contains(r.HTML, "Hi Ada,") {
				t.Errorf("greeting:\n%s\n%s", r.Text, r.HTML)
			}
			if IsTokenKind(kind) != strings.Contains(r.Text, link) || IsTokenKind(kind) != strings.Contains(r.HTML, `href="`+link+`"`) {
				t.Errorf("link shown %v, want %v", strings.Contains(r.Text, link), IsTokenKind(kind))
			}
			if IsTokenKind(kind) && !strings.Contains(r.Text, "15 minutes") {
				t.Errorf("lifetime missing:\n%s", r.Text)
			}
		})
	}
}

// TestHTMLEscapesUserData: a name or address with markup is shown as text.
func TestHTMLEscapesUserData(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.render(KindEmailChangeNotice, view{FirstName: firstName("<script>alert(1)</script> x"), NewEmail: `"><img src=x>@example.com`, Product: "authd"}, subjectView{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || strings.Contains(r.HTML, "<img") {
		t.Errorf("markup from user data in the HTML:\n%s", r.HTML)
	}
}

func TestFirstName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada"}, // the tutorial greeted "Lovelace"
		{"  Grace   Brewster Hopper ", "Grace"},
		{"Plato", "Plato"},
		{"", ""},
		{"   ", ""},
		{"\u202eevil\u202c name", "evil"},
		{"a\x00b\x1bc", "abc"},
		{strings.Repeat("é", 100), strings.Repeat("é", 64)},
	} {
		if got := firstName(tt.in); got != tt.want {
			t.Errorf("firstName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidFor(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{15 * time.Minute, "15 minutes"}, {time.Minute, "1 minute"}, {time.Hour, "1 hour"}, {24 * time.Hour, "24 hours"}, {90 * time.Minute, "90 minutes"}, {20 * time.Second, "1 minute"}} {
		if got := validFor(tt.d); got != tt.want {
			t.Errorf("validFor(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestTemplatesOverride(t *testing.T) {
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	t.Run("a file replaces its embedded namesake", func(t *testing.T) {
		dir := write(t, map[string]string{
			"subjects.txt":        strings.ReplaceAll(mustRead(t, "subjects.txt"), "Your account was deleted", "Hello from {{.Product}}"),
			"account_deleted.txt": "Custom {{.FirstName}} {{template \"footer\" .}}",
			".editor-swapfile":    "ignored",
		})
		tpl, err := LoadTemplates(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tpl.render(KindAccountDeleted, view{FirstName: "Ada", Product: "authd"}, subjectView{Product: "authd"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != "Hello from authd" || !strings.HasPrefix(r.Text, "Custom Ada") || !strings.Contains(r.HTML, "Your account has been deleted") {
			t.Errorf("got %q\n%s\n%s", r.Subject, r.Text, r.HTML)
		}
	})
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error", map[string]string{"verify_email.html": `{{define "content"}}{{.URL{{end}}`}, "verify_email.html"},
		{"unknown field", map[string]string{"reset_password.txt": `{{.Token}}`}, "Token"},
		{"user data in a subject", map[string]string{"subjects.txt": strings.ReplaceAll(mustRead(t, "subjects.txt"), "Your account was deleted", "Hi {{.FirstName}}, your account was deleted")}, "FirstName"},
		{"a subject missing", map[string]string{"subjects.txt": `{{define "account_deleted"}}x{{end}}`}, "no {{define"},
		{"misspelt file", map[string]string{"verify-email.html": `x`}, "verify-email.html"},
		{"no content block", map[string]string{"account_deleted.html": `plain`}, "content"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadTemplates(write(t, tt.files))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadTemplates: %v, want an error about %q", err, tt.want)
			}
		})
	}
	if _, err := LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory was accepted")
	}
}

func mustRead(t *testing.T, name string) string {
	b, err := embedded.ReadFile("templates/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
