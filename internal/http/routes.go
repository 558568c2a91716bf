package http

import (
	"net/http"

	"github.com/authd/authd/internal/ratelimit"
)

// addRoutes is the whole API on one screen. Authentication, the cross-site
// guard and per-client rate limits are applied here, per route, so
// protection is visible where a route is declared.
func addRoutes(mux *http.ServeMux, d Deps, o Options) {
	log, s := d.Log, d.Sessions
	addr := func(r *http.Request) string { return clientAddr(r, o.TrustedProxies) }
	jar := cookies{opts: o, now: d.Now}
	auth := requireAuth(log, s)
	guard := refuseCrossSite(log, o.ClientOrigins)
	key := func(r *http.Request) clientKey { return limitKeys(addr(r), o.IPv6Prefix, o.IPv6SitePrefix) }
	limit := func(l *ratelimit.Limiter) func(http.Handler) http.Handler { return perClient(log, d.Metrics, l, key) }
	// The routes that use a mailed link have a limiter of their own
	// (LinkLimit, IP_MAIL_*): a used-up mail allowance still lets the
	// link work, and one link buys a few uses, not one per request.
	link := limit(d.LinkLimit)
	// The routes that take a second-factor code have a limiter of their
	// own (CodeLimit, IP_LOGIN_*), besides the per-account MFA throttle of
	// the session package.
	code := limit(d.CodeLimit)

	mux.Handle("POST /api/auth/register", guard(limit(d.RegisterLimit)(handleRegister(log, s))))
	mux.Handle("POST /api/auth/login", guard(limit(d.LoginLimit)(handleLogin(log, s, jar, addr))))
	mux.Handle("GET /api/auth/refresh", guard(limit(d.RefreshLimit)(handleRefresh(log, s, jar))))
	mux.Handle("POST /api/auth/refresh", guard(limit(d.RefreshLimit)(handleRefresh(log, s, jar))))
	mux.Handle("GET /api/auth/logout", guard(handleLogout(log, s, jar)))
	mux.Handle("POST /api/auth/logout", guard(handleLogout(log, s, jar)))

	// The account flows. Routes that ask for a mail exist only with mail
	// on; those that take a mailed token always (an admin's reset link
	// needs no mail).
	if o.Mail {
		mux.Handle("POST /api/auth/forgotpassword", guard(limit(d.MailLimit)(handleForgotPassword(log, s))))
		mux.Handle("POST /api/auth/forgot-password", guard(limit(d.MailLimit)(handleForgotPassword(log, s))))
		mux.Handle("POST /api/auth/resend-verification", guard(limit(d.MailLimit)(handleResendVerification(log, s))))
	}
	mux.Handle("GET /api/auth/verifyemail/{code}", guard(link(handleVerifyEmail(log, s))))
	mux.Handle("POST /api/auth/verify-email", guard(link(handleVerifyEmailBody(log, s))))
	mux.Handle("POST /api/auth/confirm-email-change", guard(link(handleConfirmEmailChange(log, s))))
	mux.Handle("PATCH /api/auth/resetpassword/{token}", guard(link(handleResetPassword(log, s, jar))))
	mux.Handle("POST /api/auth/reset-password", guard(link(handleResetPasswordBody(log, s, jar))))

	// The second factor: authd's routes, then the tutorial's (otp.go).
	mux.Handle("POST /api/auth/mfa/login", guard(code(handleMFALogin(log, s, jar, addr))))
	mux.Handle("GET /api/auth/mfa", auth(handleMFAStatus(log, s)))
	mux.Handle("POST /api/auth/mfa/totp/enrol", guard(auth(handleTOTPEnrol(log, s))))
	mux.Handle("POST /api/auth/mfa/totp/activate", guard(code(auth(handleTOTPActivate(log, s)))))
	mux.Handle("POST /api/auth/mfa/disable", guard(code(auth(handleMFADisable(log, s)))))
	mux.Handle("POST /api/auth/mfa/recovery-codes", guard(auth(handleRecoveryCodes(log, s))))
	mux.Handle("POST /api/auth/reauthenticate", guard(limit(d.LoginLimit)(auth(handleReauthenticate(log, s)))))
	mux.Handle("POST /api/auth/otp/generate", guard(auth(handleOTPGenerate(log, s))))
	mux.Handle("POST /api/auth/otp/verify", guard(code(auth(handleOTPVerify(log, s)))))
	mux.Handle("POST /api/auth/otp/validate", guard(code(handleOTPValidate(log, s, jar, addr))))
	mux.Handle("POST /api/auth/otp/disable", guard(code(auth(handleOTPDisable(log, s)))))

	// Passkeys (passkeys.go): every ceremony is rate-limited like a login,
	// and the session package counts assertions of a known account on its
	// MFA throttle.
	login := limit(d.LoginLimit)
	mux.Handle("POST /api/auth/passkeys/register/options", guard(login(auth(handlePasskeyRegisterOptions(log, s)))))
	mux.Handle("POST /api/auth/passkeys/register", guard(login(auth(handlePasskeyRegister(log, s)))))
	mux.Handle("POST /api/auth/passkeys/login/options", guard(login(handlePasskeyLoginOptions(log, s))))
	mux.Handle("POST /api/auth/passkeys/login", guard(login(handlePasskeyLogin(log, s, jar, addr))))
	mux.Handle("POST /api/auth/mfa/passkey/options", guard(code(handlePasskeyMFAOptions(log, s))))
	mux.Handle("POST /api/auth/mfa/passkey", guard(code(handlePasskeyMFA(log, s, jar, addr))))
	mux.Handle("POST /api/auth/reauthenticate/passkey/options", guard(login(auth(handlePasskeyReauthOptions(log, s)))))
	mux.Handle("POST /api/auth/reauthenticate/passkey", guard(login(auth(handlePasskeyReauth(log, s)))))
	mux.Handle("GET /api/users/me/passkeys", auth(handleListPasskeys(log, s)))
	mux.Handle("PATCH /api/users/me/passkeys/{id}", guard(auth(handleRenamePasskey(log, s))))
	mux.Handle("DELETE /api/users/me/passkeys/{id}", guard(auth(handleDeletePasskey(log, s))))

	mux.Handle("GET /api/users/me", auth(handleMe()))
	mux.Handle("GET /api/users/me/sessions", auth(handleListSessions(log, s)))
	mux.Handle("GET /api/users/me/security-events", auth(handleSecurityEvents(log, s)))
	mux.Handle("DELETE /api/users/me/sessions/{id}", guard(auth(handleDeleteSession(log, s, jar))))
	mux.Handle("POST /api/users/me/password", guard(limit(d.LoginLimit)(auth(handleChangePassword(log, s)))))
	if o.Mail {
		mux.Handle("POST /api/users/me/email", guard(limit(d.MailLimit)(auth(handleChangeEmail(log, s)))))
	}
	if o.AccountSelfDelete {
		mux.Handle("DELETE /api/users/me", guard(limit(d.LoginLimit)(auth(handleDeleteMe(log, s, jar)))))
	}

	mux.Handle("GET /api/healthchecker", handleHealthchecker(log, d.Ready))
	mux.Handle("GET /healthz", handleLive())
	mux.Handle("GET /readyz", handleReady(log, d.Ready))
	mux.Handle("GET /.well-known/jwks.json", handleJWKS(d.JWKS))
	mux.Handle("GET /api/openapi.yaml", handleOpenAPI())
	if o.MetricsOnMainPort {
		mux.Handle("GET /metrics", MetricsHandler(d.Metrics))
	}
}
