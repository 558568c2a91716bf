package mail

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/internal/db"
)

// retry puts m back for later, after min(1h, 10s·2^(attempts-1)): 10s
// after the first attempt, 20s after the second, ... an hour from the
// ninth on.
func (s *Sender) retry(ctx context.Context, log *slog.Logger, m db.MailOutbox, lease time.Time, kind string, cause error, raw string) error {
	if int(m.Attempts) >= s.o.MaxAttempts {
		n, err := s.q.FailMail(ctx, db.FailMailParams{ID: m.ID, LeaseUntil: lease,
			LastError: truncate(redact(fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, cause.Error()), raw))})
		if err == nil && n == 1 {
			s.o.Metrics.Mail(kind, outcomeFailed)
			log.Warn("mail failed", "reason", "too many attempts")
		}
		return err
	}
	next := s.now().Add(Backoff(int(m.Attempts)))
	reason := truncate(redact(cause.Error(), raw))
	n, err := s.q.RetryMail(ctx, db.RetryMailParams{ID: m.ID, LeaseUntil: lease, NextAttemptAt: next, LastError: reason})
	if err != nil {
		return fmt.Errorf("record mail %d for retry: %w", m.ID, err)
	}
	if n == 0 {
		log.Warn("mail sender: lease lost before recording the retry")
		return nil
	}
	s.o.Metrics.Mail(kind, outcomeRetried)
	log.Warn("mail not sent; will retry", "error", noAddress(reason, m.ToAddr), "next_attempt_at", next.UTC().Format(time.RFC3339))
	return nil
}

// Backoff is the wait after a failed attempt number attempts (1, 2, ...):
// min(1h, 10s·2^(attempts-1)).
func Backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
