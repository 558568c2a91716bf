// Package policy is the password policy of NIST SP 800-63B for a password
// a user chooses: a minimum length, a blocklist of the most common
// passwords shipped in the binary, and an optional breached-password check
// by k-anonymity range queries (the Pwned Passwords API). It knows nothing
// of accounts: internal/session asks it about each new password.
package policy

import (
	"context"
	"fmt"
)

// MinLen is the least minimum length a policy can have, in bytes: the
// rule of the tutorial's API.
const MinLen = 8

// MaxLen is the longest password bcrypt takes whole, in bytes; a minimum
// length above it would refuse every password.
const MaxLen = 72

// Options are a policy's settings; the zero value checks nothing beyond
// MinLen.
type Options struct {
	// MinLen is the least length of a new password in bytes, MinLen to
	// MaxLen (PASSWORD_MIN_LENGTH); outside that, the nearest bound.
	MinLen int
	// Blocklist refuses the passwords of Common, whatever their case
	// (PASSWORD_BLOCKLIST).
	Blocklist bool
	// Ranges, if not nil, refuses passwords it finds breached
	// (PASSWORD_BREACH_CHECK).
	Ranges *Ranges
}

// Policy decides whether a new password may be chosen. A nil *Policy
// allows every password. Its methods are safe for concurrent use.
type Policy struct {
	minLen int
	common *Blocklist // nil: off
	ranges *Ranges    // nil: off
}

// New returns the policy of o. The blocklist is parsed here, once.
func New(o Options) *Policy {
	p := &Policy{minLen: min(max(o.MinLen, MinLen), MaxLen), ranges: o.Ranges}
	if o.Blocklist {
		p.common = Common()
	}
	return p
}

// Reasons of a Refusal, fixed words fit for a metric's label.
const (
	ReasonTooShort = "too_short"
	ReasonCommon   = "common"
	ReasonBreached = "breached"
)

// Refusal is a password the policy refuses. Problem is what the user is
// told; it never shows the password.
type Refusal struct {
	Reason  string // ReasonTooShort, ReasonCommon or ReasonBreached
	Problem string
}

func (r *Refusal) Error() string { return r.Problem }

// CheckError is a breached-password check that could not be made; the
// password passed every other rule. The caller decides what to do with it
// (authd lets the password through: see Check).
type CheckError struct {
	Err error
}

func (e *CheckError) Error() string { return "breached-password check: " + e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// Check returns nil if pw may be chosen, a *Refusal if not, or a
// *CheckError if it passed the offline rules but the online check had no
// answer. It checks the length first, then the blocklist, and asks the
// range API last, only about a password the offline rules let through.
func (p *Policy) Check(ctx context.Context, pw string) error {
	switch {
	case p == nil:
		return nil
	case len(pw) < p.minLen:
		return &Refusal{Reason: ReasonTooShort, Problem: fmt.Sprintf("password must be at least %d bytes", p.minLen)}
	case p.common != nil && p.common.Contains(pw):
		return &Refusal{Reason: ReasonCommon, Problem: "password is too common"}
	case p.ranges == nil:
		return nil
	}
	breached, err := p.ranges.Breached(ctx, pw)
	switch {
	case err != nil:
		return &CheckError{Err: err}
	case breached:
		return &Refusal{Reason: ReasonBreached, Problem: "password has appeared in a data breach"}
	}
	return nil
}
