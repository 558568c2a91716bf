package http

import (
	"net/http"
	"time"

	"github.com/authd/authd/internal/session"
)

// Cookie names are the tutorial's.
const (
	accessCookie   = "access_token"
	refreshCookie  = "refresh_token"
	loggedInCookie = "logged_in"
	// refreshPath narrows the refresh cookie to the routes that read it.
	refreshPath = "/api/auth"
	// ticketCookie holds a login ticket between the password and the
	// second factor, once for each path of ticketPaths.
	ticketCookie = "mfa_ticket"
	// deviceCookie holds the browser's device id (session/device.go) for
	// a year, sent to the auth routes only (refreshPath): it gives the
	// new-sign-in mail and the known devices' login budget.
	deviceCookie = "device_id"
	deviceMaxAge = 365 * 24 * time.Hour
)

// ticketPaths are the routes that read the ticket cookie: authd's MFA
// routes and the tutorial's.
var ticketPaths = [...]string{"/api/auth/mfa", "/api/auth/otp"}

// cookies sets and clears the three auth cookies.
type cookies struct {
	opts Options
	now  func() time.Time
}

// set sets the cookies after login or refresh. The refresh cookie never
// outlives its session.
func (c cookies) set(w http.ResponseWriter, t session.Tokens) {
	o := c.opts
	refreshAge := min(o.RefreshMaxAge, t.SessionEnd.Sub(c.now()))
	http.SetCookie(w, c.cookie(accessCookie, t.Access, "/", o.AccessMaxAge, true, http.SameSiteLaxMode))
	http.SetCookie(w, c.cookie(refreshCookie, t.Refresh, refreshPath, refreshAge, true, http.SameSiteStrictMode))
	http.SetCookie(w, c.cookie(loggedInCookie, "true", "/", o.AccessMaxAge, false, http.SameSiteLaxMode))
	if t.Device != "" {
		http.SetCookie(w, c.cookie(deviceCookie, t.Device, refreshPath, deviceMaxAge, true, http.SameSiteLaxMode))
	}
}

// device is the device id r's device_id cookie holds, "" without one.
// The session checks its form (session.ValidDeviceID).
func device(r *http.Request) string {
	if c, err := r.Cookie(deviceCookie); err == nil {
		return c.Value
	}
	return ""
}

// clear expires the cookies with the attributes they were set with.
func (c cookies) clear(w http.ResponseWriter) {
	http.SetCookie(w, c.cookie(accessCookie, "", "/", -1, true, http.SameSiteLaxMode))
	http.SetCookie(w, c.cookie(refreshCookie, "", refreshPath, -1, true, http.SameSiteStrictMode))
	http.SetCookie(w, c.cookie(loggedInCookie, "", "/", -1, false, http.SameSiteLaxMode))
}

// setTicket sets the login ticket cookie (HttpOnly, SameSite=Strict,
// scoped to the MFA routes) until the ticket expires. No session cookie
// comes with it.
func (c cookies) setTicket(w http.ResponseWriter, ticket string, expires time.Time) {
	for _, p := range ticketPaths {
		http.SetCookie(w, c.cookie(ticketCookie, ticket, p, expires.Sub(c.now()), true, http.SameSiteStrictMode))
	}
}

// clearTicket expires the ticket cookie.
func (c cookies) clearTicket(w http.ResponseWriter) {
	for _, p := range ticketPaths {
		http.SetCookie(w, c.cookie(ticketCookie, "", p, -1, true, http.SameSiteStrictMode))
	}
}

func (c cookies) cookie(name, value, path string, age time.Duration, httpOnly bool, site http.SameSite) *http.Cookie {
	maxAge := int(age / time.Second)
	if age < 0 || maxAge == 0 {
		maxAge = -1 // Max-Age=0: delete now
	}
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   c.opts.CookieDomain,
		MaxAge:   maxAge,
		Secure:   c.opts.CookieSecure,
		HttpOnly: httpOnly,
		SameSite: site,
	}
}
