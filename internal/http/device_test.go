package http

import (
	"net/http"
	"testing"

	"github.com/authd/authd/internal/session"
)

// TestDeviceCookie: a login answer sets the device_id cookie (HttpOnly,
// Secure per COOKIE_SECURE, SameSite=Lax, Path=/api/auth, a year), keeps
// the id a client sent back, replaces a malformed one, and neither a
// refresh nor a logout touches it.
func TestDeviceCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		f := newFixture(t, func(d *testDeps) { d.Options.CookieSecure = secure })
		f.register(nil, "device@example.com")
		r := f.login(nil, "device@example.com")
		c := r.cookie(deviceCookie)
		if c == nil {
			t.Fatal("login set no device_id cookie")
		}
		if c.Path != "/api/auth" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure ||
			c.MaxAge != 365*24*3600 || c.Domain != "" || !session.ValidDeviceID(c.Value) {
			t.Errorf("secure %v: device_id = %+v", secure, c)
		}
		login := func(cookie string) reply {
			return f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "device@example.com", "password": "correct horse"},
				"Cookie", cookie)
		}
		if again := login(deviceCookie + "=" + c.Value).cookie(deviceCookie); again == nil || again.Value != c.Value {
			t.Errorf("login with the device id: device_id = %+v, want the same id", again)
		}
		if fresh := login(deviceCookie + "=forged").cookie(deviceCookie); fresh == nil || fresh.Value == c.Value || !session.ValidDeviceID(fresh.Value) {
			t.Errorf("login with a malformed device id: device_id = %+v, want a new id", fresh)
		}
		if ref := f.refreshWith(r.cookie(refreshCookie).Value); ref.status != http.StatusOK || ref.cookie(deviceCookie) != nil {
			t.Errorf("refresh: %d, device_id %+v; want 200 and none", ref.status, ref.cookie(deviceCookie))
		}
		out := f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+r.str("access_token"))
		if out.cookie(deviceCookie) != nil {
			t.Errorf("logout touched device_id: %+v", out.cookie(deviceCookie))
		}
	}
}
