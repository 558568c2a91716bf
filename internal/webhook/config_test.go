package webhook

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseErrors: a bad file is refused with every problem, each naming
// the endpoint and the field, and never quoting a secret.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	ep := func(id, url, events, secrets string) string {
		return fmt.Sprintf(`{"id": %q, "url": %q, "events": %s, "secrets": %s}`, id, url, events, secrets)
	}
	ok := fmt.Sprintf("[%q]", secret1)
	short := SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 23))
	long := SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 65))
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"bad id", `{"endpoints": [` + ep("SIEM!", "https://h/x", `["*"]`, ok) + `]}`, []string{`endpoint 1: id: want 1 to 64 of a-z, 0-9, _ and -, got "SIEM!"`}},
		{"long id", `{"endpoints": [` + ep(strings.Repeat("a", 65), "https://h/x", `["*"]`, ok) + `]}`, []string{`endpoint 1: id:`}},
		{"duplicate id", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, ok) + `,` + ep("a", "https://h/y", `["*"]`, ok) + `]}`, []string{`endpoint "a": id: used by an earlier endpoint too`}},
		{"url scheme", `{"endpoints": [` + ep("a", "ftp://h/x", `["*"]`, ok) + `]}`, []string{`endpoint "a": url: want an absolute http or https URL`}},
		{"url relative", `{"endpoints": [` + ep("a", "/x", `["*"]`, ok) + `]}`, []string{`endpoint "a": url:`}},
		{"empty events", `{"endpoints": [` + ep("a", "https://h/x", `[]`, ok) + `]}`, []string{`endpoint "a": events: empty`}},
		{"bad event", `{"endpoints": [` + ep("a", "https://h/x", `["login*"]`, ok) + `]}`, []string{`endpoint "a": events: "login*" is not an event name`}},
		{"no secrets", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, `[]`) + `]}`, []string{`endpoint "a": secrets: empty`}},
		{"no prefix", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, `["c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"]`) + `]}`, []string{`endpoint "a": secrets: secret 1: does not start with whsec_`}},
		{"not base64", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, `["whsec_!!!"]`) + `]}`, []string{`endpoint "a": secrets: secret 1: not standard base64`}},
		{"short", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, fmt.Sprintf("[%q, %q]", secret1, short)) + `]}`, []string{`endpoint "a": secrets: secret 2: 23 bytes after decoding, want 24 to 64`}},
		{"long", `{"endpoints": [` + ep("a", "https://h/x", `["*"]`, fmt.Sprintf("[%q]", long)) + `]}`, []string{`endpoint "a": secrets: secret 1: 65 bytes`}},
		{"unknown field", `{"endpoints": [{"id": "a", "uri": "https://h/x"}]}`, []string{`unknown field "uri"`}},
		{"trailing", `{"endpoints": []} {}`, []string{`data after the JSON object`}},
		{"all at once", `{"endpoints": [` + ep("a", "mailto:x", `[]`, `[]`) + `]}`, []string{`endpoint "a": url:`, `endpoint "a": events:`, `endpoint "a": secrets:`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
			for _, s := range []string{secret1, short, long} {
				if strings.Contains(err.Error(), strings.TrimPrefix(s, SecretPrefix)) {
					t.Errorf("error quotes a secret: %q", err)
				}
			}
		})
	}
}

