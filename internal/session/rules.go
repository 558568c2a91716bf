package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/password/policy"
)

// The rules of an account's fields, one copy for the API and the
// operator alike. A broken rule is an *InvalidError whose text is what
// the client (or the operator) is told.

// InvalidError is input that breaks one of the rules below; its text says
// which rule, never the value. (ErrInvalid is another thing: a session
// token that is not valid.)
type InvalidError struct {
	Problem string
}

func (e *InvalidError) Error() string { return e.Problem }

func invalid(problem string) error { return &InvalidError{Problem: problem} }

// Roles, as users.role holds them.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Field limits.
const (
	maxNameLen  = 100  // characters
	maxEmailLen = 254  // bytes, RFC 5321
	maxPhotoLen = 2048 // bytes
	minPassword = 8    // bytes
)

// NormaliseEmail trims and lower-cases an address: the form stored and
// looked up.
func NormaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail returns s normalised (NormaliseEmail) if it is an address
// registration accepts: one plain address of at most 254 bytes, without
// control characters, whose domain is a host name with a dot (see
// hostName), and whose local part has no % or ! (the old routing
// syntaxes, which relays may still follow). So an address never names an
// IP (a@[10.0.0.5], a@127.0.0.1) or a relay: where its mail goes is
// decided by DNS, not by the sender's own network.
func ValidEmail(s string) (string, error) {
	e := NormaliseEmail(s)
	if e == "" {
		return "", invalid("email is required")
	}
	if len(e) > maxEmailLen || hasControl(e) {
		return "", invalid("email is not a valid address")
	}
	a, err := netmail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", invalid("email is not a valid address")
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || strings.ContainsAny(local, "%!") || !hostName(domain) {
		return "", invalid("email is not a valid address")
	}
	return e, nil
}

// hostName reports whether d is a DNS host name of two labels or more:
// labels of 1 to 63 bytes of letters, digits and inner hyphens (non-ASCII
// letters, marks and digits too, for internationalised names), the last
// one neither all digits (no top-level domain is) nor 0x and hex digits,
// so that d is no IPv4 address in any form a resolver may read (127.1,
// 0x7f.0x1). An address literal ([...]) is none. So that these checks see
// the name IDNA (UTS-46) would look up, d must be in NFKC (127.0.0.１ is
// refused, not rewritten, as login looks addresses up as typed) and hold
// no default-ignorable character, which IDNA drops (127.0.0.1 + U+FE00).
func hostName(d string) bool {
	if !norm.NFKC.IsNormalString(d) {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			ascii := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
			other := r > unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)) &&
				!unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
			if !ascii && !other {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if hex, ok := strings.CutPrefix(tld, "0x"); ok && strings.Trim(hex, "0123456789abcdef") == "" {
		return false
	}
	return strings.Trim(tld, "0123456789") != ""
}

// ValidPassword reports whether pw is a password registration accepts:
// 8 to 72 bytes, without control characters. It is never trimmed.
func ValidPassword(pw string) error {
	switch {
	case pw == "":
		return invalid("password is required")
	case len(pw) < minPassword:
		return invalid("password must be at least 8 bytes")
	case len(pw) > password.MaxLen:
		return invalid("password must be at most 72 bytes")
	case hasControl(pw):
		return invalid("password must not contain control characters")
	}
	return nil
}

// newPassword: a password the operator chooses, under ValidPassword and
// the policy (checkPolicy).
func (s *Service) newPassword(ctx context.Context, pw string) error {
	if err := ValidPassword(pw); err != nil {
		return err
	}
	return s.checkPolicy(ctx, pw)
}

// validNewPassword: a password a user chooses, under ValidPassword, and
// its confirmation, typed again; then the policy (checkPolicy), last so
// that a mistyped confirmation costs no range query.
func (s *Service) validNewPassword(ctx context.Context, pw, confirm string) error {
	if err := validTyped(pw, confirm); err != nil {
		return err
	}
	return s.checkPolicy(ctx, pw)
}

// validTyped: the offline half of validNewPassword, ValidPassword and the
// confirmation.
func validTyped(pw, confirm string) error {
	if err := ValidPassword(pw); err != nil {
		return err
	}
	if confirm == "" {
		return invalid("passwordConfirm is required")
	}
	if pw != confirm {
		return invalid("Passwords do not match")
	}
	return nil
}

