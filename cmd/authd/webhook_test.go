package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestWebhooksFileRefused: a bad WEBHOOKS_FILE stops the start with an
// error that names the file, the endpoint and the field.
func TestWebhooksFileRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	path := filepath.Join(t.TempDir(), "webhooks.json")
	os.WriteFile(path, []byte(`{"endpoints": [{"id": "siem", "url": "https://hooks.example.com/", "events": ["*"], "secrets": ["whsec_c2hvcnQ="]}]}`), 0o600)
	env := testKeyEnv(t)
	env["DATABASE_URL"] = "postgres://127.0.0.1:1/none"
	env["WEBHOOKS_FILE"] = path
	err := run(t.Context(), []string{"serve"}, lookup(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "WEBHOOKS_FILE "+path+`: endpoint "siem": secrets: secret 1: 5 bytes after decoding, want 24 to 64`) {
		t.Fatalf("bad WEBHOOKS_FILE: %v", err)
	}
}

// TestWebhookOnLogout: authd serving with WEBHOOKS_FILE posts a signed
// session.revoked to the receiver when a session logs out.
func TestWebhookOnLogout(t *testing.T) {
	t.Chdir(t.TempDir())
	key := []byte(strings.Repeat("k", 32))
	got := make(chan *http.Request, 16)
	bodies := make(chan []byte, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer rcv.Close()
	path := filepath.Join(t.TempDir(), "webhooks.json")
	os.WriteFile(path, []byte(fmt.Sprintf(`{"endpoints": [{"id": "verifiers", "url": %q, "events": ["session.revoked"], "secrets": [%q], "allow_private": true}]}`,
		rcv.URL, "whsec_"+base64.StdEncoding.EncodeToString(key))), 0o600)

	env := testKeyEnv(t)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["PORT"] = "0"
	env["LISTEN_HOST"] = "127.0.0.1"
	env["METRICS_ADDR"] = "off"
	env["BCRYPT_COST"] = "10"
	env["SHUTDOWN_TIMEOUT"] = "5s"
	env["WEBHOOKS_FILE"] = path
	ctx, cancel := context.WithCancel(t.Context())
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, lookup(env), nil, logw, io.Discard)
		logw.Close()
	}()
	defer func() { cancel(); <-done }()
	var base string
	sc := bufio.NewScanner(logs)
	for base == "" && sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "authd listening" {
			base = "http://" + line.Addr
		}
	}
	go io.Copy(io.Discard, logs)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-t.Context().Done():
			t.Fatal("not ready")
		case <-time.After(20 * time.Millisecond):
		}
	}

	post := func(path, bearer, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	post("/api/auth/register", "", `{"name":"Ada","email":"ada@example.com","password":"password123","passwordConfirm":"password123"}`).Body.Close()
	resp := post("/api/auth/login", "", `{"email":"ada@example.com","password":"password123"}`)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.AccessToken == "" {
		t.Fatalf("login: %s", resp.Status)
	}
	if resp := post("/api/auth/logout", login.AccessToken, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s", resp.Status)
	}

	var r *http.Request
	var body []byte
	select {
	case r = <-got:
		body = <-bodies
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook within 30s")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); r.Header.Get("webhook-signature") != want {
		t.Errorf("webhook-signature %q, want %q", r.Header.Get("webhook-signature"), want)
	}
	var p struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type != "session.revoked" || p.Data["session_id"] == nil || p.Data["user_id"] == nil ||
		p.Data["reason"] == nil || p.Data["access_expires_by"] == nil {
		t.Errorf("body %s (%v), want a session.revoked with session_id, user_id, reason and access_expires_by", body, err)
	}
}
