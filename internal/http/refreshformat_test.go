package http

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/session/sessiontest"
	"github.com/authd/authd/internal/token"
)

// TestJWTRefreshTokenAfterUpgrade: a refresh token minted as a JWT, as
// releases before MAC refresh tokens did, refreshes once with this release
// and gets a MAC token back; the chain then goes on as usual.
func TestJWTRefreshTokenAfterUpgrade(t *testing.T) {
	t.Parallel()
	before := newFixture(t, func(d *testDeps) {
		d.Tokens = sessiontest.NewSigner(t, token.Options{
			AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour, Now: d.Now, RefreshJWT: true,
		})
	})
	_, old := before.loginTokens("upgrade@example.com")
	if strings.HasPrefix(old, "rt1.") || strings.Count(old, ".") != 2 {
		t.Fatalf("the earlier release's refresh token is not a JWT: %q", old)
	}
	after := newFixtureOn(t, before.pool)
	r := after.refreshWith(old)
	if r.status != http.StatusOK {
		t.Fatalf("refresh with a JWT refresh token after the upgrade: %d %s", r.status, r.raw)
	}
	next := r.cookie(refreshCookie).Value
	if !strings.HasPrefix(next, "rt1.") {
		t.Errorf("the new refresh token is not a MAC token: %q", next)
	}
	after.clock.Advance(time.Second)
	after.mustRefresh(next)
}
