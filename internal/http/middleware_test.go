package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestRecovererAnswersJSON(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := recoverer(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got, want := rec.Code, http.StatusInternalServerError; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	var body envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != "error" || body.Message != "internal error" {
		t.Errorf("body = %q", rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Error("panic value leaked to the client")
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Error("panic not logged")
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name       string
		method     string
		origin     string
		preflight  bool
		wantStatus int
		wantAllow  string
	}{
		{"allowed preflight", "OPTIONS", "http://localhost:3000", true, 204, "http://localhost:3000"},
		{"denied preflight", "OPTIONS", "https://evil.example", true, 403, ""},
		{"allowed simple", "GET", "http://localhost:3000", false, 200, "http://localhost:3000"},
		{"denied simple", "GET", "https://evil.example", false, 200, ""},
		{"plain options", "OPTIONS", "", false, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.srv.URL+"/api/healthchecker", nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantAllow != "" && resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Error("no Allow-Credentials")
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Error("no Vary: Origin")
			}
		})
	}
}

func TestCrossSiteRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, refresh := f.loginTokens("csrf@example.com")
	tests := []struct {
		name   string
		method string
		path   string
		hdr    []string
		want   int
	}{
		{"GET refresh cross-site", "GET", "/api/auth/refresh", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"GET refresh foreign origin", "GET", "/api/auth/refresh", []string{"Origin", "https://evil.example"}, 403},
		{"GET logout cross-site", "GET", "/api/auth/logout", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"POST login foreign origin", "POST", "/api/auth/login", []string{"Origin", "https://evil.example"}, 403},
		{"POST logout form", "POST", "/api/auth/logout", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"POST refresh text", "POST", "/api/auth/refresh", []string{"Content-Type", "text/plain"}, 415},
		{"HEAD logout", "HEAD", "/api/auth/logout", nil, 405},
		{"HEAD refresh", "HEAD", "/api/auth/refresh", nil, 405},
		{"DELETE session cross-site", "DELETE", "/api/users/me/sessions/00000000-0000-0000-0000-000000000001", []string{"Origin", "https://evil.example"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := append([]string{"Cookie", refreshCookie + "=" + refresh + "; " + accessCookie + "=" + access}, tt.hdr...)
			r := f.do(nil, tt.method, tt.path, nil, hdr...)
			if r.status != tt.want {
				t.Errorf("status = %d, want %d (%s)", r.status, tt.want, r.raw)
			}
		})
	}
	// Nothing above ended or rotated the session.
	if got := f.meStatus(access); got != http.StatusOK {
		t.Errorf("session after refused requests: %d", got)
	}
	if r := f.do(nil, "GET", "/api/auth/refresh", nil, "Cookie", refreshCookie+"="+refresh, "Origin", "http://localhost:3000", "Sec-Fetch-Site", "cross-site"); r.status != http.StatusOK {
		t.Errorf("refresh from the configured client origin: %d %s", r.status, r.raw)
	}
}

func TestHealthAndJWKS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range []string{"/api/healthchecker", "/healthz", "/readyz"} {
		if r := f.do(nil, "GET", p, nil); r.status != http.StatusOK || r.str("status") != "success" {
			t.Errorf("%s: %d %s", p, r.status, r.raw)
		}
	}
	r := f.do(nil, "GET", "/.well-known/jwks.json", nil)
	keys, _ := r.body["keys"].([]any)
	if r.status != http.StatusOK || len(keys) != 1 {
		t.Fatalf("jwks: %d %s", r.status, r.raw)
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "max-age") {
		t.Error("jwks not cacheable")
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		remote  string
		xff     string
		trusted []netip.Prefix
		want    string
	}{
		{"socket", "192.0.2.1:1234", "", nil, "192.0.2.1"},
		{"spoofed xff ignored", "192.0.2.1:1234", "203.0.113.9", nil, "192.0.2.1"},
		{"untrusted peer", "192.0.2.1:1234", "203.0.113.9", trusted, "192.0.2.1"},
		{"trusted proxy", "10.0.0.2:1234", "203.0.113.9", trusted, "203.0.113.9"},
		{"spoof behind proxy", "10.0.0.2:1234", "1.1.1.1, 203.0.113.9", trusted, "203.0.113.9"},
		{"chain of proxies", "10.0.0.2:1234", "203.0.113.9, 10.0.0.7", trusted, "203.0.113.9"},
		{"garbage xff is not the proxy", "10.0.0.2:1234", "nonsense", trusted, "nonsense"},
		{"ip:port", "10.0.0.2:1234", "203.0.113.9:5678", trusted, "203.0.113.9"},
		{"[v6]:port", "10.0.0.2:1234", "[2001:db8::9]:5678", trusted, "2001:db8::9"},
		{"[v6]", "10.0.0.2:1234", "[2001:db8::9]", trusted, "2001:db8::9"},
		{"v4-mapped v6", "10.0.0.2:1234", "::ffff:203.0.113.9", trusted, "203.0.113.9"},
		{"empty hop skipped", "10.0.0.2:1234", "203.0.113.9, ", trusted, "203.0.113.9"},
		{"zone refused", "10.0.0.2:1234", "fe80::1%eth0", trusted, "fe80::1%eth0"},
		{"ipv6", "[2001:db8::1]:443", "", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientAddr(r, tt.trusted); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestClientGoneIsNot5xx: a request whose client hung up mid-query is
// recorded as 499, not as a server error.
func TestClientGoneIsNot5xx(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	writeError(w, r, log, fmt.Errorf("authenticate: %w", context.Canceled))
	if w.Code != 499 {
		t.Errorf("status = %d, want 499", w.Code)
	}
	if strings.Contains(logs.String(), "ERROR") {
		t.Errorf("a client hang-up was logged as an error: %s", logs.String())
	}
}

// TestRequestID: a sane X-Request-Id is echoed and logged; anything else is
// replaced by a fresh id.
func TestRequestID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.do(nil, "GET", "/healthz", nil, "X-Request-Id", "trace-42.a_b")
	if got := r.header.Get("X-Request-Id"); got != "trace-42.a_b" {
		t.Errorf("echoed id = %q", got)
	}
	if !strings.Contains(f.logs.String(), `"request_id":"trace-42.a_b"`) || !strings.Contains(f.logs.String(), `"route":"GET /healthz"`) {
		t.Errorf("request line lacks the id or route: %s", f.logs.String())
	}
	r = f.do(nil, "GET", "/healthz", nil, "X-Request-Id", "bad id\" with spaces")
	if got := r.header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("unsafe id not replaced: %q", got)
	}
}
