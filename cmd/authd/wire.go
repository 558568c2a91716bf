package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	authhttp "github.com/authd/authd/internal/http"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/sql/schema"
)

// purgeEvery is how often each replica deletes long-dead sessions.
const purgeEvery = 10 * time.Minute

// baseProcs is GOMAXPROCS as the process started with it.
var baseProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

// app is a built service: its handlers and what must run and stop with them.
type app struct {
	api      http.Handler
	metrics  http.Handler // nil: no metrics listener
	sessions *session.Service
	pool     *pgxpool.Pool
	draining atomic.Bool
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// build wires config into the service: keys, hasher, migrations, pool,
// sessions and the HTTP handlers. The caller closes a.pool.
func build(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*app, error) {
	signer, err := newSigner(cfg)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	hashOpts := password.Options{
		Cost: cfg.BcryptCost, Concurrency: cfg.HashConcurrency, Queue: cfg.HashQueue, Wait: cfg.HashWait,
		RequestTimeout: cfg.RequestTimeout, Nice: cfg.HashNice, OnWait: m.HashWait,
	}
	hasher, err := password.New(hashOpts)
	if err != nil {
		return nil, err
	}
	if extra := password.ExtraProcs(hashOpts); extra > 0 {
		// From the process's own setting (GOMAXPROCS, else the usable
		// CPUs), so that building twice in one process adds it once.
		runtime.GOMAXPROCS(baseProcs() + extra)
	}
	if migrate {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := db.MigrateUp(mctx, cfg.DatabaseURL)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	pool, err := db.Connect(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: cfg.DBMaxConns, Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, err
	}
	poolGauges(m, pool)

	a := &app{pool: pool}
	a.sessions = session.New(session.Deps{
		DB: pool, DBTimeout: cfg.DBTimeout,
		Tokens: signer, Hasher: hasher, Log: log, Metrics: m,
	}, session.Options{
		RefreshTTL:            cfg.RefreshTTL,
		SessionLifetime:       cfg.SessionLifetime,
		ReuseGrace:            cfg.ReuseGrace,
		LoginFailureThreshold: cfg.LoginFailureThreshold,
		LoginLockBase:         cfg.LoginLockBase,
		LoginLockMax:          cfg.LoginLockMax,
	})
	a.api = authhttp.NewServer(authhttp.Deps{
		Log:           log,
		Sessions:      a.sessions,
		JWKS:          signer.JWKS(),
		Metrics:       m,
		LoginLimit:    ratelimit.New(cfg.IPLoginPerMinute, cfg.IPLoginBurst, nil),
		RegisterLimit: ratelimit.New(cfg.IPRegisterPerMinute, cfg.IPRegisterBurst, nil),
		RefreshLimit:  ratelimit.New(cfg.IPRefreshPerMinute, cfg.IPRefreshBurst, nil),
		Ready:         readiness(pool, &a.draining),
	}, authhttp.Options{
		AccessMaxAge:      cfg.AccessMaxAge,
		RefreshMaxAge:     cfg.RefreshMaxAge,
		CookieSecure:      cfg.CookieSecure,
		CookieDomain:      cfg.CookieDomain,
		ClientOrigins:     cfg.ClientOrigins,
		TrustedProxies:    cfg.TrustedProxies,
		IPv6Prefix:        cfg.IPv6Prefix,
		RequestTimeout:    cfg.RequestTimeout,
		MetricsOnMainPort: cfg.MetricsAddr == "",
	})
	if cfg.MetricsAddr != "" && cfg.MetricsAddr != "off" {
		a.metrics = metricsMux(m, cfg.Pprof)
	}
	return a, nil
}

func newSigner(cfg config.Config) (*token.Signer, error) {
	access, err := token.ParseKeySet(cfg.AccessPrivateKey, cfg.AccessPublicKey, cfg.AccessVerifyKeys)
	if err != nil {
		return nil, fmt.Errorf("access token keys: %w", err)
	}
	refresh, err := token.ParseKeySet(cfg.RefreshPrivateKey, cfg.RefreshPublicKey, cfg.RefreshVerifyKeys)
	if err != nil {
		return nil, fmt.Errorf("refresh token keys: %w", err)
	}
	s, err := token.New(token.Options{
		Access: access, Refresh: refresh, Issuer: cfg.Issuer, Audience: cfg.Audience,
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Leeway: cfg.Leeway,
	})
	if errors.Is(err, token.ErrSameKeys) {
		return nil, errors.New("invalid configuration:\nREFRESH_TOKEN_PRIVATE_KEY: must be a different key from ACCESS_TOKEN_PRIVATE_KEY")
	}
	return s, err
}

// poolGauges publishes the connection pool's figures at each scrape.
func poolGauges(m *metrics.Metrics, pool *pgxpool.Pool) {
	stat := func(f func(*pgxpool.Stat) float64) func() float64 {
		return func() float64 { return f(pool.Stat()) }
	}
	m.Gauge("authd_db_pool_acquired_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }))
	m.Gauge("authd_db_pool_idle_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }))
	m.Gauge("authd_db_pool_total_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }))
	m.Gauge("authd_db_pool_max_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }))
	m.Gauge("authd_db_pool_acquires", stat(func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }))
	m.Gauge("authd_db_pool_empty_acquires", stat(func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }))
	m.Gauge("authd_db_pool_acquire_wait_seconds", stat(func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }))
}

// readiness: not draining, database answering, schema at least this build's version.
func readiness(pool *pgxpool.Pool, draining *atomic.Bool) func(context.Context) error {
	return func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		v, dirty, err := db.SchemaVersion(ctx, pool)
		if err != nil {
			return err
		}
		// A newer schema is fine: migrations are additive (expand, then
		// contract a release later), so old replicas keep serving during a
		// rolling upgrade.
		if dirty || v < schema.Version {
			return fmt.Errorf("schema version %d (dirty %v), want at least %d", v, dirty, schema.Version)
		}
		return nil
	}
}

// metricsMux is the private listener's handler: /metrics and, with pprof,
// Go's profiles. A CPU profile or trace runs for its ?seconds=, longer
// than the listener's write timeout, so those get up to two minutes.
func metricsMux(m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", authhttp.MetricsHandler(m))
	if withPprof {
		long := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * time.Minute))
				h(w, r)
			}
		}
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", long(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", long(pprof.Trace))
	}
	return mux
}
