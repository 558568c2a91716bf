package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
)

const (
	// maxLastError bounds last_error, in bytes.
	maxLastError = 500
	// maxAnswer is the most of an answer's body read; maxQuoted the most
	// of it quoted in last_error.
	maxAnswer = 4 << 10
	maxQuoted = 200

	// giveUpAfter: a delivery whose attempt fails this long after its
	// event is marked failed.
	giveUpAfter = 24 * time.Hour
	// maxAttempts: claims beyond it (senders that kept dying with it)
	// fail the delivery.
	maxAttempts = 100

	// pauseAfter failures in a row pause an endpoint, and so does every
	// further pauseAfter; the pause doubles from firstPause to longestPause.
	pauseAfter   = 10
	firstPause   = time.Minute
	longestPause = time.Hour
)

// delivery is a claimed row.
type delivery = db.ClaimWebhookDeliveriesRow

// deliver posts one claimed delivery and records the outcome, as long as
// it still holds the lease. A POST that ctx cut short is abandoned
// unrecorded (the lease brings it back); a 2xx is recorded all the same.
func (s *Sender) deliver(ctx context.Context, d delivery) error {
	lease := *d.LockedUntil // as stored: the Mark/Retry/Fail queries compare it exactly
	log := s.log.With("endpoint", d.Endpoint, "delivery_id", d.ID, "event_id", d.EventID, "event", d.Name, "attempt", d.Attempts)
	e := s.cfg.endpoint(d.Endpoint)
	if e == nil { // claimed only for configured endpoints
		return nil
	}
	rec := context.WithoutCancel(ctx)
	if d.Attempts > maxAttempts {
		return s.fail(rec, log, d, lease, fmt.Sprintf("gave up after %d attempts", maxAttempts))
	}
	body, err := buildBody(d)
	if err != nil {
		return s.fail(rec, log, d, lease, err.Error())
	}
	status, cause := s.post(ctx, e, d.EventID, body)
	if cause != nil && ctx.Err() != nil {
		log.Info("webhook sender stopping: attempt abandoned; it is retried after its lease")
		return nil
	}
	if cause == nil {
		n, err := s.q.MarkWebhookDelivered(rec, db.MarkWebhookDeliveredParams{ID: d.ID, Now: s.now(), LeaseUntil: lease})
		if err != nil {
			return fmt.Errorf("record webhook delivery %d: %w", d.ID, err)
		}
		if n == 0 {
			log.Warn("webhook sender: lease lost before recording the delivery; it may be delivered twice")
			return nil
		}
		if err := s.q.ResetWebhookEndpoint(rec, db.ResetWebhookEndpointParams{Endpoint: d.Endpoint, Now: s.now()}); err != nil {
			return fmt.Errorf("reset webhook endpoint %s: %w", d.Endpoint, err)
		}
		s.o.Metrics.WebhookDelivery(d.Endpoint, metrics.WebhookDelivered)
		log.Debug("webhook delivered")
		return nil
	}
	reason := truncate(cause.Error())
	if err := s.endpointFailed(rec, log, d.Endpoint, reason, status == http.StatusGone); err != nil {
		return err
	}
	if s.now().Sub(d.CreatedAt) >= giveUpAfter {
		return s.fail(rec, log, d, lease, truncate(fmt.Sprintf("gave up %s after the event: %s", giveUpAfter, reason)))
	}
	next := s.now().Add(backoff(int(d.Attempts)))
	n, err := s.q.RetryWebhookDelivery(rec, db.RetryWebhookDeliveryParams{ID: d.ID, LeaseUntil: lease, NextAttemptAt: next, LastError: reason})
	if err != nil {
		return fmt.Errorf("record webhook delivery %d for retry: %w", d.ID, err)
	}
	if n == 0 {
		log.Warn("webhook sender: lease lost before recording the retry")
		return nil
	}
	s.o.Metrics.WebhookDelivery(d.Endpoint, metrics.WebhookRetry)
	log.Info("webhook not delivered; will retry", "error", reason, "next_attempt_at", next.UTC().Format(time.RFC3339))
	return nil
}

// fail gives up on a delivery: it stays, failed, for the operator.
func (s *Sender) fail(ctx context.Context, log *slog.Logger, d delivery, lease time.Time, reason string) error {
	n, err := s.q.FailWebhookDelivery(ctx, db.FailWebhookDeliveryParams{ID: d.ID, LeaseUntil: lease, LastError: truncate(reason)})
	if err != nil {
		return fmt.Errorf("record failed webhook delivery %d: %w", d.ID, err)
	}
	if n == 0 {
		log.Warn("webhook sender: lease lost before recording the failure")
		return nil
	}
	s.o.Metrics.WebhookDelivery(d.Endpoint, metrics.WebhookFailed)
	log.Warn("webhook delivery failed; kept in webhook_deliveries with status failed", "reason", reason)
	return nil
}

