package policy_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/password/policy"
)

// rangeServer is a fake of the Pwned Passwords range API: it answers
// GET /range/{prefix} with the suffixes of corpus under that prefix and
// padding lines of count 0 when asked, and records every request.
type rangeServer struct {
	*httptest.Server
	corpus map[string]int // upper-case SHA-1 hex: count

	mu   sync.Mutex
	seen []*http.Request
}

func sha1Hex(pw string) string {
	sum := sha1.Sum([]byte(pw))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func newRangeServer(t *testing.T, counts map[string]int, padding []string) *rangeServer {
	t.Helper()
	s := &rangeServer{corpus: map[string]int{}}
	for pw, n := range counts {
		s.corpus[sha1Hex(pw)] = n
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.mu.Unlock()
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if r.Method != http.MethodGet || !ok || len(prefix) != 5 || strings.Trim(prefix, "0123456789ABCDEF") != "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		for h, n := range s.corpus {
			if strings.HasPrefix(h, prefix) {
				fmt.Fprintf(w, "%s:%d\r\n", h[5:], n)
			}
		}
		if r.Header.Get("Add-Padding") == "true" {
			for _, pw := range padding { // a padding line may be a real suffix, with count 0
				fmt.Fprintf(w, "%s:0\r\n", sha1Hex(pw)[5:])
			}
			fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("F", 35))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rangeServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.seen...)
}

// TestRangesBreached: a password in the corpus is breached, one absent or
// only on a padding line (count 0) is not; each query sends the first 5
// hex digits of the SHA-1 and asks for padding, and neither the password
// nor the rest of its hash leaves the process.
func TestRangesBreached(t *testing.T) {
	t.Parallel()
	srv := newRangeServer(t, map[string]int{"P@ssw0rd-2019": 12, "hunter2hunter2": 1}, []string{"padded password"})
	r := policy.NewRanges(srv.URL+"/range/", time.Second)
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"P@ssw0rd-2019", true},
		{"hunter2hunter2", true},
		{"p@ssw0rd-2019", false}, // the corpus is of exact passwords
		{"padded password", false},
		{"correct horse battery staple", false},
	} {
		got, err := r.Breached(t.Context(), tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("Breached(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	reqs := srv.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for i, pw := range []string{"P@ssw0rd-2019", "hunter2hunter2", "p@ssw0rd-2019", "padded password", "correct horse battery staple"} {
		req, h := reqs[i], sha1Hex(pw)
		if got, want := req.URL.Path, "/range/"+h[:5]; got != want {
			t.Errorf("query of %q: path %q, want %q", pw, got, want)
		}
		if got := req.Header.Get("Add-Padding"); got != "true" {
			t.Errorf("query of %q: Add-Padding %q, want true", pw, got)
		}
		dump := fmt.Sprint(req.URL, req.Header)
		for _, secret := range []string{pw, h[5:], strings.ToLower(h[5:]), h[5:15]} {
			if strings.Contains(dump, secret) {
				t.Errorf("query of %q sends %q: %s", pw, secret, dump)
			}
		}
	}
}

// TestRangesFailures: no answer in time, an error status, or something
// other than a range is an error (an unknown answer), never "not breached"
// silently and never "breached".
func TestRangesFailures(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fixed := func(status int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(s.Close)
		return s.URL + "/range/"
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name string
		base string
	}{
		{"timeout", slow.URL + "/range/"},
		{"server error", fixed(http.StatusServiceUnavailable, "")},
		{"rate limited", fixed(http.StatusTooManyRequests, "")},
		{"not a range", fixed(http.StatusOK, "<html>hello</html>")},
		{"empty", fixed(http.StatusOK, "")},
		{"bad count", fixed(http.StatusOK, strings.Repeat("A", 35)+":many\r\n")},
		{"unreachable", closed.URL + "/range/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const pw = "correct horse battery staple"
			got, err := policy.NewRanges(tc.base, 100*time.Millisecond).Breached(t.Context(), pw)
			if err == nil || got {
				t.Fatalf("Breached = %v, %v; want false and an error", got, err)
			}
			if h := sha1Hex(pw); strings.Contains(strings.ToUpper(err.Error()), h[:5]) {
				t.Errorf("error %q shows the hash prefix %s (it is logged)", err, h[:5])
			}
		})
	}
}

// TestCheckOnline: the policy asks the range API only about a password the
// offline rules let through, refuses a breached one, and reports a check
// it could not make as a *CheckError (the caller lets the password
// through).
func TestCheckOnline(t *testing.T) {
	t.Parallel()
	srv := newRangeServer(t, map[string]int{"P@ssw0rd-2019": 3}, nil)
	p := policy.New(policy.Options{Blocklist: true, Ranges: policy.NewRanges(srv.URL+"/range/", time.Second)})

	var r *policy.Refusal
	if err := p.Check(t.Context(), "P@ssw0rd-2019"); !errors.As(err, &r) || r.Reason != policy.ReasonBreached {
		t.Errorf("Check(breached) = %v, want a refusal %s", err, policy.ReasonBreached)
	} else if r.Problem != "password has appeared in a data breach" {
		t.Errorf("problem %q", r.Problem)
	}
	if err := p.Check(t.Context(), "correct horse battery staple"); err != nil {
		t.Errorf("Check(clean) = %v, want nil", err)
	}
	n := len(srv.requests())
	if err := p.Check(t.Context(), "password123"); !errors.As(err, &r) || r.Reason != policy.ReasonCommon {
		t.Errorf("Check(common) = %v, want a refusal %s", err, policy.ReasonCommon)
	}
	if err := p.Check(t.Context(), "short"); !errors.As(err, &r) || r.Reason != policy.ReasonTooShort {
		t.Errorf("Check(short) = %v, want a refusal %s", err, policy.ReasonTooShort)
	}
	if got := len(srv.requests()); got != n {
		t.Errorf("%d range queries for passwords the offline rules refuse, want 0", got-n)
	}

	srv.Close()
	var ce *policy.CheckError
	if err := p.Check(t.Context(), "correct horse battery staple"); !errors.As(err, &ce) {
		t.Errorf("Check with the API down = %v, want a *CheckError", err)
	}
}
