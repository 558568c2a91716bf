package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	authhttp "github.com/authd/authd/internal/http"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/sql/schema"
)

// loadConfig reads the optional env file (the tutorial's app.env format) and
// the environment, which wins.
func loadConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (config.Config, error) {
	envFile := fs.String("env-file", "", "read settings from this file (default: ./app.env if it exists)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	path, explicit := *envFile, *envFile != ""
	if !explicit {
		path = "app.env"
	}
	values := map[string]string{}
	f, err := os.Open(path)
	switch {
	case err == nil:
		values, err = config.ParseEnvFile(f)
		f.Close()
		if err != nil {
			return config.Config{}, fmt.Errorf("%s: %w", path, err)
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return config.Config{}, fmt.Errorf("env file: %w", err)
	}
	cfg, err := config.Load(config.Lookup(lookupEnv, values))
	if err != nil {
		return config.Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	started := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noMigrate := fs.Bool("no-migrate", false, "do not apply migrations at start (overrides MIGRATE_ON_START)")
	cfg, err := loadConfig(fs, args, lookupEnv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)

	signer, err := newSigner(cfg)
	if err != nil {
		return err
	}
	m := metrics.New()
	hashOpts := password.Options{
		Cost: cfg.BcryptCost, Concurrency: cfg.HashConcurrency, Queue: cfg.HashQueue, Wait: cfg.HashWait,
		Nice: cfg.HashNice, OnWait: m.HashWait,
	}
	hasher, err := password.New(hashOpts)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + password.ExtraProcs(hashOpts))
	if cfg.MigrateOnStart && !*noMigrate {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := db.MigrateUp(mctx, cfg.DatabaseURL)
		cancel()
		if err != nil {
			return err
		}
	}
	pool, err := db.Connect(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: cfg.DBMaxConns, Timeout: cfg.DBTimeout})
	if err != nil {
		return err
	}
	defer pool.Close()
	poolGauges(m, pool)

	var draining atomic.Bool
	handler := authhttp.NewServer(authhttp.Deps{
		Log:     log,
		Queries: db.New(pool),
		Tokens:  signer,
		Hasher:  hasher,
		Metrics: m,
		Ready:   readiness(pool, &draining),

		LoginLimit:    ratelimit.New(cfg.IPLoginPerMinute, cfg.IPLoginBurst, nil),
		RegisterLimit: ratelimit.New(cfg.IPRegisterPerMinute, cfg.IPRegisterBurst, nil),
		RefreshLimit:  ratelimit.New(cfg.IPRefreshPerMinute, cfg.IPRefreshBurst, nil),
		Options: authhttp.Options{
			AccessMaxAge:    cfg.AccessMaxAge,
			RefreshMaxAge:   cfg.RefreshMaxAge,
			RefreshTTL:      cfg.RefreshTTL,
			SessionLifetime: cfg.SessionLifetime,
			ReuseGrace:      cfg.ReuseGrace,
			CookieSecure:    cfg.CookieSecure,
			CookieDomain:    cfg.CookieDomain,
			ClientOrigins:   cfg.ClientOrigins,
			TrustedProxies:  cfg.TrustedProxies,
			DBTimeout:       cfg.DBTimeout,
			RequestTimeout:  cfg.RequestTimeout,

			MetricsOnMainPort: cfg.MetricsAddr == "",

			LoginFailureThreshold: cfg.LoginFailureThreshold,
			LoginLockBase:         cfg.LoginLockBase,
			LoginLockMax:          cfg.LoginLockMax,
		},
	})

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go purgeSessions(bg, db.New(pool), log)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" && cfg.MetricsAddr != "off" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		msrv := &http.Server{Handler: metricsMux(m, cfg.Pprof), ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout: 10 * time.Second, ErrorLog: srv.ErrorLog}
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	log.Info("authd listening", "addr", ln.Addr().String(), "version", version,
		"startup", time.Since(started).Round(time.Millisecond).String(), "config", cfg)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Readiness turns 503 (for SHUTDOWN_DELAY requests are still served, so
	// load balancers can take us out), then the listener closes and
	// in-flight requests finish.
	draining.Store(true)
	log.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "drain", cfg.ShutdownTimeout.String())
	time.Sleep(cfg.ShutdownDelay)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
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
	if token.SameKeys(access, refresh) {
		return nil, errors.New("access and refresh tokens must use different keys")
	}
	return token.New(token.Options{
		Access: access, Refresh: refresh, Issuer: cfg.Issuer, Audience: cfg.Audience,
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Leeway: cfg.Leeway,
	})
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

// purgeSessions deletes long-dead sessions every few minutes, in small
// batches, so it never holds locks that requests wait on, and login failure
// counts untouched for a day. Safe with several replicas (SKIP LOCKED).
func purgeSessions(ctx context.Context, q *db.Queries, log *slog.Logger) {
	const (
		every     = 10 * time.Minute
		retention = 24 * time.Hour
		batch     = 1000
	)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Expired sessions (idled-out ones included, at the end of their
		// lifetime), then revoked ones, in batches.
		total := int64(0)
		for _, del := range []func(context.Context, time.Time) (int64, error){
			func(ctx context.Context, cutoff time.Time) (int64, error) {
				return q.DeleteExpiredSessions(ctx, db.DeleteExpiredSessionsParams{Cutoff: cutoff, BatchSize: batch})
			},
			func(ctx context.Context, cutoff time.Time) (int64, error) {
				return q.DeleteRevokedSessions(ctx, db.DeleteRevokedSessionsParams{Cutoff: cutoff, BatchSize: batch})
			},
		} {
			for {
				qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				n, err := del(qctx, time.Now().Add(-retention))
				cancel()
				if err != nil {
					log.Warn("session purge failed", "error", err)
					break
				}
				total += n
				if n < batch {
					break
				}
			}
		}
		if total > 0 {
			log.Info("purged dead sessions", "count", total)
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := q.DeleteStaleLoginThrottles(qctx, time.Now().Add(-retention))
		cancel()
		if err != nil {
			log.Warn("login throttle purge failed", "error", err)
		} else if n > 0 {
			log.Info("purged stale login throttles", "count", n)
		}
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
