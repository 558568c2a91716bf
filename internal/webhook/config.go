package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// SecretPrefix starts every signing secret; base64 of 24 to 64 random
// bytes follows it.
const SecretPrefix = "whsec_"

// Secret lengths, in bytes after base64 decoding.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// maxFileBytes bounds WEBHOOKS_FILE.
const maxFileBytes = 1 << 20

// Endpoint is one receiver of webhooks, as configured.
type Endpoint struct {
	ID           string   // 1 to 64 of [a-z0-9_-]: metric label, webhook_deliveries.endpoint
	URL          string   // http or https
	Events       []string // exact names, "prefix.*" or "*"
	AllowPrivate bool     // may connect to loopback, private and link-local addresses

	secrets  [][]byte // decoded; each signs every delivery
	exact    map[string]bool
	prefixes []string // of "prefix.*", with the dot
	all      bool     // "*"
}

// wants reports whether e subscribes to event.
func (e *Endpoint) wants(event string) bool {
	if e.all || e.exact[event] {
		return true
	}
	for _, p := range e.prefixes {
		if strings.HasPrefix(event, p) {
			return true
		}
	}
	return false
}

// Config is the parsed WEBHOOKS_FILE: the endpoints, in file order. The
// zero Config has none.
type Config struct {
	Endpoints []*Endpoint
	byID      map[string]*Endpoint
}

// Wants names the endpoints that subscribe to event, in file order, each
// once; nil for none. It is session.Deps.Webhooks, called inside the
// transactions of logins, so it does no I/O and allocates only a match.
func (c Config) Wants(event string) []string {
	var out []string
	for _, e := range c.Endpoints {
		if e.wants(event) {
			out = append(out, e.ID)
		}
	}
	return out
}

// IDs are the configured endpoints' ids.
func (c Config) IDs() []string {
	ids := make([]string, len(c.Endpoints))
	for i, e := range c.Endpoints {
		ids[i] = e.ID
	}
	return ids
}

// endpoint is the configured endpoint of id, or nil.
func (c Config) endpoint(id string) *Endpoint { return c.byID[id] }

// Load reads and checks the file at path (WEBHOOKS_FILE); "" is no
// webhooks. Every error names the file, the endpoint and the field.
func Load(path string) (Config, error) {
	if path == "" {
		return Config{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("WEBHOOKS_FILE: %w", err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, maxFileBytes+1)); err != nil {
		return Config{}, fmt.Errorf("WEBHOOKS_FILE %s: %w", path, err)
	}
	if b.Len() > maxFileBytes {
		return Config{}, fmt.Errorf("WEBHOOKS_FILE %s: larger than %d bytes", path, maxFileBytes)
	}
	c, err := Parse(b.Bytes())
	if err != nil {
		return Config{}, fmt.Errorf("WEBHOOKS_FILE %s: %w", path, err)
	}
	return c, nil
}

// fileFormat is the JSON of WEBHOOKS_FILE.
type fileFormat struct {
	Endpoints []struct {
		ID           string   `json:"id"`
		URL          string   `json:"url"`
		Events       []string `json:"events"`
		Secrets      []string `json:"secrets"`
		AllowPrivate bool     `json:"allow_private"`
	} `json:"endpoints"`
}

// Parse checks the contents of a WEBHOOKS_FILE and returns every problem
// at once, each naming the endpoint (by id, else by position) and field.
// A secret is never quoted in an error.
func Parse(data []byte) (Config, error) {
	var f fileFormat
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("not a valid webhooks file: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("not a valid webhooks file: data after the JSON object")
	}
	c := Config{byID: map[string]*Endpoint{}}
	var errs []error
	for i, raw := range f.Endpoints {
		name := fmt.Sprintf("endpoint %d", i+1)
		if validID(raw.ID) {
			name = fmt.Sprintf("endpoint %q", raw.ID)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s: %s", name, field, fmt.Sprintf(format, args...)))
		}
		e := &Endpoint{ID: raw.ID, URL: raw.URL, AllowPrivate: raw.AllowPrivate, exact: map[string]bool{}}
		switch {
		case !validID(raw.ID):
			bad("id", "want 1 to 64 of a-z, 0-9, _ and -, got %q", truncated(raw.ID))
		case c.byID[raw.ID] != nil:
			bad("id", "used by an earlier endpoint too")
		}
		if u, err := url.Parse(raw.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			bad("url", "want an absolute http or https URL without user info or #fragment, got %q", truncated(raw.URL))
		}
		if len(raw.Events) == 0 {
			bad("events", "empty: name at least one event, \"prefix.*\" or \"*\"")
		}
		for _, ev := range raw.Events {
			switch {
			case ev == "*":
				e.all = true
			case strings.HasSuffix(ev, ".*") && validEvent(strings.TrimSuffix(ev, ".*")):
				e.prefixes = append(e.prefixes, strings.TrimSuffix(ev, "*"))
			case validEvent(ev):
				e.exact[ev] = true
			default:
				bad("events", "%q is not an event name, \"prefix.*\" or \"*\"", truncated(ev))
			}
		}
		if len(raw.Secrets) == 0 {
			bad("secrets", "empty: give at least one %s secret", SecretPrefix)
		}
		for j, s := range raw.Secrets {
			key, err := parseSecret(s)
			if err != nil {
				bad("secrets", "secret %d: %v", j+1, err)
				continue
			}
			e.secrets = append(e.secrets, key)
		}
		c.Endpoints = append(c.Endpoints, e)
		if validID(raw.ID) && c.byID[raw.ID] == nil {
			c.byID[raw.ID] = e
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// parseSecret decodes "whsec_" + base64 of 24 to 64 bytes.
func parseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("does not start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("not standard base64 after " + SecretPrefix)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%d bytes after decoding, want %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// validID: 1 to 64 of [a-z0-9_-].
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// validEvent: an event name or prefix, 1 to 64 of [a-z0-9_.], not
// starting or ending with a dot.
func validEvent(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// truncated bounds a value quoted in an error.
func truncated(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
