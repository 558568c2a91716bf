package webhook

import (
	"context"
	"time"

	"github.com/authd/authd/internal/db"
)

// Retention of finished deliveries (their events stay for EVENT_RETENTION).
const (
	deliveredRetention = 24 * time.Hour
	failedRetention    = 30 * 24 * time.Hour
	purgeBatch         = 1000
)

// Purge deletes delivered deliveries older than a day and failed ones
// older than 30 days, in batches of 1000 (SKIP LOCKED, so replicas may run
// it at once), and logs the endpoints that have deliveries waiting but are
// no longer configured (once per endpoint and process). Failures are
// logged and left for the next pass. Call it from the periodic purge loop.
func (s *Sender) Purge(ctx context.Context) {
	now := s.now()
	for _, j := range []struct {
		status string
		cutoff time.Time
	}{
		{"delivered", now.Add(-deliveredRetention)},
		{"failed", now.Add(-failedRetention)},
	} {
		total := int64(0)
		for ctx.Err() == nil {
			n, err := s.q.DeleteOldWebhookDeliveries(ctx, db.DeleteOldWebhookDeliveriesParams{Status: j.status, Cutoff: j.cutoff, BatchSize: purgeBatch})
			if err != nil {
				s.log.Warn("webhook purge failed", "status", j.status, "error", err.Error())
				break
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
		if total > 0 {
			s.log.Info("purged webhook deliveries", "status", j.status, "count", total)
		}
	}
	s.checkUnconfigured(ctx)
}
