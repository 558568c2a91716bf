package http

import (
	"net/http"
	"testing"
)

// TestDeadSessionCannotLogOutOthers: the tokens of a revoked session (a
// thief's copy, say) can no longer end the owner's other sessions with
// scope=all or others, by access token or refresh cookie; the owner's live
// session can. Logout used to check only the signature.
func TestDeadSessionCannotLogOutOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "owner@example.com")
	stolen := f.login(nil, "owner@example.com")
	stolenAccess, stolenRefresh := stolen.str("access_token"), stolen.cookie(refreshCookie).Value
	// The owner ends the stolen session and logs in again.
	if r := f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+stolenAccess); r.status != http.StatusOK {
		t.Fatalf("logout: %d", r.status)
	}
	owner := f.login(nil, "owner@example.com").str("access_token")

	for _, scope := range []string{"all", "others"} {
		for name, hdr := range map[string][]string{
			"access token":   {"Authorization", "Bearer " + stolenAccess},
			"refresh cookie": {"Cookie", refreshCookie + "=" + stolenRefresh},
		} {
			r := f.do(nil, "POST", "/api/auth/logout?scope="+scope, nil, hdr...)
			if r.status != http.StatusUnauthorized {
				t.Errorf("scope=%s with a revoked session's %s: %d %s, want 401", scope, name, r.status, r.raw)
			}
			if got := f.meStatus(owner); got != http.StatusOK {
				t.Fatalf("the owner's session after scope=%s by a revoked %s: %d", scope, name, got)
			}
		}
	}
	// Logging the dead session out again is still fine.
	if r := f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+stolenAccess); r.status != http.StatusOK {
		t.Errorf("logout of the revoked session again: %d", r.status)
	}
	// The live session can end everything.
	if r := f.do(nil, "POST", "/api/auth/logout?scope=all", nil, "Authorization", "Bearer "+owner); r.status != http.StatusOK {
		t.Fatalf("scope=all by the live session: %d", r.status)
	}
	if got := f.meStatus(owner); got != http.StatusUnauthorized {
		t.Errorf("after scope=all: %d", got)
	}
}
