package session

import (
	"fmt"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/internal/password"
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
// control characters, whose domain has a dot.
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
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", invalid("email is not a valid address")
	}
	return e, nil
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

// validNewPassword: a password a user chooses, under ValidPassword, and
// its confirmation, typed again.
func validNewPassword(pw, confirm string) error {
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
func validRegistration(r Registration) (Registration, error) {
	var err error
	if r.Name, err = ValidName(r.Name); err != nil {
		return Registration{}, err
	}
	if r.Email, err = ValidEmail(r.Email); err != nil {
		return Registration{}, err
	}
	if err := validNewPassword(r.Password, r.PasswordConfirm); err != nil {
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
