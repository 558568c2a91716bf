package http

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/session"
)

// defaultEventPage is the page size of the security events without ?limit.
const defaultEventPage = 20

// handleSecurityEvents lists the caller's own security events, newest
// first, a page at a time: ?before=<id> (the next_before of the previous
// page) and ?limit=<1..100>. next_before is null on a page that is not
// full; a full page may be followed by an empty one.
func handleSecurityEvents(log *slog.Logger, s *session.Service) http.Handler {
	type item struct {
		ID         int64          `json:"id"`
		Event      string         `json:"event"`
		Time       time.Time      `json:"time"`
		SessionID  *uuid.UUID     `json:"session_id"`
		Current    bool           `json:"current"`
		Device     string         `json:"device"`
		ClientAddr string         `json:"client_addr"`
		Actor      string         `json:"actor"`
		Details    map[string]any `json:"details"`
	}
	type data struct {
		Events     []item `json:"events"`
		NextBefore *int64 `json:"next_before"`
	}
	type response struct {
		Status string `json:"status"`
		Data   data   `json:"data"`
	}
	return handle(log, func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		before, err := queryInt(q.Get("before"), 0, 1, 1<<62)
		if err != nil {
			return badRequest("before must be an event id (next_before of the previous page)")
		}
		limit, err := queryInt(q.Get("limit"), defaultEventPage, 1, session.MaxEvents)
		if err != nil {
			return badRequest("limit must be 1 to " + strconv.Itoa(session.MaxEvents))
		}
		a := authFrom(r.Context())
		events, err := s.SecurityEvents(r.Context(), a.User.ID, before, int(limit))
		if err != nil {
			return err
		}
		out := data{Events: make([]item, 0, len(events))}
		for _, e := range events {
			it := item{ID: e.ID, Event: e.Name, Time: e.Time.UTC(), Device: e.Device, ClientAddr: e.ClientAddr,
				Actor: e.Actor, Details: e.Data}
			if e.SessionID != uuid.Nil {
				id := e.SessionID
				it.SessionID, it.Current = &id, id == a.Session
			}
			if it.Details == nil {
				it.Details = map[string]any{}
			}
			out.Events = append(out.Events, it)
		}
		if n := len(events); n == int(limit) {
			next := events[n-1].ID
			out.NextBefore = &next
		}
		encode(w, http.StatusOK, response{Status: "success", Data: out})
		return nil
	})
}

// queryInt parses an optional decimal query value within lo..hi; "" is def.
func queryInt(v string, def, lo, hi int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, strconv.ErrRange
	}
	return n, nil
}
