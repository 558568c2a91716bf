package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/internal/onetime"
)

//go:embed templates/*.html templates/*.txt
var embedded embed.FS

// Templates are the parsed mail templates: for each kind an HTML body
// (html/template, escaped), a text body (text/template) and a fixed
// subject. The files, under templates/:
//
//	base.html          {{define "base"}} (the HTML page, greeting, footer) and {{define "button"}}
//	footer.txt         {{define "greeting"}} and {{define "footer"}} of the text bodies
//	subjects.txt       {{define "KIND"}}Subject{{end}} for every kind
//	KIND.html          {{define "content"}} of the HTML body
//	KIND.txt           the text body
//
// Bodies see .FirstName, .Email (the recipient), .NewEmail, .URL (token
// kinds; for new_device the forgot-password page), .Device, .Addr and .At
// (new_device), .ValidFor ("15 minutes") and .Product (EMAIL_FROM_NAME);
// subjects see only .ValidMinutes, .ValidFor and .Product, so no user data
// can reach a subject line.
type Templates struct {
	html     map[string]*htmltemplate.Template
	text     map[string]*texttemplate.Template
	subjects *texttemplate.Template
}

// view is what a body template sees.
type view struct {
	FirstName string
	Email     string
	NewEmail  string
	URL       string
	Device    string
	Addr      string
	At        string
	ValidFor  string
	Product   string
}

// subjectView is what a subject template sees.
type subjectView struct {
	ValidMinutes int
	ValidFor     string
	Product      string
}

// templateFiles lists every file LoadTemplates reads.
func templateFiles() []string {
	names := []string{"base.html", "footer.txt", "subjects.txt"}
	for _, k := range Kinds() {
		names = append(names, k+".html", k+".txt")
	}
	return names
}

// LoadTemplates parses the embedded templates, each file replaced by the
// file of the same name in dir if dir is not empty (MAIL_TEMPLATES_DIR),
// and renders every kind once with sample data, so a broken override fails
// here, at start-up, not at the first mail. A file in dir that is not one
// of the names above is an error too (a misspelt override would otherwise
// be silently ignored); names starting with a dot are skipped.
func LoadTemplates(dir string) (*Templates, error) {
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(embedded, "templates/"+name)
		return string(b), err
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		known := templateFiles()
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if !slices.Contains(known, e.Name()) {
				return nil, fmt.Errorf("mail templates: %s in %s is not a template name (want one of %s)", e.Name(), dir, strings.Join(known, ", "))
			}
		}
		override := os.DirFS(dir)
		read = func(name string) (string, error) {
			b, err := fs.ReadFile(override, name)
			if errors.Is(err, fs.ErrNotExist) {
				b, err = fs.ReadFile(embedded, "templates/"+name)
			}
			return string(b), err
		}
	}

	t := &Templates{html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{}}
	base, err := read("base.html")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	footer, err := read("footer.txt")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	subjects, err := read("subjects.txt")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	if t.subjects, err = texttemplate.New("subjects.txt").Option("missingkey=error").Parse(subjects); err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	funcs := htmltemplate.FuncMap{"button": func(url, label string) map[string]string {
		return map[string]string{"URL": url, "Label": label}
	}}
	for _, kind := range Kinds() {
		h, err := read(kind + ".html")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		ht, err := htmltemplate.New("base.html").Funcs(funcs).Parse(base)
		if err == nil {
			_, err = ht.New(kind + ".html").Parse(h)
		}
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		t.html[kind] = ht

		txt, err := read(kind + ".txt")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		tt, err := texttemplate.New(kind + ".txt").Parse(txt)
		if err == nil {
			_, err = tt.New("footer.txt").Parse(footer)
		}
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		t.text[kind] = tt

		if t.subjects.Lookup(kind) == nil {
			return nil, fmt.Errorf("mail templates: subjects.txt has no {{define %q}}", kind)
		}
		sample := view{FirstName: "Ada", Email: "ada@example.com", NewEmail: "ada@example.org", ValidFor: "15 minutes", Product: "authd"}
		if kind == KindNewDevice {
			sample.URL, sample.Device, sample.Addr, sample.At = "https://app.example.com/forgotPassword", "Firefox on Linux", "192.0.2.1", "2 Jan 2026 15:04 UTC"
		}
		if IsTokenKind(kind) {
			sample.URL = "https://app.example.com/x/" + strings.Repeat("A", onetime.Link.Len())
		}
		if _, err := t.render(kind, sample, subjectView{ValidMinutes: 15, ValidFor: "15 minutes", Product: "authd"}); err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
	}
	return t, nil
}

// rendered is one mail's subject and bodies.
type rendered struct {
	Subject, Text, HTML string
}

func (t *Templates) render(kind string, v view, sv subjectView) (rendered, error) {
	var r rendered
	var b bytes.Buffer
	if err := t.subjects.ExecuteTemplate(&b, kind, sv); err != nil {
		return r, fmt.Errorf("subject of %s: %w", kind, err)
	}
	r.Subject = strings.Join(strings.Fields(b.String()), " ") // one line
	if r.Subject == "" {
		return r, fmt.Errorf("subject of %s is empty", kind)
	}
	b.Reset()
	if err := t.text[kind].Execute(&b, v); err != nil {
		return r, fmt.Errorf("text body of %s: %w", kind, err)
	}
	r.Text = strings.TrimSpace(b.String()) + "\n"
	b.Reset()
	if err := t.html[kind].ExecuteTemplate(&b, "base", v); err != nil {
		return r, fmt.Errorf("HTML body of %s: %w", kind, err)
	}
	r.HTML = b.String()
	return r, nil
}

// maxShown bounds a name or address shown in a mail, in runes.
const maxShown = 254

// firstName is the first word of name (the tutorial greeted the second),
// without control or format characters, at most 64 runes.
func firstName(name string) string {
	w := strings.Fields(name)
	if len(w) == 0 {
		return ""
	}
	return shown(w[0], 64)
}

// shown is s without control and format characters (no line breaks, no
// bidirectional overrides), cut to at most n runes.
func shown(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

// validFor writes a lifetime for people: "15 minutes", "1 hour", "24 hours".
func validFor(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	if d >= time.Hour && d%time.Hour == 0 {
		return plural(int64(d/time.Hour), "hour")
	}
	return plural(int64(max(d.Round(time.Minute), time.Minute)/time.Minute), "minute")
}
