package http

import (
	"net/http"
	"time"
)

// Cookie names are the tutorial's.
const (
	accessCookie   = "access_token"
	refreshCookie  = "refresh_token"
	loggedInCookie = "logged_in"
	// refreshPath narrows the refresh cookie to the routes that read it.
	refreshPath = "/api/auth"
)

// setAuthCookies sets the three cookies after login or refresh. The refresh
// cookie never outlives its session.
func (d *Deps) setAuthCookies(w http.ResponseWriter, access, refresh string, sessionEnd time.Time) {
	o := d.Options
	refreshAge := min(o.RefreshMaxAge, sessionEnd.Sub(d.Now()))
	http.SetCookie(w, d.cookie(accessCookie, access, "/", o.AccessMaxAge, true, http.SameSiteLaxMode))
	http.SetCookie(w, d.cookie(refreshCookie, refresh, refreshPath, refreshAge, true, http.SameSiteStrictMode))
	http.SetCookie(w, d.cookie(loggedInCookie, "true", "/", o.AccessMaxAge, false, http.SameSiteLaxMode))
}

// clearAuthCookies expires the cookies with the attributes they were set with.
func (d *Deps) clearAuthCookies(w http.ResponseWriter) {
	http.SetCookie(w, d.cookie(accessCookie, "", "/", -1, true, http.SameSiteLaxMode))
	http.SetCookie(w, d.cookie(refreshCookie, "", refreshPath, -1, true, http.SameSiteStrictMode))
	http.SetCookie(w, d.cookie(loggedInCookie, "", "/", -1, false, http.SameSiteLaxMode))
}

func (d *Deps) cookie(name, value, path string, age time.Duration, httpOnly bool, site http.SameSite) *http.Cookie {
	maxAge := int(age / time.Second)
	if age < 0 || maxAge == 0 {
		maxAge = -1 // Max-Age=0: delete now
	}
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   d.Options.CookieDomain,
		MaxAge:   maxAge,
		Secure:   d.Options.CookieSecure,
		HttpOnly: httpOnly,
		SameSite: site,
	}
}
