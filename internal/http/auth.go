package http

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/token"
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

type tokenEnvelope struct {
	Status      string `json:"status"`
	AccessToken string `json:"access_token"`
}

type statusEnvelope struct {
	Status string `json:"status"`
}

func handleRegister(d *Deps) http.Handler {
	type request struct {
		Name            string `json:"name"`
		Email           string `json:"email"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"passwordConfirm"`
		Photo           string `json:"photo"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[request](w, r)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		email, err := validateRegistration(req.Name, req.Email, req.Password, req.PasswordConfirm, req.Photo)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		hash, err := d.Hasher.Hash(r.Context(), req.Password)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		ctx, cancel := d.dbCtx(r.Context())
		defer cancel()
		user, err := d.Queries.CreateUser(ctx, db.CreateUserParams{
			Name: strings.TrimSpace(req.Name), Email: email, PasswordHash: hash,
			Photo: req.Photo, Now: d.Now(),
		})
		if errors.Is(db.Classify(err), db.ErrConflict) {
			writeError(w, r, d.Log, errEmailTaken)
			return
		}
		if err != nil {
			writeError(w, r, d.Log, fmt.Errorf("create user: %w", db.Classify(err)))
			return
		}
		d.Metrics.Registration()
		d.Log.LogAttrs(r.Context(), slog.LevelInfo, "user registered", slog.String("user_id", user.ID.String()))
		encode(w, http.StatusCreated, userEnvelope{Status: "success", Data: userData{newUserResponse(user)}})
	})
}

func handleLogin(d *Deps) http.Handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[request](w, r)
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if err := validateLogin(req.Email, req.Password); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		// With the hashing queue full this ends in 503 anyway: say so before
		// spending database round trips on it.
		if d.Hasher.Busy() {
			writeError(w, r, d.Log, password.ErrBusy)
			return
		}
		email := normaliseEmail(req.Email)
		// A locked email is refused before any password work, whether the
		// password is right or wrong.
		failures, err := d.checkThrottle(r.Context(), email)
		if err != nil {
			if e := (*apiError)(nil); errors.As(err, &e) && e.status == http.StatusTooManyRequests {
				d.Metrics.Throttled(metrics.ThrottledByAccount)
				d.Metrics.Login(metrics.LoginThrottled)
				d.Log.LogAttrs(r.Context(), slog.LevelInfo, "throttled", slog.String("by", "account"))
			}
			writeError(w, r, d.Log, err)
			return
		}
		ctx, cancel := d.dbCtx(r.Context())
		user, err := d.Queries.GetUserByEmail(ctx, email)
		cancel()
		err = db.Classify(err)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			writeError(w, r, d.Log, fmt.Errorf("get user: %w", err))
			return
		}
		// An unknown email is compared against a dummy hash: same answer, same work.
		err = d.Hasher.Compare(r.Context(), user.PasswordHash, req.Password)
		if errors.Is(err, password.ErrMismatch) {
			reason := "wrong password"
			if user.PasswordHash == "" {
				reason = "unknown email"
			}
			d.Metrics.Login(metrics.LoginBadCredentials)
			d.Log.LogAttrs(r.Context(), slog.LevelInfo, "login failed", slog.String("reason", reason))
			if err := d.recordFailure(r.Context(), email); err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			writeError(w, r, d.Log, errBadCredentials)
			return
		}
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if failures > 0 {
			ctx, cancel := d.dbCtx(r.Context())
			err := d.Queries.ClearLoginFailures(ctx, email)
			cancel()
			if err != nil {
				writeError(w, r, d.Log, fmt.Errorf("clear login failures: %w", db.Classify(err)))
				return
			}
		}
		if err := d.startSession(w, r, user); err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		d.Metrics.Login(metrics.LoginSuccess)
		if d.Hasher.NeedsRehash(user.PasswordHash) {
			// Send the answer first: the upgrade costs a full hash.
			http.NewResponseController(w).Flush()
			d.upgradeHash(r.Context(), user, req.Password)
		}
	})
}

// checkThrottle returns a 429 error while email is locked, and otherwise
// its count of consecutive failures.
func (d *Deps) checkThrottle(ctx context.Context, email string) (failures int32, err error) {
	if d.Options.LoginFailureThreshold <= 0 {
		return 0, nil
	}
	ctx, cancel := d.dbCtx(ctx)
	defer cancel()
	t, err := d.Queries.GetLoginThrottle(ctx, email)
	switch err = db.Classify(err); {
	case errors.Is(err, db.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("get login throttle: %w", err)
	case t.LockedUntil != nil && d.Now().Before(*t.LockedUntil):
		return t.Failures, throttled(t.LockedUntil.Sub(d.Now()))
	}
	return t.Failures, nil
}

// recordFailure counts a failed login for email.
func (d *Deps) recordFailure(ctx context.Context, email string) error {
	o := d.Options
	if o.LoginFailureThreshold <= 0 {
		return nil
	}
	ctx, cancel := d.dbCtx(ctx)
	defer cancel()
	_, err := d.Queries.RecordLoginFailure(ctx, db.RecordLoginFailureParams{
		Email: email, Now: d.Now(), Threshold: int32(o.LoginFailureThreshold),
		BaseLock: o.LoginLockBase.Seconds(), MaxLock: o.LoginLockMax.Seconds(),
		ResetAfter: max(time.Hour, o.LoginLockMax).Seconds(),
	})
	if err != nil {
		return fmt.Errorf("record login failure: %w", db.Classify(err))
	}
	return nil
}

// startSession creates a session for user and answers with its tokens.
func (d *Deps) startSession(w http.ResponseWriter, r *http.Request, user db.User) error {
	gen, err := token.NewGenerationID()
	if err != nil {
		return err
	}
	now := d.Now()
	o := d.Options
	ctx, cancel := d.dbCtx(r.Context())
	defer cancel()
	sess, err := d.Queries.CreateSession(ctx, db.CreateSessionParams{
		UserID:        user.ID,
		CurrentHash:   token.HashID(gen),
		Now:           now,
		IdleExpiresAt: now.Add(min(o.RefreshTTL, o.SessionLifetime)),
		ExpiresAt:     now.Add(o.SessionLifetime),
		UserAgent:     truncate(r.UserAgent(), 256),
		ClientAddr:    clientAddr(r, o.TrustedProxies),
	})
	if err != nil {
		return fmt.Errorf("create session: %w", db.Classify(err))
	}
	if err := d.issueTokens(w, sess, gen); err != nil {
		return err
	}
	d.Log.LogAttrs(r.Context(), slog.LevelInfo, "login", slog.String("user_id", user.ID.String()),
		slog.String("session_id", sess.ID.String()))
	return nil
}

// issueTokens signs an access token and the refresh token of the session's
// current generation (id gen), sets the cookies and writes the answer.
func (d *Deps) issueTokens(w http.ResponseWriter, sess db.Session, gen string) error {
	access, _, err := d.Tokens.Access(sess.UserID, sess.ID)
	if err != nil {
		return fmt.Errorf("sign access token: %w", err)
	}
	refresh, _, err := d.Tokens.Refresh(sess.UserID, sess.ID, sess.Generation, gen, sess.IdleExpiresAt)
	if err != nil {
		return fmt.Errorf("sign refresh token: %w", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	d.setAuthCookies(w, access, refresh, sess.ExpiresAt)
	encode(w, http.StatusOK, tokenEnvelope{Status: "success", AccessToken: access})
	return nil
}

// upgradeHash re-hashes a password made with an older cost. Failure only
// means it is tried again at the next login.
func (d *Deps) upgradeHash(ctx context.Context, user db.User, pw string) {
	hash, err := d.Hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	ctx, cancel := d.dbCtx(ctx)
	defer cancel()
	err = d.Queries.UpdateUserPasswordHash(ctx, db.UpdateUserPasswordHashParams{
		ID: user.ID, OldHash: user.PasswordHash, NewHash: hash, Now: d.Now(),
	})
	if err != nil {
		d.Log.LogAttrs(ctx, slog.LevelWarn, "password hash upgrade failed", slog.String("error", err.Error()))
	}
}

// handleRefresh rotates the session: the presented refresh token must be
// the current generation. The generation before it is accepted for
// ReuseGrace after its rotation and answered with the current successor;
// any older token, or the previous one after the window, is reuse and ends
// the whole session.
func handleRefresh(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(refreshCookie)
		if err != nil || c.Value == "" {
			writeError(w, r, d.Log, errNoRefresh)
			return
		}
		claims, err := d.Tokens.Verify(token.Refresh, c.Value)
		if err != nil {
			d.Metrics.Refresh(metrics.RefreshInvalid)
			writeError(w, r, d.Log, errNoRefresh)
			return
		}
		now := d.Now()
		presented := token.HashID(claims.ID)
		next := token.NextGenerationID(claims.ID)
		nextHash := token.HashID(next)
		ctx, cancel := d.dbCtx(r.Context())
		defer cancel()
		sess, err := d.Queries.RotateSession(ctx, db.RotateSessionParams{
			ID: claims.Session, PresentedHash: presented, NextHash: nextHash,
			Now: now, IdleExpiresAt: now.Add(d.Options.RefreshTTL),
		})
		err = db.Classify(err)
		if err == nil {
			if err := d.issueTokens(w, sess, next); err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			d.Metrics.Refresh(metrics.RefreshRotated)
			return
		}
		if !errors.Is(err, db.ErrNotFound) {
			writeError(w, r, d.Log, fmt.Errorf("rotate session: %w", err))
			return
		}
		// Not rotated: find out why.
		sess, err = d.Queries.GetSession(ctx, claims.Session)
		err = db.Classify(err)
		switch {
		case errors.Is(err, db.ErrNotFound):
			d.Metrics.Refresh(metrics.RefreshInvalid)
			writeError(w, r, d.Log, errNoRefresh)
			return
		case err != nil:
			writeError(w, r, d.Log, fmt.Errorf("get session: %w", err))
			return
		case sess.UserID != claims.Subject || !active(sess, now):
			d.Metrics.Refresh(metrics.RefreshInvalid)
			writeError(w, r, d.Log, errNoRefresh)
			return
		}
		inGrace := bytes.Equal(sess.PreviousHash, presented) &&
			bytes.Equal(sess.CurrentHash, nextHash) &&
			sess.RotatedAt != nil && d.Options.ReuseGrace > 0 && now.Sub(*sess.RotatedAt) < d.Options.ReuseGrace
		if inGrace {
			if err := d.issueTokens(w, sess, next); err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			d.Metrics.Refresh(metrics.RefreshGrace)
			return
		}
		// A refresh token we signed for this session that is neither current
		// nor in grace: it was rotated before, so someone replayed it.
		n, err := d.Queries.RevokeSession(ctx, db.RevokeSessionParams{
			ID: sess.ID, UserID: sess.UserID, Now: now, Reason: "refresh token reuse",
		})
		if err != nil {
			writeError(w, r, d.Log, fmt.Errorf("revoke session: %w", db.Classify(err)))
			return
		}
		d.Metrics.Refresh(metrics.RefreshTheft)
		d.Metrics.SessionsRevoked("reuse_detected", n)
		d.Log.LogAttrs(r.Context(), slog.LevelWarn, "refresh token reuse detected; session revoked",
			slog.String("user_id", sess.UserID.String()), slog.String("session_id", sess.ID.String()),
			slog.Int64("presented_generation", claims.Generation), slog.Int64("current_generation", sess.Generation))
		d.clearAuthCookies(w)
		writeError(w, r, d.Log, errNoRefresh)
	})
}

func active(s db.Session, now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.IdleExpiresAt) && now.Before(s.ExpiresAt)
}

// handleLogout revokes the caller's session, found from the access token or
// else the refresh cookie, and clears the cookies. ?scope=all ends every
// session of the user, ?scope=others every one but this. Without any valid
// token it still clears the cookies: logging out twice is not an error.
func handleLogout(d *Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope := r.URL.Query().Get("scope")
		if !slices.Contains([]string{"", "current", "all", "others"}, scope) {
			writeError(w, r, d.Log, badRequest("scope must be current, others or all"))
			return
		}
		userID, sessionID, ok := d.sessionOf(r)
		if ok {
			if err := d.revoke(r.Context(), scope, userID, sessionID); err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			d.Log.LogAttrs(r.Context(), slog.LevelInfo, "logout", slog.String("user_id", userID.String()),
				slog.String("session_id", sessionID.String()), slog.String("scope", cmp.Or(scope, "current")))
		}
		if scope != "others" {
			d.clearAuthCookies(w)
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, statusEnvelope{Status: "success"})
	})
}

func (d *Deps) revoke(ctx context.Context, scope string, userID, sessionID uuid.UUID) error {
	ctx, cancel := d.dbCtx(ctx)
	defer cancel()
	var (
		n   int64
		err error
	)
	switch scope {
	case "all":
		n, err = d.Queries.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{UserID: userID, Now: d.Now(), Reason: "logout all"})
	case "others":
		n, err = d.Queries.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{
			UserID: userID, Now: d.Now(), Reason: "logout others", ExceptID: uuid.NullUUID{UUID: sessionID, Valid: true},
		})
	default:
		scope = "current"
		n, err = d.Queries.RevokeSession(ctx, db.RevokeSessionParams{ID: sessionID, UserID: userID, Now: d.Now(), Reason: "logout"})
	}
	if err != nil {
		return fmt.Errorf("revoke: %w", db.Classify(err))
	}
	d.Metrics.SessionsRevoked("logout_"+scope, n)
	return nil
}

// sessionOf names the caller's session from a valid access token, else a
// valid refresh cookie. A signature is enough to name it: revoking needs no
// proof that the session is still active.
func (d *Deps) sessionOf(r *http.Request) (user, session uuid.UUID, ok bool) {
	if tok, _ := accessToken(r); tok != "" {
		if c, err := d.Tokens.Verify(token.Access, tok); err == nil {
			return c.Subject, c.Session, true
		}
	}
	if c, err := r.Cookie(refreshCookie); err == nil {
		if cl, err := d.Tokens.Verify(token.Refresh, c.Value); err == nil {
			return cl.Subject, cl.Session, true
		}
	}
	return uuid.UUID{}, uuid.UUID{}, false
}

// accessToken extracts the access token: the Authorization header when
// present (it must then be "Bearer <token>"), else the access_token cookie.
// Tokens are never read from the URL.
func accessToken(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
		tok = strings.TrimSpace(tok)
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", errNotLoggedIn
		}
		return tok, nil
	}
	if c, err := r.Cookie(accessCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return "", errNotLoggedIn
}

// authInfo is what requireAuth puts in the request context.
type authInfo struct {
	user    db.User
	session uuid.UUID
}

// requireAuth admits requests whose access token is valid and whose session
// is still active; it loads the user in the same query.
func requireAuth(d *Deps) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := accessToken(r)
			if err != nil {
				writeError(w, r, d.Log, err)
				return
			}
			claims, err := d.Tokens.Verify(token.Access, tok)
			if err != nil {
				writeError(w, r, d.Log, errBadToken)
				return
			}
			ctx, cancel := d.dbCtx(r.Context())
			user, err := d.Queries.GetSessionUser(ctx, db.GetSessionUserParams{
				SessionID: claims.Session, UserID: claims.Subject, Now: d.Now(),
			})
			cancel()
			err = db.Classify(err)
			if errors.Is(err, db.ErrNotFound) {
				writeError(w, r, d.Log, errBadToken)
				return
			}
			if err != nil {
				writeError(w, r, d.Log, fmt.Errorf("authenticate: %w", err))
				return
			}
			ctx = context.WithValue(r.Context(), userKey, authInfo{user: user, session: claims.Session})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func authFrom(ctx context.Context) authInfo {
	a, _ := ctx.Value(userKey).(authInfo)
	return a
}

// sameSite refuses cross-site requests to the state-changing auth routes: an
// Origin that is neither ours nor configured, or, without Origin, a browser's
// Sec-Fetch-Site: cross-site; and POST bodies that are not JSON.
func sameSite(d *Deps) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The mux sends HEAD to GET handlers; HEAD must never log out
			// or rotate anything.
			if r.Method == http.MethodHead {
				w.Header().Set("Allow", "GET, POST")
				writeError(w, r, d.Log, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "method not allowed"})
				return
			}
			if origin := r.Header.Get("Origin"); origin != "" {
				if !slices.Contains(d.Options.ClientOrigins, origin) && !sameHost(origin, r.Host) {
					writeError(w, r, d.Log, errCrossSite)
					return
				}
			} else if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				writeError(w, r, d.Log, errCrossSite)
				return
			}
			// An HTML form cannot send JSON: a POST with any other body type
			// is refused before it does anything.
			if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPost && ct != "" && !isJSON(ct) {
				writeError(w, r, d.Log, errUnsupportedMedia)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
