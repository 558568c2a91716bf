package session

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/reqlog"
)

// The actors of the security event log besides an operator's
// ("operator:" and the name cmd/authd gives, reqlog.Request.Actor).
const (
	ActorClient = "client" // a request to the API, by the user or whoever holds the credentials
	ActorSystem = "system" // authd itself, outside any request
)

// event is one entry of the security event log (security_events), written
// by record in the transaction of the change it tells of.
type event struct {
	name     reqlog.Event
	user     uuid.UUID      // uuid.Nil: none
	sessions []uuid.UUID    // one entry per session; none: one entry without
	data     map[string]any // shown to the user and to webhooks: never a secret
}

// record writes e in q's transaction, with the request's id, client
// address, user agent and actor (reqlog.Request), and a webhook delivery
// of it to each endpoint that wants e's name (Deps.Webhooks).
func (s *Service) record(ctx context.Context, q *db.Queries, e event) error {
	rl, _ := reqlog.From(ctx)
	actor := rl.Actor
	switch {
	case actor != "":
	case rl.ID != "":
		actor = ActorClient
	default:
		actor = ActorSystem
	}
	data := "{}"
	if len(e.data) > 0 {
		b, err := json.Marshal(e.data)
		if err != nil {
			return fmt.Errorf("record %s: %w", e.name, err)
		}
		data = string(b)
	}
	sessions := []string{""}
	if len(e.sessions) > 0 {
		sessions = make([]string, len(e.sessions))
		for i, id := range e.sessions {
			sessions[i] = id.String()
		}
	}
	var endpoints []string
	if s.webhooks != nil {
		endpoints = s.webhooks(string(e.name))
	}
	if endpoints == nil {
		endpoints = []string{}
	}
	err := q.InsertSecurityEvents(ctx, db.InsertSecurityEventsParams{
		Now: s.now(), Name: string(e.name), UserID: nullUUID(e.user), SessionIds: sessions,
		Actor: storable(actor, 127), RequestID: storable(rl.ID, 63), ClientAddr: storable(rl.Client, 63),
		UserAgent: storable(rl.UserAgent, maxUserAgent-1), Data: data, Endpoints: endpoints,
	})
	if err != nil {
		return fmt.Errorf("record %s: %w", e.name, err)
	}
	if len(endpoints) > 0 {
		if err := q.NotifyWebhooks(ctx); err != nil {
			return fmt.Errorf("record %s: %w", e.name, err)
		}
	}
	return nil
}

// recordNow writes e in a transaction of its own: for a change that is
// one statement outside any transaction (a failed login's counter).
func (s *Service) recordNow(ctx context.Context, e event) error {
	return s.tx(ctx, func(q *db.Queries) error { return s.record(ctx, q, e) })
}

// endSessions ends every live session of user but except (uuid.Nil: none)
// in q's transaction, for why, and records a session.revoked event for
// each. It returns how many it ended; the caller counts them in the
// metrics once the transaction commits.
func (s *Service) endSessions(ctx context.Context, q *db.Queries, user, except uuid.UUID, why Reason) (int64, error) {
	ids, err := q.RevokeUserSessions(ctx, db.RevokeUserSessionsParams{
		UserID: user, Now: s.now(), Reason: string(why), ExceptID: nullUUID(except),
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	if err := s.recordRevoked(ctx, q, user, ids, why); err != nil {
		return 0, err
	}
	return int64(len(ids)), nil
}

// recordRevoked records that sessions ids of user ended for why. The
// access tokens of a session stay valid to a verifier that does not ask
// authd until they expire: access_expires_by says when the last one does.
func (s *Service) recordRevoked(ctx context.Context, q *db.Queries, user uuid.UUID, ids []uuid.UUID, why Reason) error {
	if len(ids) == 0 {
		return nil
	}
	return s.record(ctx, q, event{name: reqlog.SessionRevoked, user: user, sessions: ids, data: map[string]any{
		"reason":            string(why),
		"access_expires_by": s.now().Add(s.tokens.AccessTTL()).UTC().Truncate(1e9),
	}})
}

// recordCreated records session sess's start (session.created) with the
// methods its user proved (amr).
func (s *Service) recordCreated(ctx context.Context, q *db.Queries, sess db.Session) error {
	return s.record(ctx, q, event{name: reqlog.SessionCreated, user: sess.UserID, sessions: []uuid.UUID{sess.ID},
		data: map[string]any{"amr": sess.Amr, "aal": sess.Aal}})
}
