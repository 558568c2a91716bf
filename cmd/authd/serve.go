package main

import (
	"context"
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

// serve runs the service until ctx ends: load, build, listen, serve.
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

	a, err := build(ctx, cfg, log, cfg.MigrateOnStart && !*noMigrate)
	if err != nil {
		return err
	}
	defer a.pool.Close()

	servers, err := listen(cfg, log, a)
	if err != nil {
		return err
	}
	log.Info("authd listening", "addr", servers[0].ln.Addr().String(), "version", version,
		"startup", time.Since(started).Round(time.Millisecond).String(), "config", cfg)

	// Background work: the purge, and the mail sender. Both end before the
	// pool closes.
	bg, stopBG := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() { stopBG(); background.Wait() }()
	background.Go(func() { a.sessions.RunPurge(bg, purgeEvery, a.purgeMail) })
	if a.sender != nil && cfg.MailWorker {
		background.Go(func() { a.sender.Run(bg) })
	}

	return serveAll(ctx, cfg, log, a, servers)
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
		Handler:           a.api,
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

// serveAll serves every listener until ctx ends or one of them fails, then
// stops them all the same way: readiness turns 503 for SHUTDOWN_DELAY while
// requests are still served (so load balancers can take us out), then the
// API closes its listener and in-flight requests get SHUTDOWN_TIMEOUT to
// finish; whatever is left then is cut. The metrics listener just closes.
func serveAll(ctx context.Context, cfg config.Config, log *slog.Logger, a *app, servers []listener) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.srv.Serve(s.ln) }()
	}
	var failed error
	select {
	case err := <-errc:
		failed = fmt.Errorf("serve: %w", err)
		log.Error("a listener failed; shutting down", "error", err)
	case <-ctx.Done():
	}
	a.draining.Store(true)
	log.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "drain", cfg.ShutdownTimeout.String())
	time.Sleep(cfg.ShutdownDelay)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err := servers[0].srv.Shutdown(sctx)
	for _, s := range servers {
		s.srv.Close()
	}
	switch {
	case failed != nil:
		return failed
	case err != nil:
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
