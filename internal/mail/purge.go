package mail

import (
	"context"
	"time"

	"github.com/authd/authd/internal/db"
)

// failedRetention is how long failed mails stay for an operator to see.
const failedRetention = 30 * 24 * time.Hour

// purgeBatch is how many rows one statement of Purge deletes at most.
const purgeBatch = 1000

// Purge deletes sent mails older than Retention and failed ones older
// than 30 days (session.Service.Purge deletes expired one-time tokens and
// idle mail_throttle rows), in batches of 1000 (SKIP LOCKED, so replicas may run it at once).
// Failures are logged and left for the next pass. Call it from the
// periodic purge loop.
func (s *Sender) Purge(ctx context.Context) {
	now := s.now()
	jobs := []struct {
		status string
		cutoff time.Time
	}{
		{"sent", now.Add(-s.o.Retention)},
		{"failed", now.Add(-failedRetention)},
	}
	for _, j := range jobs {
		what := j.status + " mails"
		total := int64(0)
		for ctx.Err() == nil {
			n, err := s.q.DeleteOldMailWithStatus(ctx, db.DeleteOldMailWithStatusParams{Status: j.status, Cutoff: j.cutoff, BatchSize: purgeBatch})
			if err != nil {
				s.log.Warn("mail purge failed", "what", what, "error", err.Error())
				break
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
		if total > 0 {
			s.log.Info("purged "+what, "count", total)
		}
	}
}
