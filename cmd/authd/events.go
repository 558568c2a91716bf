package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/session"
)

// maxEventsPrinted bounds authd events -limit.
const maxEventsPrinted = 100_000

// eventJSON is a security event as authd events -json prints it, one per
// line.
type eventJSON struct {
	ID         int64          `json:"id"`
	Time       time.Time      `json:"time"`
	Event      string         `json:"event"`
	UserID     *uuid.UUID     `json:"user_id"`
	SessionID  *uuid.UUID     `json:"session_id"`
	Actor      string         `json:"actor"`
	RequestID  string         `json:"request_id"`
	ClientAddr string         `json:"client_addr"`
	UserAgent  string         `json:"user_agent"`
	Device     string         `json:"device"`
	Details    map[string]any `json:"details"`
}

func orNil(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// eventsCmd: authd events [-user EMAIL|ID] [-since 24h|RFC3339] [-limit N] [-json].
// It prints the security event log, oldest first, one line per event, and
// writes one audit line like the user and mail commands.
func eventsCmd(ctx context.Context, args []string, c adminIO) error {
	fs := c.flagSet("events", "[-user EMAIL|ID] [-since 24h|RFC3339] [-limit N] [-json]")
	who := fs.String("user", "", "only the events of this user: an `EMAIL`, or a user id (for a deleted user)")
	sinceFlag := fs.String("since", "24h", "only events since this long ago (a Go duration) or since this RFC 3339 `time`")
	limit := fs.Int("limit", 1000, fmt.Sprintf("at most `N` events, 1 to %d (the oldest first)", maxEventsPrinted))
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	err := c.runCommand(ctx, fs, args, 0, "events.list", func(ctx context.Context, pos []string, cfg config.Config, au *audit) error {
		au.add(slog.String("user", *who), slog.String("since", *sinceFlag), slog.Int("limit", *limit))
		if *limit < 1 || *limit > maxEventsPrinted {
			return refusef("-limit must be 1 to %d", maxEventsPrinted)
		}
		since, err := parseSince(*sinceFlag, time.Now())
		if err != nil {
			return err
		}
		f := session.EventFilter{Since: since}
		if id, err := uuid.Parse(*who); err == nil {
			f.UserID = id
		} else {
			f.Email = *who
		}
		env, err := openAdmin(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer env.close()
		printed := 0
		for printed < *limit {
			f.Limit = min(*limit-printed, session.MaxEventsListed)
			events, err := env.admin.Events(ctx, f)
			if err != nil {
				au.add(slog.Int("events", printed))
				return err
			}
			for _, e := range events {
				if err := printEvent(c, e, *asJSON); err != nil {
					return err
				}
			}
			printed += len(events)
			if len(events) < f.Limit {
				break
			}
			f.After = events[len(events)-1].ID
		}
		au.add(slog.Int("events", printed))
		return nil
	})
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case err != nil:
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// parseSince reads -since: a duration before now, or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, refusef("-since must be a duration such as 24h or an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", v)
}

// printEvent writes e on one line: for people, the time, id, event, user,
// session, actor, client address and details; or as JSON.
func printEvent(c adminIO, e session.Event, asJSON bool) error {
	details := e.Data
	if details == nil {
		details = map[string]any{}
	}
	if asJSON {
		b, err := json.Marshal(eventJSON{ID: e.ID, Time: e.Time.UTC(), Event: e.Name, UserID: orNil(e.UserID), SessionID: orNil(e.SessionID),
			Actor: e.Actor, RequestID: e.RequestID, ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, Device: e.Device, Details: details})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	d, err := json.Marshal(details)
	if err != nil {
		return err
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return cell(s)
	}
	id := func(u uuid.UUID) string {
		if u == uuid.Nil {
			return "-"
		}
		return u.String()
	}
	_, err = fmt.Fprintf(c.stdout, "%s  #%d  %s  user=%s  session=%s  actor=%s  client=%s  %s\n",
		e.Time.UTC().Format(time.RFC3339), e.ID, cell(e.Name), id(e.UserID), id(e.SessionID), dash(e.Actor), dash(e.ClientAddr), d)
	return err
}
