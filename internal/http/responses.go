package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/session"
)

// userResponse is the tutorial's user shape.
type userResponse struct {
	ID        uuid.UUID `json:"id,omitempty"`
	Name      string    `json:"name,omitempty"`
	Email     string    `json:"email,omitempty"`
	Role      string    `json:"role,omitempty"`
	Photo     string    `json:"photo,omitempty"`
	Provider  string    `json:"provider"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func newUserResponse(u db.User) userResponse {
	return userResponse{
		ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Photo: u.Photo,
		Provider: u.Provider, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

type userData struct {
	User userResponse `json:"user"`
}

type userEnvelope struct {
	Status string   `json:"status"`
	Data   userData `json:"data"`
}

// signupEnvelope is a registration's answer with Verification on.
type signupEnvelope struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Data    userData `json:"data"`
}

// meResponse is the current user: the tutorial's shape, whether the
// address is verified, whether a second factor is on and the session's
// assurance level (1: a password; 2: and a second factor).
type meResponse struct {
	userResponse
	Verified   bool `json:"verified"`
	MFAEnabled bool `json:"mfa_enabled"`
	AAL        int  `json:"aal"`
}

// loginUser is the user object of the tutorial's 2FA part, in every
// login answer and its OTP routes' answers.
type loginUser struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	OTPEnabled bool      `json:"otp_enabled"`
}

func newLoginUser(u db.User) *loginUser {
	return &loginUser{ID: u.ID, Name: u.Name, Email: u.Email, OTPEnabled: u.MfaEnabled}
}

type meEnvelope struct {
	Status string `json:"status"`
	Data   struct {
		User meResponse `json:"user"`
	} `json:"data"`
}

type tokenEnvelope struct {
	Status      string     `json:"status"`
	AccessToken string     `json:"access_token"`
	User        *loginUser `json:"user,omitempty"` // logins only, not refresh
}

type statusEnvelope struct {
	Status string `json:"status"`
}

type messageEnvelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// envelope is the seed's JSON error shape, plus a stable machine code.
type envelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; this cannot happen with them.
		b, status = []byte(`{"status":"error","message":"internal error"}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeTokens sets the cookies of a login or refresh and answers with the
// access token.
func writeTokens(w http.ResponseWriter, jar cookies, t session.Tokens) {
	jar.set(w, t)
	encode(w, http.StatusOK, tokenEnvelope{Status: "success", AccessToken: t.Access})
}

// writeLogin is writeTokens for a login: the answer names the user too.
func writeLogin(w http.ResponseWriter, jar cookies, t session.Tokens, u db.User) {
	jar.set(w, t)
	encode(w, http.StatusOK, tokenEnvelope{Status: "success", AccessToken: t.Access, User: newLoginUser(u)})
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
