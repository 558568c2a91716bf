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
		if !db.CanListen(pool) {
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
			// A receiver's headers are small; without a bound one could
			// make each delivery hold 10 MB (Go's default).
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run posts due deliveries until ctx ends, each endpoint on its own: at
// once, then whenever a notification on authd_webhook arrives (with
// Listen) and every PollInterval (db.RunWoken wakes every endpoint), so
// that a slow endpoint's backlog never holds back another's deliveries (a
// session.revoked to a verifier's deny-set). A POST in flight when ctx
// ends is abandoned unrecorded, as if the process had died: its lease runs
// out and any sender retries it, so Run returns at once. Stop it before
// closing the pool.
func (s *Sender) Run(ctx context.Context) {
	s.checkUnconfigured(ctx)
	wakes := make([]chan struct{}, len(s.ids))
	var wg sync.WaitGroup
	for i, id := range s.ids {
		wakes[i] = make(chan struct{}, 1)
		wg.Go(func() { s.endpointLoop(ctx, id, wakes[i]) })
	}
	w := db.Wake{Pool: s.pool, Channel: Channel, Listen: s.o.Listen, Poll: s.o.PollInterval, Timeout: s.o.DBTimeout,
		Log: s.log, Name: "webhook sender"}
	db.RunWoken(ctx, w, func(context.Context) error {
		for _, c := range wakes {
			select {
			case c <- struct{}{}:
			default: // already due to look
			}
		}
		return nil
	})
	wg.Wait()
}

// endpointLoop posts endpoint's due deliveries at each wake until ctx
// ends.
func (s *Sender) endpointLoop(ctx context.Context, endpoint string, wake <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		if _, err := s.onceFor(ctx, endpoint); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook sender", "endpoint", endpoint, "error", err.Error())
		}
	}
}

// Once posts every delivery that is due, each endpoint's on its own
// (onceFor, all at once), and returns how many it claimed. An endpoint
// stops at its first database error, and every one when ctx ends.
func (s *Sender) Once(ctx context.Context) (int, error) {
	var (
		mu   sync.Mutex
		n    int
		errs []error
		wg   sync.WaitGroup
	)
	for _, id := range s.ids {
		wg.Go(func() {
			k, err := s.onceFor(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			n += k
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// onceFor posts every delivery of endpoint that is due, batchSize at a
// time, and returns how many it claimed.
func (s *Sender) onceFor(ctx context.Context, endpoint string) (int, error) {
	n := 0
	for ctx.Err() == nil {
		now := s.now()
		rows, err := s.q.ClaimWebhookDeliveries(ctx, db.ClaimWebhookDeliveriesParams{
			Now: now, LeaseUntil: now.Add(s.lease), Endpoints: []string{endpoint}, BatchSize: batchSize})
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