// TestLoad: "" is no webhooks; a file is read and its errors name it.
func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := Load("")
	if err != nil || len(c.Endpoints) != 0 || c.Wants("session.revoked") != nil {
		t.Fatalf(`Load("") = %v, %v; want no endpoints`, c, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(fmt.Sprintf(`{"endpoints": [{"id": "siem", "url": "https://hooks.example.com/authd", "events": ["session.revoked"], "secrets": [%q]}]}`, secret1)), 0o600)
	if c, err := Load(good); err != nil || len(c.Endpoints) != 1 {
		t.Fatalf("Load(good) = %v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"endpoints": [{"id": "x", "url": "https://h", "events": ["*"], "secrets": ["whsec_"]}]}`), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "WEBHOOKS_FILE "+bad+`: endpoint "x": secrets: secret 1`) {
		t.Errorf("Load(bad) error %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.HasPrefix(err.Error(), "WEBHOOKS_FILE: ") {
		t.Errorf("Load(missing) error %v", err)
	}
}

// TestWants: exact names, "prefix.*" and "*", in file order, each
// endpoint once however many of its filters match.
func TestWants(t *testing.T) {
	t.Parallel()
	c := mustParse(t, fmt.Sprintf(`{"endpoints": [
		{"id": "siem", "url": "https://a/", "events": ["*"], "secrets": [%[1]q]},
		{"id": "revocations", "url": "https://b/", "events": ["session.revoked"], "secrets": [%[1]q]},
		{"id": "logins", "url": "https://c/", "events": ["login.*", "login.failed"], "secrets": [%[1]q]}]}`, secret1))
	for _, tc := range []struct {
		event string
		want  []string
	}{
		{"session.revoked", []string{"siem", "revocations"}},
		{"session.created", []string{"siem"}},
		{"login.failed", []string{"siem", "logins"}},
		{"login.locked", []string{"siem", "logins"}},
		{"loginx.failed", []string{"siem"}},
	} {
		if got := c.Wants(tc.event); !slices.Equal(got, tc.want) {
			t.Errorf("Wants(%q) = %v, want %v", tc.event, got, tc.want)
		}
	}
	none := mustParse(t, fmt.Sprintf(`{"endpoints": [{"id": "r", "url": "https://b/", "events": ["session.revoked"], "secrets": [%q]}]}`, secret1))
	if got := none.Wants("login.failed"); got != nil {
		t.Errorf("Wants = %v, want nil", got)
	}
}

// TestRefused: the addresses a webhook may not reach without
// allow_private, and some it may.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.1.2.3", true}, {"::1", true},
		{"10.0.0.1", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
		{"fc00::1", true}, {"fd12:3456::1", true},
		{"169.254.169.254", true}, {"fe80::1", true},
		{"0.0.0.0", true}, {"0.1.2.3", true}, {"::", true},
		{"224.0.0.1", true}, {"ff02::1", true}, {"ff05::1", true},
		{"100.64.0.1", true}, {"100.127.255.255", true},
		{"192.0.0.170", true}, {"198.18.0.1", true}, {"198.19.255.255", true}, {"240.0.0.1", true}, {"255.255.255.255", true},
		{"168.63.129.16", true}, {"168.63.129.17", false}, {"198.20.0.1", false},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"8.8.8.8", false}, {"172.32.0.1", false}, {"100.128.0.1", false}, {"192.0.2.1", false},
		{"2001:4860:4860::8888", false}, {"::ffff:8.8.8.8", false},
	} {
		if got := refused(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("refused(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	if err := guard("tcp", "10.1.2.3:443", nil); err == nil {
		t.Error("guard let 10.1.2.3 through")
	}
	if err := guard("tcp", "[2001:db8::1]:443", nil); err != nil {
		t.Errorf("guard refused a public address: %v", err)
	}
}

// TestBackoffAndPause: waits double from 5s (between half and all of it)
// up to an hour; pauses double from a minute up to an hour.
func TestBackoffAndPause(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		attempts int
		max      time.Duration
	}{{1, 5 * time.Second}, {2, 10 * time.Second}, {5, 80 * time.Second}, {11, time.Hour}, {40, time.Hour}} {
		for range 20 {
			if d := backoff(c.attempts); d < c.max/2 || d > c.max {
				t.Errorf("backoff(%d) = %s, want %s to %s", c.attempts, d, c.max/2, c.max)
			}
		}
	}
	for k, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 7: time.Hour, 100: time.Hour} {
		if got := pauseFor(k); got != want {
			t.Errorf("pauseFor(%d) = %s, want %s", k, got, want)
		}
	}
}
