package http

import "net/http"

// addRoutes is the whole API on one screen. Authentication, the cross-site
// guard and per-client rate limits are applied here, per route, so
// protection is visible where a route is declared.
func addRoutes(mux *http.ServeMux, d *Deps) {
	auth := requireAuth(d)
	guard := sameSite(d)

	mux.Handle("POST /api/auth/register", guard(perClient(d, d.RegisterLimit)(handleRegister(d))))
	mux.Handle("POST /api/auth/login", guard(perClient(d, d.LoginLimit)(handleLogin(d))))
	mux.Handle("GET /api/auth/refresh", guard(perClient(d, d.RefreshLimit)(handleRefresh(d))))
	mux.Handle("POST /api/auth/refresh", guard(perClient(d, d.RefreshLimit)(handleRefresh(d))))
	mux.Handle("GET /api/auth/logout", guard(handleLogout(d)))
	mux.Handle("POST /api/auth/logout", guard(handleLogout(d)))

	mux.Handle("GET /api/users/me", auth(handleMe(d)))
	mux.Handle("GET /api/users/me/sessions", auth(handleListSessions(d)))
	mux.Handle("DELETE /api/users/me/sessions/{id}", guard(auth(handleDeleteSession(d))))

	mux.Handle("GET /api/healthchecker", handleHealthchecker())
	mux.Handle("GET /healthz", handleLive())
	mux.Handle("GET /readyz", handleReady(d))
	mux.Handle("GET /.well-known/jwks.json", handleJWKS(d))
	mux.Handle("GET /api/openapi.yaml", handleOpenAPI())
	if d.Options.MetricsOnMainPort {
		mux.Handle("GET /metrics", MetricsHandler(d.Metrics))
	}
}
