package http

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
)

// Field limits.
const (
	maxNameLen  = 100  // characters
	maxEmailLen = 254  // bytes, RFC 5321
	maxPhotoLen = 2048 // bytes
	minPassword = 8    // bytes
)

// validateRegistration checks every field and returns the normalised email.
func validateRegistration(name, email, pw, confirm, photo string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", badRequest("name is required")
	case utf8.RuneCountInString(name) > maxNameLen:
		return "", badRequest("name must be at most 100 characters")
	case hasControl(name):
		return "", badRequest("name must not contain control characters")
	}
	email, err := validEmail(email)
	if err != nil {
		return "", err
	}
	if err := validateNewPassword(pw, confirm); err != nil {
		return "", err
	}
	if err := validPhoto(photo); err != nil {
		return "", err
	}
	return email, nil
}

// validateNewPassword: a password as registration takes it, and its
// confirmation.
func validateNewPassword(pw, confirm string) error {
	if err := validPassword(pw); err != nil {
		return err
	}
	if confirm == "" {
		return badRequest("passwordConfirm is required")
	}
	if pw != confirm {
		return badRequest("Passwords do not match")
	}
	return nil
}

// validateLogin checks only presence and shape: a wrong password of any
// length is a plain login failure, decided after the same hashing work.
func validateLogin(email, pw string) error {
	switch {
	case strings.TrimSpace(email) == "":
		return badRequest("email is required")
	case pw == "":
		return badRequest("password is required")
	case hasControl(email) || len(email) > maxEmailLen:
		return badRequest("email is not a valid address")
	}
	return nil
}

func validEmail(s string) (string, error) {
	e := session.NormaliseEmail(s)
	if e == "" {
		return "", badRequest("email is required")
	}
	if len(e) > maxEmailLen || hasControl(e) {
		return "", badRequest("email is not a valid address")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", badRequest("email is not a valid address")
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", badRequest("email is not a valid address")
	}
	return e, nil
}

// validPassword: 8 to 72 bytes, never trimmed or altered, no control
// characters.
func validPassword(pw string) error {
	switch {
	case pw == "":
		return badRequest("password is required")
	case len(pw) < minPassword:
		return badRequest("password must be at least 8 bytes")
	case len(pw) > password.MaxLen:
		return badRequest("password must be at most 72 bytes")
	case hasControl(pw):
		return badRequest("password must not contain control characters")
	}
	return nil
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

// validPhoto: empty; a name or path of photoName's characters; or an
// absolute http(s) URL with a host, without user info or unsafeInURL.
// Anything else (javascript:, data:, a protocol-relative //host, markup,
// quotes) is refused.
func validPhoto(s string) error {
	const msg = "photo must be an http(s) URL or a file name such as default.png, of at most 2048 bytes"
	switch {
	case s == "":
		return nil
	case len(s) > maxPhotoLen || hasControl(s):
		return badRequest(msg)
	case photoName.MatchString(s):
		return nil
	case strings.ContainsAny(s, unsafeInURL):
		return badRequest(msg)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return badRequest(msg)
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
