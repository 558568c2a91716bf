package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	rawSecret1 = []byte("0123456789abcdef0123456789abcdef")
	rawSecret2 = []byte("fedcba9876543210fedcba9876543210")
	secret1    = "whsec_" + base64.StdEncoding.EncodeToString(rawSecret1)
	secret2    = "whsec_" + base64.StdEncoding.EncodeToString(rawSecret2)
)

// sig is the Standard Webhooks v1 signature, computed here independently
// of the code under test.
func sig(key []byte, id, ts, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func revokedBody(session string, expires time.Time) string {
	return `{"type":"session.revoked","timestamp":"2027-01-15T08:00:00Z","data":{"event_id":42,` +
		`"user_id":"` + testSub + `","session_id":"` + session + `","actor":"client","client_addr":"192.0.2.1",` +
		`"request_id":"r1","reason":"logout_current","access_expires_by":"` + expires.UTC().Format(time.RFC3339) + `"}}`
}

func TestWebhook(t *testing.T) {
	c := newClock()
	now := c.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	exp := now.Add(15 * time.Minute)
	body := revokedBody(testSid, exp)
	good := sig(rawSecret1, "evt_42", ts, body)
	for _, tc := range []struct {
		name         string
		method       string
		id, ts, sigs string
		body         string
		want         int
		denied       bool
	}{
		{name: "signed by the first secret", id: "evt_42", ts: ts, sigs: good, body: body, want: 204, denied: true},
		{name: "signed by the second secret", id: "evt_42", ts: ts, sigs: sig(rawSecret2, "evt_42", ts, body), body: body, want: 204, denied: true},
		{name: "several signatures, one good", id: "evt_42", ts: ts,
			sigs: sig([]byte("another secret, not ours, 32 byt"), "evt_42", ts, body) + " v1,!!! v2,xyz " + good, body: body, want: 204, denied: true},
		{name: "4 minutes old", id: "evt_42", ts: strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10),
			sigs: sig(rawSecret1, "evt_42", strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10), body), body: body, want: 204, denied: true},
		{name: "other event type", id: "evt_43", ts: ts, sigs: sig(rawSecret1, "evt_43", ts, `{"type":"login.failed","data":{}}`),
			body: `{"type":"login.failed","data":{}}`, want: 204},
		{name: "a signature of another secret", id: "evt_42", ts: ts, sigs: sig([]byte("another secret, not ours, 32 byt"), "evt_42", ts, body), body: body, want: 401},
		{name: "body changed", id: "evt_42", ts: ts, sigs: good, body: revokedBody(sid(9), exp), want: 401},
		{name: "id changed", id: "evt_43", ts: ts, sigs: good, body: body, want: 401},
		{name: "signed as v2", id: "evt_42", ts: ts, sigs: "v2," + strings.TrimPrefix(good, "v1,"), body: body, want: 401},
		{name: "replayed 6 minutes later", id: "evt_42", ts: strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10),
			sigs: sig(rawSecret1, "evt_42", strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10), body), body: body, want: 401},
		{name: "6 minutes ahead", id: "evt_42", ts: strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10),
			sigs: sig(rawSecret1, "evt_42", strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), body), body: body, want: 401},
		{name: "no signature", id: "evt_42", ts: ts, body: body, want: 400},
		{name: "no id", ts: ts, sigs: good, body: body, want: 400},
		{name: "no timestamp", id: "evt_42", sigs: good, body: body, want: 400},
		{name: "timestamp not a number", id: "evt_42", ts: "yesterday", sigs: good, body: body, want: 400},
		{name: "signed, not JSON", id: "evt_42", ts: ts, sigs: sig(rawSecret1, "evt_42", ts, "{"), body: "{", want: 400},
		{name: "signed, no session_id", id: "evt_42", ts: ts, sigs: sig(rawSecret1, "evt_42", ts, revokedBody("", exp)), body: revokedBody("", exp), want: 400},
		{name: "signed, no access_expires_by", id: "evt_42", ts: ts,
			sigs: sig(rawSecret1, "evt_42", ts, `{"type":"session.revoked","data":{"session_id":"`+testSid+`"}}`),
			body: `{"type":"session.revoked","data":{"session_id":"` + testSid + `"}}`, want: 400},
		{name: "too large", id: "evt_42", ts: ts, sigs: good, body: body + strings.Repeat(" ", MaxWebhookBody), want: 413},
		{name: "GET", method: http.MethodGet, id: "evt_42", ts: ts, sigs: good, want: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDenySet(DenyOptions{Now: c.Now})
			h, err := d.Handler(secret1, secret2)
			if err != nil {
				t.Fatal(err)
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/webhooks/authd", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			for name, val := range map[string]string{"webhook-id": tc.id, "webhook-timestamp": tc.ts, "webhook-signature": tc.sigs} {
				if val != "" {
					r.Header.Set(name, val)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			if w.Code >= 400 && !strings.HasPrefix(w.Body.String(), `{"status":"fail","message":`) {
				t.Errorf("body %s, want the envelope", w.Body)
			}
			if got := d.Denied(testSid); got != tc.denied {
				t.Errorf("Denied = %v, want %v", got, tc.denied)
			}
		})
	}
}

// TestWebhookSecretWithoutPrefix: a secret may be given without "whsec_".
func TestWebhookSecretWithoutPrefix(t *testing.T) {
	c := newClock()
	d := NewDenySet(DenyOptions{Now: c.Now})
	h, err := d.Handler(base64.StdEncoding.EncodeToString(rawSecret1))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(c.Now().Unix(), 10)
	body := revokedBody(testSid, c.Now().Add(time.Minute))
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("webhook-id", "evt_1")
	r.Header.Set("webhook-timestamp", ts)
	r.Header.Set("webhook-signature", sig(rawSecret1, "evt_1", ts, body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent || !d.Denied(testSid) {
		t.Errorf("status %d, Denied %v", w.Code, d.Denied(testSid))
	}
}

func TestWebhookRefusesBadSecrets(t *testing.T) {
	d := NewDenySet(DenyOptions{})
	for _, secrets := range [][]string{
		nil,
		{"whsec_not base64!"},
		{"whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{secret1, ""},
	} {
		if _, err := d.Handler(secrets...); err == nil {
			t.Errorf("Handler(%q) = nil error", secrets)
		}
	}
}