// checkPolicy applies the password policy (Options.Passwords: a minimum
// length, the blocklist, the breached-password check) to a new password.
// Every flow that sets one comes here, through newPassword or
// validNewPassword: registration, reset, change, and the operator's create
// and set-password. A refusal is an *InvalidError ("password is too
// common"). A breached-password check that gets no answer lets the
// password through (fail open), logged at warn and counted: an outage of
// a third party must not stop sign-ups and resets, and the offline rules
// have been applied already.
func (s *Service) checkPolicy(ctx context.Context, pw string) error {
	err := s.opts.Passwords.Check(ctx, pw)
	var refusal *policy.Refusal
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refusal):
		s.metrics.PasswordPolicy(refusal.Reason)
		return invalid(refusal.Problem)
	}
	s.metrics.PasswordPolicy(metrics.PasswordCheckFailed)
	s.log.LogAttrs(ctx, slog.LevelWarn, "breached-password check failed; password accepted", slog.String("error", err.Error()))
	return nil
}

// validCurrentPassword: a flow that asks for the current password has one.
// Whether it is right is checkPassword's question.
func validCurrentPassword(pw string) error {
	if pw == "" {
		return invalid("currentPassword is required")
	}
	return nil
}

// validLogin checks only presence and shape: a wrong password of any
// length is a plain login failure, decided after the same hashing work.
func validLogin(email, pw string) error {
	switch {
	case strings.TrimSpace(email) == "":
		return invalid("email is required")
	case pw == "":
		return invalid("password is required")
	case hasControl(email) || len(email) > maxEmailLen:
		return invalid("email is not a valid address")
	}
	return nil
}

// ValidName returns name trimmed if registration accepts it: not empty,
// at most 100 characters, without control characters.
func ValidName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", invalid("name is required")
	case utf8.RuneCountInString(name) > maxNameLen:
		return "", invalid("name must be at most 100 characters")
	case hasControl(name):
		return "", invalid("name must not contain control characters")
	}
	return name, nil
}

// photoName is a photo that is not a URL: a file name or path such as the
// tutorial's "default.png", in characters that are inert wherever a client
// echoes them (no scheme, no quotes, no markup, no white space), and not
// "//host/..." (a URL in disguise).
var photoName = regexp.MustCompile(`^/?[A-Za-z0-9._~-][A-Za-z0-9._~/-]*$`)

// unsafeInURL are characters that are not needed in an http(s) photo URL
// and break out of an HTML attribute or markup if a client echoes the URL
// carelessly; url.Parse accepts several of them.
const unsafeInURL = "<>\"'`\\ {}|^"

// ValidPhoto accepts: empty; a name or path of photoName's characters; or
// an absolute http(s) URL with a host, without user info or unsafeInURL.
// Anything else (javascript:, data:, a protocol-relative //host, markup,
// quotes) is refused.
func ValidPhoto(s string) error {
	const msg = "photo must be an http(s) URL or a file name such as default.png, of at most 2048 bytes"
	switch {
	case s == "":
		return nil
	case len(s) > maxPhotoLen || hasControl(s):
		return invalid(msg)
	case photoName.MatchString(s):
		return nil
	case strings.ContainsAny(s, unsafeInURL):
		return invalid(msg)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return invalid(msg)
	}
	return nil
}

// validRegistration checks r's fields in the order the API has always
// reported them and returns r with its name trimmed and its email
// normalised.
func (s *Service) validRegistration(ctx context.Context, r Registration) (Registration, error) {
	var err error
	if r.Name, err = ValidName(r.Name); err != nil {
		return Registration{}, err
	}
	if r.Email, err = ValidEmail(r.Email); err != nil {
		return Registration{}, err
	}
	if err := s.validNewPassword(ctx, r.Password, r.PasswordConfirm); err != nil {
		return Registration{}, err
	}
	if err := ValidPhoto(r.Photo); err != nil {
		return Registration{}, err
	}
	return r, nil
}

// validRole checks a role named by the operator.
func validRole(role string) error {
	if role != RoleUser && role != RoleAdmin {
		return invalid(fmt.Sprintf("role must be %s or %s", RoleUser, RoleAdmin))
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return true
		}
	}
	return false
}
