package http

import (
	"net/http"
	"testing"
)

// TestSiblingSiteGETs: a state-changing GET from a sibling site
// (Sec-Fetch-Site: same-site, as an <img> on another subdomain sends) is
// refused, and a GET with neither Origin nor fetch metadata may only log
// out the current session. The tutorial's client (cross-origin XHR from
// CLIENT_ORIGIN with credentials), a same-origin page and curl keep working.
func TestSiblingSiteGETs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, refresh := f.loginTokens("sibling@example.com")
	cookies := []string{"Cookie", refreshCookie + "=" + refresh + "; " + accessCookie + "=" + access}
	refused := []struct {
		name, path string
		hdr        []string
	}{
		{"GET logout everywhere from a sibling", "/api/auth/logout?scope=all", []string{"Sec-Fetch-Site", "same-site"}},
		{"GET logout from a sibling", "/api/auth/logout", []string{"Sec-Fetch-Site", "same-site"}},
		{"GET refresh from a sibling", "/api/auth/refresh", []string{"Sec-Fetch-Site", "same-site"}},
		{"GET logout everywhere without any header", "/api/auth/logout?scope=all", nil},
		{"GET logout of others without any header", "/api/auth/logout?scope=others", nil},
	}
	for _, tt := range refused {
		r := f.do(nil, "GET", tt.path, nil, append(append([]string{}, cookies...), tt.hdr...)...)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", tt.name, r.status, r.raw)
		}
	}
	if got := f.meStatus(access); got != http.StatusOK {
		t.Fatalf("session after refused GETs: %d", got)
	}

	// What must keep working.
	r := f.do(nil, "GET", "/api/auth/refresh", nil, "Cookie", refreshCookie+"="+refresh,
		"Origin", "http://localhost:3000", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusOK {
		t.Fatalf("refresh by the tutorial's client: %d %s", r.status, r.raw)
	}
	refresh = r.cookie(refreshCookie).Value
	r = f.do(nil, "GET", "/api/auth/refresh", nil, "Cookie", refreshCookie+"="+refresh, "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusOK {
		t.Fatalf("refresh from a same-origin page: %d %s", r.status, r.raw)
	}
	refresh = r.cookie(refreshCookie).Value
	r = f.do(nil, "GET", "/api/auth/refresh", nil, "Cookie", refreshCookie+"="+refresh)
	if r.status != http.StatusOK {
		t.Fatalf("refresh by curl: %d %s", r.status, r.raw)
	}
	access = r.str("access_token")
	if r := f.do(nil, "GET", "/api/auth/logout", nil, "Authorization", "Bearer "+access); r.status != http.StatusOK {
		t.Errorf("logout by curl: %d %s", r.status, r.raw)
	}
}
