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

// RunPurge calls Purge, then each of also, every interval until ctx ends.
func (s *Service) RunPurge(ctx context.Context, every time.Duration, also ...func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Purge(ctx)
		for _, f := range also {
			f(ctx)
		}
	}
}

// Purge deletes sessions dead for a day (expired, idled-out ones at the
// end of their lifetime, and revoked ones) and expired one-time tokens in
// small batches, so it never holds locks that requests wait on; login
// failure counts untouched for a day; mail allowances older than their
// window and cool-down (as good as none); and security events older than
// Options.EventRetention, with their webhook deliveries. Safe with several replicas (SKIP
// LOCKED). Failures are logged and left for the next pass.
func (s *Service) Purge(ctx context.Context) {
	now := s.now()
	cutoff := now.Add(-purgeRetention)
	// batched runs del until it deletes less than a batch, and returns how
	// many it deleted.
	batched := func(what string, del func(context.Context) (int64, error)) int64 {
		total := int64(0)
		for {
			n, err := del(ctx)
			if err != nil {
				s.log.Warn(what+" purge failed", "error", err)
				return total
			}
			total += n
			if n < purgeBatch {
				return total
			}
		}
	}
	sessions := batched("session", func(ctx context.Context) (int64, error) {
		return s.q.DeleteExpiredSessions(ctx, db.DeleteExpiredSessionsParams{Cutoff: cutoff, BatchSize: purgeBatch})
	}) + batched("session", func(ctx context.Context) (int64, error) {
		return s.q.DeleteRevokedSessions(ctx, db.DeleteRevokedSessionsParams{Cutoff: cutoff, BatchSize: purgeBatch})
	})
	if sessions > 0 {
		s.log.Info("purged dead sessions", "count", sessions)
	}
	tokens := batched("one-time token", func(ctx context.Context) (int64, error) {
		return s.secrets.Purge(ctx, s.q, purgeBatch)
	})
	if tokens > 0 {
		s.log.Info("purged expired tokens", "count", tokens)
	}
	if events := s.purgeEvents(ctx, now, batched); events > 0 {
		s.log.Info("purged old security events", "count", events)
	}
	n, err := s.q.DeleteStaleLoginThrottles(ctx, cutoff)
	if err != nil {
		s.log.Warn("login throttle purge failed", "error", err)
	} else if n > 0 {
		s.log.Info("purged stale login throttles", "count", n)
	}
	n, err = s.q.DeleteStaleMailThrottles(ctx, now.Add(-max(mailWindow, s.opts.MailCooldown)))
	if err != nil {
		s.log.Warn("mail throttle purge failed", "error", err)
	} else if n > 0 {
		s.log.Info("purged stale mail throttles", "count", n)
	}
}
