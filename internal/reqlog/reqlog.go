// Package reqlog carries what every log line of a request shares (its
// request id, the client's address, an incoming trace id) through the
// request's context, and names the security events (events.go). Its
// Handler adds those fields to each record logged with such a context, so
// a domain package logs them without knowing HTTP.
package reqlog

import (
	"context"
	"log/slog"
)

// Request is what the lines of one request share. Each field is bounded
// by whoever sets it (internal/http: an id of at most 64 characters, an
// address, a 32-digit trace id); "" fields are left out.
type Request struct {
	ID     string // the request id (X-Request-Id, or a random one)
	Client string // the client's address, proxies resolved
	Trace  string // the W3C trace id of an incoming traceparent
	// UserAgent is the client's User-Agent, for the security event log,
	// which keeps 256 bytes of it (not added to log lines).
	UserAgent string
	// Actor is who acts when it is not the client of a request: an
	// operator ("operator:" and a name) in cmd/authd's commands.
	Actor string
}

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, key{}, r)
}

// From returns the Request ctx carries, and whether it carries one.
func From(ctx context.Context) (Request, bool) {
	if ctx == nil {
		return Request{}, false
	}
	r, ok := ctx.Value(key{}).(Request)
	return r, ok
}

// The attribute keys Handler adds.
const (
	KeyRequestID = "request_id"
	KeyClient    = "client_addr"
	KeyTrace     = "trace_id"
)

// Attrs are r's non-empty fields as log attributes.
func (r Request) Attrs() []slog.Attr {
	a := make([]slog.Attr, 0, 3)
	if r.ID != "" {
		a = append(a, slog.String(KeyRequestID, r.ID))
	}
	if r.Client != "" {
		a = append(a, slog.String(KeyClient, r.Client))
	}
	if r.Trace != "" {
		a = append(a, slog.String(KeyTrace, r.Trace))
	}
	return a
}

// handler adds the Request of a record's context to the record.
type handler struct{ next slog.Handler }

// Logger returns l with a handler that adds the Request of each line's
// context (see With) to the line. A logger that already has one is
// returned as it is; nil stays nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(handler{l.Handler()})
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, rec slog.Record) error {
	if r, ok := From(ctx); ok {
		rec = rec.Clone()
		rec.AddAttrs(r.Attrs()...)
	}
	return h.next.Handle(ctx, rec)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler { return handler{h.next.WithAttrs(as)} }
func (h handler) WithGroup(name string) slog.Handler    { return handler{h.next.WithGroup(name)} }
