package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verifyLikeDocs is the Go receiver's check of docs/operations.md
// (Webhooks), word for word.
func verifyLikeDocs(secret string, h http.Header, body []byte, now time.Time) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte("v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), want) {
			return true
		}
	}
	return false
}

// TestDocsVerifier: the documented check accepts a delivery with either
// of the endpoint's secrets (as during a rotation), and refuses it with
// another secret, a changed body or an old timestamp. The docs' example
// file parses.
func TestDocsVerifier(t *testing.T) {
	f := newFixture(t)
	f.event("siem")
	f.once(f.s)
	r := f.rcv.requests()[0]
	now := f.clock.Now()
	other := SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, c := range []struct {
		name   string
		secret string
		body   []byte
		now    time.Time
		want   bool
	}{
		{"old secret", secret1, r.body, now, true},
		{"new secret", secret2, r.body, now, true},
		{"another secret", other, r.body, now, false},
		{"changed body", secret1, append([]byte(" "), r.body...), now, false},
		{"replayed later", secret1, r.body, now.Add(6 * time.Minute), false},
	} {
		if got := verifyLikeDocs(c.secret, r.header, c.body, c.now); got != c.want {
			t.Errorf("%s: verify = %v, want %v", c.name, got, c.want)
		}
	}

	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## Webhooks\n")
	_, block, _ := strings.Cut(section, "```json\n")
	block, _, _ = strings.Cut(block, "```")
	c, err := Parse([]byte(block))
	if err != nil || len(c.Endpoints) != 2 {
		t.Errorf("the docs' example file: %v, %d endpoints", err, len(c.Endpoints))
	}
}
