package http

import (
	"errors"
	"net/http/httptest"
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
