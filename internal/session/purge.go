package session

import (
	"context"
	"time"

	"github.com/authd/authd/internal/db"
)

// Purge retention and batch size.
const (
	purgeRetention = 24 * time.Hour
	purgeBatch     = 1000
)

// RunPurge calls Purge every interval until ctx ends.
func (s *Service) RunPurge(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Purge(ctx)
	}
}

// Purge deletes sessions dead for a day (expired, idled-out ones at the
// end of their lifetime, and revoked ones) in small batches, so it never
// holds locks that requests wait on, and login failure counts untouched
// for a day. Safe with several replicas (SKIP LOCKED). Failures are logged
// and left for the next pass.
func (s *Service) Purge(ctx context.Context) {
	cutoff := s.now().Add(-purgeRetention)
	total := int64(0)
	for _, del := range []func(context.Context) (int64, error){
		func(ctx context.Context) (int64, error) {
			return s.q.DeleteExpiredSessions(ctx, db.DeleteExpiredSessionsParams{Cutoff: cutoff, BatchSize: purgeBatch})
		},
		func(ctx context.Context) (int64, error) {
			return s.q.DeleteRevokedSessions(ctx, db.DeleteRevokedSessionsParams{Cutoff: cutoff, BatchSize: purgeBatch})
		},
	} {
		for {
			n, err := del(ctx)
			if err != nil {
				s.log.Warn("session purge failed", "error", err)
				break
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	if total > 0 {
		s.log.Info("purged dead sessions", "count", total)
	}
	n, err := s.q.DeleteStaleLoginThrottles(ctx, cutoff)
	if err != nil {
		s.log.Warn("login throttle purge failed", "error", err)
	} else if n > 0 {
		s.log.Info("purged stale login throttles", "count", n)
	}
}
