package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// Event is one entry of the security event log as it is read back: by its
// user (SecurityEvents) or by the operator (Admin.Events).
type Event struct {
	ID         int64 // increasing: the order events were written in
	Name       string
	Time       time.Time
	UserID     uuid.UUID // uuid.Nil: none
	SessionID  uuid.UUID // uuid.Nil: none
	Actor      string    // ActorClient, ActorSystem, or "operator:" and a name
	RequestID  string
	ClientAddr string
	UserAgent  string         // at most 256 bytes
	Device     string         // Device(UserAgent): "Firefox on Linux"
	Data       map[string]any // never a secret; empty: none
}

// Bounds of a page of events.
const (
	// MaxEvents is the most events SecurityEvents returns at once.
	MaxEvents = 100
	// MaxEventsListed is the most events Admin.Events returns at once.
	MaxEventsListed = 1000
	// DefaultEventRetention is how long events are kept when
	// Options.EventRetention is 0 (EVENT_RETENTION's default).
	DefaultEventRetention = 90 * 24 * time.Hour
)

// ActorOperator is the actor a user sees for an operator's action: the
// operator's name, SSH address and audit id stay with the operator.
const ActorOperator = "operator"

// SecurityEvents returns the events of user's account, newest first,
// those with an id below before (0: from the newest), at most limit (1 to
// MaxEvents; an *InvalidError otherwise). It is the user's own view: an
// event an operator caused shows the actor "operator", without the
// operator's name, address or request id.
func (s *Service) SecurityEvents(ctx context.Context, user uuid.UUID, before int64, limit int) ([]Event, error) {
	if limit < 1 || limit > MaxEvents {
		return nil, invalid(fmt.Sprintf("limit must be 1 to %d", MaxEvents))
	}
	if before < 0 {
		return nil, invalid("before must be an event id")
	}
	rows, err := s.q.ListUserSecurityEvents(ctx, db.ListUserSecurityEventsParams{
		UserID: nullUUID(user), BeforeID: before, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list security events: %w", err)
	}
	events, err := eventsOf(rows)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		if strings.HasPrefix(e.Actor, ActorOperator+":") {
			events[i].Actor, events[i].ClientAddr, events[i].RequestID, events[i].UserAgent, events[i].Device = ActorOperator, "", "", "", ""
		}
	}
	return events, nil
}

// EventFilter chooses the events Admin.Events returns.
type EventFilter struct {
	Email  string    // the events of this address's user; "": see UserID
	UserID uuid.UUID // the events of this user (a deleted one too); uuid.Nil and Email "": every user's
	Since  time.Time // written at or after this time
	After  int64     // with an id above this one (the last one seen); 0: from the first
	Limit  int       // at most this many, 1 to MaxEventsListed
}

// Events returns the events f chooses, oldest first, with everything the
// log holds (the operator's names and addresses too). An Email no account
// has is ErrNoUser: a deleted user's events are found by UserID.
func (a *Admin) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if f.Limit < 1 || f.Limit > MaxEventsListed {
		return nil, invalid(fmt.Sprintf("limit must be 1 to %d", MaxEventsListed))
	}
	user := f.UserID
	if f.Email != "" {
		u, err := a.byEmail(ctx, a.s.q, f.Email)
		if err != nil {
			return nil, err
		}
		user = u.ID
	}
	rows, err := a.s.q.ListSecurityEvents(ctx, db.ListSecurityEventsParams{
		Since: f.Since, AfterID: max(f.After, 0), UserID: nullUUID(user), MaxRows: int32(f.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list security events: %w", err)
	}
	return eventsOf(rows)
}

// eventsOf is rows of security_events as Events.
func eventsOf(rows []db.SecurityEvent) ([]Event, error) {
	events := make([]Event, 0, len(rows))
	for _, r := range rows {
		e, err := eventOf(r)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// eventOf is a row of security_events as an Event.
func eventOf(r db.SecurityEvent) (Event, error) {
	e := Event{
		ID: r.ID, Name: r.Name, Time: r.CreatedAt.UTC(), UserID: r.UserID.UUID, SessionID: r.SessionID.UUID,
		Actor: r.Actor, RequestID: r.RequestID, ClientAddr: r.ClientAddr, UserAgent: r.UserAgent,
		Device: Device(r.UserAgent),
	}
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, &e.Data); err != nil {
			return Event{}, fmt.Errorf("security event %d: data: %w", r.ID, err)
		}
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

// purgeEvents deletes the events older than the retention in batches and
// returns how many (Purge).
func (s *Service) purgeEvents(ctx context.Context, now time.Time, batched func(string, func(context.Context) (int64, error)) int64) int64 {
	retention := s.opts.EventRetention
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	cutoff := now.Add(-retention)
	return batched("security event", func(ctx context.Context) (int64, error) {
		return s.q.DeleteOldSecurityEvents(ctx, db.DeleteOldSecurityEventsParams{Cutoff: cutoff, BatchSize: purgeBatch})
	})
}

// Device is a short summary of a User-Agent for people, "Firefox on
// Linux", "Safari on iOS", "curl": the browser (or client) family and the
// operating system, from a fixed vocabulary, so it is bounded whatever the
// client sends. An empty User-Agent is ""; one of no known family "Other".
func Device(userAgent string) string {
	if userAgent == "" {
		return ""
	}
	browser, os := browserOf(userAgent), osOf(userAgent)
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "Browser on " + os
	}
	return "Other"
}

// The families Device knows, in the order they are tried: a token that
// others imitate comes before theirs (every Chromium browser says
// "Chrome/", Chrome says "Safari/", iOS says "like Mac OS X", Android
// says "Linux").
var (
	browsers = []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"Opera", "Opera"},
		{"SamsungBrowser/", "Samsung Internet"},
		{"YaBrowser/", "Yandex Browser"},
		{"Vivaldi/", "Vivaldi"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
		{"Version/", "Safari"}, // with Safari/, below
		{"curl/", "curl"}, {"Wget/", "Wget"}, {"HTTPie/", "HTTPie"},
		{"PostmanRuntime/", "Postman"}, {"insomnia/", "Insomnia"},
		{"okhttp/", "OkHttp"}, {"Go-http-client/", "Go"}, {"python-requests/", "Python Requests"},
		{"python-httpx/", "Python HTTPX"}, {"axios/", "axios"}, {"node-fetch", "node-fetch"},
		{"Dart/", "Dart"}, {"Java/", "Java"},
	}
	systems = []struct{ token, name string }{
		{"Windows", "Windows"},
		{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"iPod", "iOS"},
		{"Android", "Android"},
		{"CrOS", "ChromeOS"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
		{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
		{"Linux", "Linux"}, {"X11", "Unix"},
	}
)

func browserOf(ua string) string {
	for _, b := range browsers {
		if !strings.Contains(ua, b.token) {
			continue
		}
		if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
			continue
		}
		return b.name
	}
	return ""
}

func osOf(ua string) string {
	for _, o := range systems {
		if strings.Contains(ua, o.token) {
			return o.name
		}
	}
	return ""
}
