package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/reqlog"
)

// recoverer turns a panic into a logged JSON 500 instead of a dropped
// connection.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &statusWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.LogAttrs(reqlog.With(r.Context(), rw.req), slog.LevelError, "panic",
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				if rw.status == 0 {
					writeError(rw, r, log, errInternal)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int
	route  string
	req    reqlog.Request // for the recoverer's line
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one line per request and records its metrics. It never
// logs headers, cookies, bodies or query strings: those can carry secrets.
// It puts the request's id, client address and trace id in the context
// (reqlog.With), so every line logged with it carries them; a valid
// traceparent is echoed on the response. A probe that succeeds is logged at
// DEBUG only.
func logRequests(log *slog.Logger, m *metrics.Metrics, trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get("X-Request-Id")
			if !validRequestID(id) {
				id = newRequestID()
			}
			w.Header().Set("X-Request-Id", id)
			rl := reqlog.Request{ID: id, Client: clientAddr(r, trusted), UserAgent: r.UserAgent()}
			if tp := r.Header.Values("Traceparent"); len(tp) == 1 {
				if trace, ok := traceID(tp[0]); ok {
					rl.Trace = trace
					w.Header().Set("Traceparent", tp[0])
				}
			}
			ctx := reqlog.With(r.Context(), rl)
			sw, ok := w.(*statusWriter)
			if !ok {
				sw = &statusWriter{ResponseWriter: w}
			}
			sw.req = rl // deadline puts it in the request's context, in its one copy
			next.ServeHTTP(sw, r)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			m.Request(r.Method, sw.route, status, elapsed)
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelWarn
			case isProbe(sw.route):
				level = slog.LevelDebug
			}
			log.LogAttrs(ctx, level, "request",
				slog.String("method", truncate(r.Method, 16)),
				slog.String("path", logPath(r.URL.Path, sw.route)),
				slog.String("route", sw.route),
				slog.Int("status", status),
				slog.Int("bytes", sw.size),
				slog.Duration("duration", elapsed),
				slog.String("remote", r.RemoteAddr),
			)
		})
	}
}

// isProbe reports whether route is a health or readiness check, which
// orchestrators call every few seconds: logged at DEBUG unless it answers 5xx.
func isProbe(route string) bool {
	switch route {
	case "GET /healthz", "GET /readyz", "GET /api/healthchecker":
		return true
	}
	return false
}

// logPath is what the request log shows of path: the matched route's
// pattern when it has a wildcard that can carry a secret ({token},
// {code}: the tutorial puts one-time tokens in the path); else, for a path
// under a token route whatever answered it (the CORS preflight, the mux's
// 404, 405 or redirect), the path up to the token, in any case; else, for
// a path no route matched, the path with every token-like run redacted
// (redactTokens); else the path. At most 256 bytes of it.
func logPath(path, route string) string {
	if strings.Contains(route, "{token}") || strings.Contains(route, "{code}") {
		_, p, _ := strings.Cut(route, " ")
		return p
	}
	for _, seg := range tokenSegments {
		if i := indexFold(path, seg); i >= 0 {
			return truncate(path[:i+len(seg)], 200) + "{redacted}"
		}
	}
	if route == "" {
		path = redactTokens(path) // before truncating: no token cut short
	}
	return truncate(path, 256)
}

// tokenLike is what a one-time token looks like (base64url, 43 characters
// as minted) in a path that no route matched: a link's default path
// (/forgotPassword/{token}, /confirm-email/{token}) opened on authd's own
// origin or by a link scanner, or a mistyped API path.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_-]{32,}`)

// redactTokens replaces each run of 32 or more base64url characters in
// path by {redacted}.
func redactTokens(path string) string {
	return tokenLike.ReplaceAllLiteralString(path, "{redacted}")
}

// tokenSegments end the paths after which routes.go's token routes
// (verifyemail/{code}, resetpassword/{token}) take their token.
var tokenSegments = []string{"/verifyemail/", "/resetpassword/"}

// indexFold is strings.Index ignoring ASCII case, without allocating.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// secureHeaders sets the headers every response carries. Answers are not
// stored by caches unless a handler says otherwise (the JWKS and the
// OpenAPI document do).
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// cors allows exactly the configured origins, with credentials, and answers
// preflight requests itself (the mux would answer OPTIONS with 405).
func cors(origins []string, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			allowed := origin != "" && slices.Contains(origins, origin)
			if allowed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, Traceparent")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if !allowed {
					writeError(w, r, log, errOriginNotAllowed)
					return
				}
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, Traceparent")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadline bounds the work of each request (0: no bound), gives it the
// pacer writeError holds refusals with (nil: none) and the request fields
// logRequests made (reqlog), in one copy of the request for all three.
func deadline(d time.Duration, p *pacer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if sw, ok := w.(*statusWriter); ok && sw.req.ID != "" {
				ctx = reqlog.With(ctx, sw.req) // logRequests' fields, for every line of the request
			}
			if d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			if p != nil {
				ctx = context.WithValue(ctx, pacerKey{}, p)
			}
			next.ServeHTTP(w, r.WithContext(ctx)) // one copy of the request for all three
		})
	}
}

// jsonFallback makes the mux's own 404 and 405 answers JSON like the rest.
// It looks the route up once more than the mux itself does (about 80 ns, no
// allocation): mux.Handler does not fill in path values, so matched
// requests still go through mux.ServeHTTP.
func jsonFallback(mux *http.ServeMux, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if sw, ok := w.(*statusWriter); ok {
			sw.route = pattern // for the request log
		}
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &headerOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, r, log, errMethodNotAllowed)
		case http.StatusNotFound, 0:
			writeError(w, r, log, &apiError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("route %s not found", truncate(r.URL.Path, 100))})
		default: // redirects for unclean paths
			mux.ServeHTTP(w, r)
		}
	})
}

// headerOnly captures what the mux's fallback handlers would write.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
