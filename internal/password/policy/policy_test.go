package policy_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/authd/authd/internal/password/policy"
)

// TestCheck: the offline rules, in the order the policy applies them.
func TestCheck(t *testing.T) {
	t.Parallel()
	on := policy.New(policy.Options{Blocklist: true})
	long := policy.New(policy.Options{MinLen: 12, Blocklist: true})
	off := policy.New(policy.Options{})
	for _, tc := range []struct {
		name   string
		p      *policy.Policy
		pw     string
		reason string // "" for allowed
	}{
		{"nil policy allows all", nil, "password123", ""},
		{"off allows a common one", off, "password123", ""},
		{"off still has the minimum", off, "1234567", policy.ReasonTooShort},
		{"common", on, "password123", policy.ReasonCommon},
		{"common, upper case", on, "PASSWORD123", policy.ReasonCommon},
		{"common, mixed case", on, "PassWord123", policy.ReasonCommon},
		{"common, first of the list", on, "password", policy.ReasonCommon},
		{"common, digits", on, "12345678", policy.ReasonCommon},
		{"uncommon", on, "correct horse battery", ""},
		{"common with a space is another password", on, "password123 ", ""},
		{"short before common", long, "password123", policy.ReasonTooShort},
		{"long enough", long, "correct horse", ""},
		{"minimum below 8 is 8", policy.New(policy.Options{MinLen: 3}), "1234567", policy.ReasonTooShort},
		{"minimum above 72 is 72", policy.New(policy.Options{MinLen: 100}), strings.Repeat("x", 72), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Check(t.Context(), tc.pw)
			var r *policy.Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want nil", tc.pw, err)
			case tc.reason == "":
				return
			case !errors.As(err, &r):
				t.Fatalf("Check(%q) = %v, want a *Refusal (%s)", tc.pw, err, tc.reason)
			case r.Reason != tc.reason:
				t.Errorf("Check(%q) reason %q, want %q", tc.pw, r.Reason, tc.reason)
			}
			if tc.pw != "password" && strings.Contains(r.Problem, tc.pw) {
				t.Errorf("problem %q shows the password", r.Problem)
			}
		})
	}
}

// TestRefusalText: what a user is told.
func TestRefusalText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    policy.Options
		pw   string
		want string
	}{
		{policy.Options{Blocklist: true}, "Password123", "password is too common"},
		{policy.Options{MinLen: 10}, "123456789", "password must be at least 10 bytes"},
	} {
		if got := policy.New(tc.o).Check(t.Context(), tc.pw); got == nil || got.Error() != tc.want {
			t.Errorf("Check(%q) = %v, want %q", tc.pw, got, tc.want)
		}
	}
}

// TestCommon: the shipped list holds what it says: a few thousand
// passwords, each a possible password (8 to 72 bytes), among them the
// tutorial's example.
func TestCommon(t *testing.T) {
	t.Parallel()
	b := policy.Common()
	if n := b.Len(); n < 3000 || n > 10000 {
		t.Errorf("Common has %d passwords, want a few thousand", n)
	}
	for _, pw := range []string{"password123", "qwertyuiop", "iloveyou", "trustno1", "1qaz2wsx"} {
		if !b.Contains(pw) {
			t.Errorf("Common does not hold %q", pw)
		}
	}
	for _, pw := range []string{"", "# The most common passwords: of the first 10000 entries of the \"passwords\"", "123456", "correct horse battery staple"} {
		if b.Contains(pw) {
			t.Errorf("Common holds %q", pw)
		}
	}
}

// BenchmarkCommon measures the shipped list: the bytes Common allocates
// (the list is a sorted slice of strings that point into the embedded
// text) and a look-up.
func BenchmarkCommon(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	list := policy.Common()
	runtime.ReadMemStats(&after)
	b.ReportAllocs()
	for b.Loop() {
		if !list.Contains("Password123") {
			b.Fatal("Password123 not found")
		}
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc), "build-B")
	b.ReportMetric(float64(list.Len()), "passwords")
}
