package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookTolerance is how far a delivery's webhook-timestamp may be from
// this service's clock, either way: an older delivery is refused as a
// possible replay. authd signs each attempt anew, so its retries pass.
const WebhookTolerance = 5 * time.Minute

// MaxWebhookBody bounds a delivery's body (authd's events are well under
// 1 KiB).
const MaxWebhookBody = 64 << 10

// minSecretBytes is the shortest secret accepted, as authd's WEBHOOKS_FILE.
const minSecretBytes = 24

// EventSessionRevoked is the event a DenySet acts on.
const EventSessionRevoked = "session.revoked"

// Handler returns an http.Handler that receives authd's webhook deliveries
// (Standard Webhooks: https://www.standardwebhooks.com) and adds the
// session of each session.revoked event to d. Mount it on the URL of a
// WEBHOOKS_FILE endpoint whose events include "session.revoked".
//
// secrets are the endpoint's secrets ("whsec_" and base64 of at least 24
// bytes; the "whsec_" prefix may be left out); a delivery is accepted if
// any v1 signature of its webhook-signature header matches any of them
// (compared in constant time), so a secret is rotated by listing the new
// one here, then in authd, then removing the old one from both.
//
// The answers: 204 for an accepted delivery, of any event type (an event
// it does not act on is accepted and ignored); 400 for missing or
// malformed headers or a malformed session.revoked event; 401 for a
// timestamp more than WebhookTolerance off or no matching signature; 405
// for a method other than POST; 413 for a body over MaxWebhookBody. Every
// error body is {"status":"fail","message":...}. Adding a session twice
// is harmless, so a redelivery needs no de-duplication.
func (d *DenySet) Handler(secrets ...string) (http.Handler, error) {
	if len(secrets) == 0 {
		return nil, errors.New("verify: webhook handler: no secret")
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			return nil, fmt.Errorf("verify: webhook secret %d: not base64 after whsec_", i+1)
		}
		if len(k) < minSecretBytes {
			return nil, fmt.Errorf("verify: webhook secret %d: %d bytes, want at least %d", i+1, len(k), minSecretBytes)
		}
		keys = append(keys, k)
	}
	return &webhook{deny: d, keys: keys}, nil
}

type webhook struct {
	deny *DenySet
	keys [][]byte
}

// revoked is the part of a session.revoked delivery the DenySet uses.
type revoked struct {
	Type string `json:"type"`
	Data struct {
		SessionID       string    `json:"session_id"`
		AccessExpiresBy time.Time `json:"access_expires_by"`
	} `json:"data"`
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		fail(w, http.StatusBadRequest, "missing webhook-id, webhook-timestamp or webhook-signature")
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		fail(w, http.StatusBadRequest, "malformed webhook-timestamp")
		return
	}
	if skew := h.deny.now().Sub(time.Unix(sec, 0)); skew > WebhookTolerance || skew < -WebhookTolerance {
		fail(w, http.StatusUnauthorized, "webhook-timestamp too far from now")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		fail(w, http.StatusBadRequest, "could not read the body")
		return
	}
	if !h.signed(id, ts, body, sigs) {
		fail(w, http.StatusUnauthorized, "no valid signature")
		return
	}
	var ev revoked
	if err := json.Unmarshal(body, &ev); err != nil {
		fail(w, http.StatusBadRequest, "malformed event")
		return
	}
	if ev.Type == EventSessionRevoked {
		if !isUUID(ev.Data.SessionID) || ev.Data.AccessExpiresBy.IsZero() {
			fail(w, http.StatusBadRequest, "session.revoked without session_id or access_expires_by")
			return
		}
		h.deny.Add(ev.Data.SessionID, ev.Data.AccessExpiresBy)
	}
	w.WriteHeader(http.StatusNoContent)
}

// signed reports whether any v1 signature in sigs is the HMAC-SHA256 of
// "id.ts.body" under any key.
func (h *webhook) signed(id, ts string, body []byte, sigs string) bool {
	macs := make([][]byte, len(h.keys))
	for i, k := range h.keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		macs[i] = m.Sum(nil)
	}
	ok := false
	for _, sig := range strings.Fields(sigs) {
		v, b64, found := strings.Cut(sig, ",")
		if !found || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, want := range macs {
			if hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	return ok
}

// fail writes an error in authd's envelope.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}{"fail", msg})
}
