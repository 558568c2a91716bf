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
	"sync"
	"time"

	"github.com/authd/authd/internal/config"
)

// serve runs the service until ctx ends: load, listen, reach the database,
// serve. The port opens before the database is reached, so that a process
// waiting for it is live and not ready (see front) rather than gone.
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

	a, err := prepare(cfg)
	if err != nil {
		return err
	}
	servers, err := listen(cfg, log, a)
	if err != nil {
		return err
	}
	log.Info("authd listening", "addr", servers[0].ln.Addr().String(), "version", version, "config", cfg)
	sctx, fail := context.WithCancelCause(ctx) // ends with ctx, or when a listener fails
	defer fail(nil)
	serveAll(servers, fail)

	if err := a.connect(sctx, cfg, log, cfg.MigrateOnStart && !*noMigrate); err != nil {
		if sctx.Err() == nil { // gave up, or cannot work: nothing to drain
			closeAll(servers)
			return err
		}
		return shutdown(cfg, log, a, servers, failure(ctx, sctx))
	}
	defer a.pool.Close()
	log.Info("authd serving", "startup", time.Since(started).Round(time.Millisecond).String())

	// Background work: the purge, the mail sender and the webhook sender.
	// All end before the pool closes.
	bg, stopBG := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() { stopBG(); background.Wait() }()
	background.Go(func() { a.sessions.RunPurge(bg, purgeEvery, a.purgeMail, a.purgeWebhooks) })
	if a.sender != nil && cfg.MailWorker {
		background.Go(func() { a.sender.Run(bg) })
	}
	if a.hooks != nil {
		background.Go(func() { a.hooks.Run(bg) })
	}

	<-sctx.Done()
	return shutdown(cfg, log, a, servers, failure(ctx, sctx))
}

// listener is one server with its socket already open.
type listener struct {
	srv *http.Server
	ln  net.Listener
}

// listen opens the API socket and, with METRICS_ADDR, the metrics socket,
// before anything is served: a busy port fails here, and PORT=0 works.
func listen(cfg config.Config, log *slog.Logger, a *app) ([]listener, error) {
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	out := []listener{{ln: ln, srv: &http.Server{
		Handler:           &a.api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          errLog,
	}}}
	if a.metrics != nil {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics listen: %w", err)
		}
		out = append(out, listener{ln: mln, srv: &http.Server{
			Handler: a.metrics, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second,
			IdleTimeout: 120 * time.Second, MaxHeaderBytes: 32 << 10, ErrorLog: errLog,
		}})
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	return out, nil
}

// serveAll serves every listener from now on; fail gets the error of one
// that stops by itself.
func serveAll(servers []listener, fail context.CancelCauseFunc) {
	for _, s := range servers {
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("serve: %w", err))
			}
		}()
	}
}

// failure is why sctx, derived from ctx, ended if a listener ended it.
func failure(ctx, sctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return context.Cause(sctx)
}

// shutdown stops every listener the same way, once serve's context has
// ended or a listener has failed (err): readiness turns 503 for
// SHUTDOWN_DELAY while requests are still served (so load balancers can
// take us out), then the API closes its listener and in-flight requests get
// SHUTDOWN_TIMEOUT to finish; whatever is left then is cut. The metrics
// listener just closes.
func shutdown(cfg config.Config, log *slog.Logger, a *app, servers []listener, err error) error {
	if err != nil {
		log.Error("a listener failed; shutting down", "error", err)
	}
	a.draining.Store(true)
	log.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "drain", cfg.ShutdownTimeout.String())
	time.Sleep(cfg.ShutdownDelay)
	dctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	drained := servers[0].srv.Shutdown(dctx)
	closeAll(servers)
	switch {
	case err != nil:
		return err
	case drained != nil:
		return fmt.Errorf("shutdown: %w", drained)
	}
	log.Info("stopped")
	return nil
}

func closeAll(servers []listener) {
	for _, s := range servers {
		s.srv.Close()
	}
}
