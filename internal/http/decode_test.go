package http

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		body   string
		status int // 0: success
	}{
		{"ok", "application/json", `{"email":"a","password":"b"}`, 0},
		{"charset ok", "application/json; charset=utf-8", `{"email":"a"}`, 0},
		{"whitespace around", "application/json", " \n{\"email\":\"a\"}\n ", 0},
		{"no content type", "", `{}`, 415},
		{"text", "text/plain", `{}`, 415},
		{"null", "application/json", `null`, 400},
		{"number", "application/json", `1`, 400},
		{"string", "application/json", `"x"`, 400},
		{"empty", "application/json", ``, 400},
		{"unknown", "application/json", `{"x":1}`, 400},
		{"case variant", "application/json", `{"EMAIL":"a"}`, 400},
		{"duplicate", "application/json", `{"email":"a","email":"b"}`, 400},
		{"trailing", "application/json", `{"email":"a"}x`, 400},
		{"two objects", "application/json", `{}{}`, 400},
		{"wrong type", "application/json", `{"email":true}`, 400},
		{"nested", "application/json", `{"email":{"a":1}}`, 400},
		{"truncated", "application/json", `{"email":"a`, 400},
		{"too big", "application/json", `{"email":"` + strings.Repeat("a", maxBody) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			_, err := decode[loginBody](httptest.NewRecorder(), r)
			got := 0
			var e *apiError
			if errors.As(err, &e) {
				got = e.status
			} else if err != nil {
				t.Fatalf("error is not an apiError: %v", err)
			}
			if got != tt.status {
				t.Errorf("status = %d, want %d (%v)", got, tt.status, err)
			}
		})
	}
}

// FuzzDecode: any body and content type gives a value or a 4xx apiError,
// never a panic or another error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"email":"a","password":"b"}`, `null`, `{"email":1}`, `{"a":{"b":[1,2]}}`, `{}{}`, "{\"email\":\"\xff\"}"} {
		f.Add("application/json", s)
	}
	f.Add("text/plain", "x")
	f.Fuzz(func(t *testing.T, ct, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		_, err := decode[loginBody](httptest.NewRecorder(), r)
		if err == nil {
			return
		}
		var e *apiError
		if !errors.As(err, &e) || e.status < 400 || e.status > 499 {
			t.Fatalf("decode(%q, %q) = %v", ct, body, err)
		}
	})
}

// FuzzClientAddr: any X-Forwarded-For gives an answer of bounded size
// without panicking.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "1.1.1.1, 203.0.113.9", "[2001:db8::1]:80", "nonsense", ",,,", "10.0.0.7"} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.2:1234"
		r.Header.Set("X-Forwarded-For", xff)
		got := clientAddr(r, trusted)
		if len(got) > 64+len("…") {
			t.Fatalf("clientAddr = %d bytes", len(got))
		}
	})
}

// FuzzAccessToken: any Authorization headers give a token or an error,
// never a panic, and more than one header is always refused.
func FuzzAccessToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic x", "", "Bearer", "Bearer a b"} {
		f.Add(s, "")
	}
	f.Add("Bearer a", "Bearer b")
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{h1}
		if h2 != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], h2)
		}
		tok, err := accessToken(r)
		if h2 != "" && err != errTwoCredentials {
			t.Fatalf("two headers: %q, %v", tok, err)
		}
		if err == nil && (tok == "" || strings.TrimSpace(tok) != tok) {
			t.Fatalf("token %q from %q", tok, h1)
		}
	})
}
