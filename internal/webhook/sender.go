package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
)

// Channel is the PostgreSQL notification channel that wakes the senders
// (db.Queries.NotifyWebhooks).
const Channel = "authd_webhook"

// batchSize is how many deliveries one sender claims and posts at once.
const batchSize = 16

// Options configure a Sender. The caller passes every setting: the
// defaults live in authd's settings table.
type Options struct {
	Timeout      time.Duration // WEBHOOK_TIMEOUT: one POST, from dialling to the end of the answer
	PollInterval time.Duration // WEBHOOK_POLL_INTERVAL
	DBTimeout    time.Duration // DB_TIMEOUT, per statement

	// Listen turns on LISTEN authd_webhook on one connection of the pool
	// (which must then be a *pgxpool.Pool). Polling runs either way.
	Listen bool

	Log     *slog.Logger     // nil: discard
	Metrics *metrics.Metrics // may be nil
	Now     func() time.Time // nil: time.Now; tests move it to expire leases, backoffs and pauses
}

// Sender posts the deliveries of the configured endpoints. Several
// senders, in one process or many, may share a database: each delivery
// is claimed by one at a time.
type Sender struct {
	pool db.Pool
	q    *db.Queries
	cfg  Config
	ids  []string
	o    Options
	log  *slog.Logger
	now  func() time.Time

	lease   time.Duration
	strict  *http.Client // refuses private addresses
	private *http.Client // for allow_private endpoints

	mu     sync.Mutex
	warned map[string]bool // unconfigured endpoints already logged
}

// NewSender checks o and returns a sender of cfg's endpoints. It starts
// nothing: call Run.
func NewSender(pool db.Pool, cfg Config, o Options) (*Sender, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 || o.PollInterval <= 0 || o.DBTimeout <= 0 {
		return nil, fmt.Errorf("webhook sender: timeout %s, poll interval %s and database timeout %s must all be positive",
			o.Timeout, o.PollInterval, o.DBTimeout)
	}
	if o.Listen {
		if _, ok := pool.(acquirer); !ok {
			return nil, errors.New("webhook sender: Listen needs a *pgxpool.Pool")
		}
	}
	return &Sender{
		pool: pool, q: db.New(db.Bound(pool, o.DBTimeout)), cfg: cfg, ids: cfg.IDs(), o: o, log: o.Log, now: o.Now,
		lease:  2*o.Timeout + 2*o.DBTimeout,
		strict: newClient(false), private: newClient(true),
		warned: map[string]bool{},
	}, nil
}

// newClient is an HTTP client that never follows a redirect and uses no
// proxy (a proxy would be dialled instead of the endpoint, hiding its
// address from the check); without allowPrivate it refuses to connect to
// the addresses of refused.
func newClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guard
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: batchSize,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// acquirer is a pool that lends a connection for LISTEN.
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// Run posts due deliveries until ctx ends: at once, then whenever a
// notification on authd_webhook arrives (with Listen) and every
// PollInterval. A POST in flight when ctx ends is abandoned unrecorded,
// as if the process had died: its lease runs out and any sender retries
// it, so Run returns at once. Stop it before closing the pool.
func (s *Sender) Run(ctx context.Context) {
	s.checkUnconfigured(ctx)
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	if s.o.Listen {
		go func() { defer close(done); s.listen(ctx, wake) }()
	} else {
		close(done)
	}
	defer func() { <-done }()
	tick := time.NewTicker(s.o.PollInterval)
	defer tick.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook sender", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

// listen holds one connection LISTENing on Channel and signals wake on
// each notification, and once after each (re)connect. It retries every
// PollInterval.
func (s *Sender) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, signal)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("webhook sender: LISTEN failed; polling only until it works again",
			"error", err.Error(), "retry_in", s.o.PollInterval.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.PollInterval):
		}
	}
}

func (s *Sender) listenOnce(ctx context.Context, signal func()) error {
	actx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	conn, err := s.pool.(acquirer).Acquire(actx)
	cancel()
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer func() {
		// Still listening, or in an unknown state: never back to the pool.
		cctx, cancel := context.WithTimeout(context.Background(), s.o.DBTimeout)
		conn.Conn().Close(cctx)
		cancel()
		conn.Release()
	}()
	lctx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	_, err = conn.Exec(lctx, "LISTEN "+Channel)
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	signal()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait: %w", err)
		}
		signal()
	}
}

// Once posts every delivery that is due, batchSize at a time, and returns
// how many it claimed. It stops at the first database error, and when ctx
// ends.
func (s *Sender) Once(ctx context.Context) (int, error) {
	if len(s.ids) == 0 {
		return 0, nil
	}
	n := 0
	for ctx.Err() == nil {
		now := s.now()
		rows, err := s.q.ClaimWebhookDeliveries(ctx, db.ClaimWebhookDeliveriesParams{
			Now: now, LeaseUntil: now.Add(s.lease), Endpoints: s.ids, BatchSize: batchSize})
		if err != nil {
			return n, fmt.Errorf("claim webhook deliveries: %w", err)
		}
		n += len(rows)
		errs := make([]error, len(rows))
		var wg sync.WaitGroup
		for i, r := range rows {
			wg.Go(func() { errs[i] = s.deliver(ctx, r) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return n, err
		}
		if len(rows) < batchSize {
			return n, nil
		}
	}
	return n, nil
}

// checkUnconfigured logs, once per endpoint and process, the endpoints
// that have deliveries waiting but are no longer configured. Their
// deliveries stay pending: configuring the endpoint again sends them.
func (s *Sender) checkUnconfigured(ctx context.Context) {
	rows, err := s.q.ListUnconfiguredWebhookEndpoints(ctx, s.ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhook sender: could not list unconfigured endpoints", "error", err.Error())
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if s.warned[r.Endpoint] {
			continue
		}
		s.warned[r.Endpoint] = true
		s.o.Metrics.WebhookUnconfigured(r.Endpoint)
		s.log.Warn("webhook deliveries wait for an endpoint that is no longer configured; they stay pending",
			"endpoint", r.Endpoint, "waiting", r.Waiting)
	}
}