// endpointFailed counts a failure in a row of the endpoint, and pauses it
// at every pauseAfter-th (each pause twice the one before, up to
// longestPause) or at once for the longest pause on 410 Gone.
func (s *Sender) endpointFailed(ctx context.Context, log *slog.Logger, endpoint, reason string, gone bool) error {
	now := s.now()
	n, err := s.q.RecordWebhookFailure(ctx, db.RecordWebhookFailureParams{Endpoint: endpoint, LastError: reason, Now: now})
	if err != nil {
		return fmt.Errorf("record webhook endpoint failure %s: %w", endpoint, err)
	}
	var pause time.Duration
	switch {
	case gone:
		pause = longestPause
	case n%pauseAfter == 0:
		pause = pauseFor(int(n / pauseAfter))
	default:
		return nil
	}
	until := now.Add(pause)
	if err := s.q.PauseWebhookEndpoint(ctx, db.PauseWebhookEndpointParams{Endpoint: endpoint, PausedUntil: until, Now: now}); err != nil {
		return fmt.Errorf("pause webhook endpoint %s: %w", endpoint, err)
	}
	s.o.Metrics.WebhookPaused(endpoint)
	log.Warn("webhook endpoint paused: its deliveries wait", "failures_in_a_row", n, "paused_until", until.UTC().Format(time.RFC3339), "error", reason)
	return nil
}

// pauseFor is the k-th pause (1, 2, ...): firstPause doubling, at most
// longestPause.
func pauseFor(k int) time.Duration {
	d := firstPause
	for i := 1; i < k && d < longestPause; i++ {
		d *= 2
	}
	return min(d, longestPause)
}

// backoff is the wait after failed attempt number attempts (1, 2, ...):
// between half and all of min(1h, 5s·2^(attempts-1)), at random, so that
// deliveries that failed together do not come back together.
func backoff(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d/2 + rand.N(d/2+1)
}

// post sends body to e, signed with each of its secrets, and returns the
// status and nil on a 2xx, else why not. Errors never include the URL
// (its path or query may hold a token of the receiver).
func (s *Sender) post(ctx context.Context, e *Endpoint, eventID int64, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot build the request")
	}
	id := "evt_" + strconv.FormatInt(eventID, 10)
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authd-webhook")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", signature(e.secrets, id, ts, body))
	client := s.strict
	if e.AllowPrivate {
		client = s.private
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	// Read a little of the answer (and no more): the whole of a short
	// one lets the connection be reused.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	msg := "HTTP " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " (redirects are not followed)"
	}
	if q := quoted(answer); q != "" {
		msg += ": " + q
	}
	return resp.StatusCode, errors.New(msg)
}

// quoted is the start of an answer's body, on one line of printable text.
func quoted(b []byte) string {
	if len(b) > maxQuoted {
		b = b[:maxQuoted]
	}
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// truncate cuts s to maxLastError bytes on a character boundary.
func truncate(s string) string {
	if len(s) <= maxLastError {
		return s
	}
	s = s[:maxLastError]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// payload is the body of a delivery.
type payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// buildBody is the JSON body of a delivery of the event in d: its name, its
// time (RFC 3339, UTC) and its data, which holds every key of the
// event's data object and, taking precedence over those, event_id,
// user_id and session_id (when the event has them), actor, client_addr
// and request_id.
func buildBody(d delivery) ([]byte, error) {
	data := map[string]any{}
	if len(d.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(d.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return nil, fmt.Errorf("event data is not a JSON object: %w", err)
		}
		if data == nil {
			data = map[string]any{}
		}
	}
	data["event_id"] = d.EventID
	delete(data, "user_id")
	delete(data, "session_id")
	if d.UserID.Valid {
		data["user_id"] = d.UserID.UUID.String()
	}
	if d.SessionID.Valid {
		data["session_id"] = d.SessionID.UUID.String()
	}
	data["actor"] = d.Actor
	data["client_addr"] = d.ClientAddr
	data["request_id"] = d.RequestID
	return json.Marshal(payload{Type: d.Name, Timestamp: d.EventCreatedAt.UTC().Format(time.RFC3339Nano), Data: data})
}
