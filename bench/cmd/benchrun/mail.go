package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/bench/internal/result"
	"github.com/authd/authd/internal/mail/smtptest"
)

// Mail limits of the mail runs: authd's production defaults, written out so
// that the report can state the bound they give.
const (
	mailCooldown    = 60 * time.Second // MAIL_COOLDOWN
	mailMaxPerHour  = 5                // MAIL_MAX_PER_HOUR
	ipMailPerMinute = 5                // IP_MAIL_PER_MINUTE
	ipMailBurst     = 5                // IP_MAIL_BURST
)

// mailReport is the Mail section of the report.
type mailReport struct {
	Users    int // seeded accounts the forgot runs ask for (as many unknown addresses too)
	Cooldown string
	MaxHour  int
	IPMinute int
	IPBurst  int
	Forgot   []forgotRun
	Count    int // BENCH_MAIL_COUNT
	Drains   []drainRun
}

// forgotRun is one authload -scenario forgot run and what it queued.
type forgotRun struct {
	Label     string
	RPS       float64
	Status    string  // e.g. "200: 1234, 429: 56"
	CPU       float64 // authd's cores over the measured window
	Queued    int64   // reset_password rows queued in the run
	Addresses int64   // distinct addresses among them
	Bound     int64   // what the limits allow at most
	Held      bool    // Queued <= Bound
}

// drainRun is one drain of Count mails by Replicas senders.
type drainRun struct {
	Replicas   int
	Seconds    float64
	PerSecond  float64
	Sent       int64 // rows the database says are sent
	Failed     int64
	Received   int // messages the SMTP server accepted
	Distinct   int // distinct Message-IDs among them
	Duplicates int // Received - Distinct
	Loads      []loadFigure
}

// loadFigure is one me or refresh run, idle or while the outbox drained.
type loadFigure struct {
	Label    string
	RPS      float64
	P50, P99 float64
	During   bool // the outbox was still draining when the run ended
}

// runMailOnly is benchrun -only mail: its runs alone, their section on stdout.
func runMailOnly(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) error {
	return runSection(ctx, cfg, root, "mail", stdout, stderr, (*bench).mailRuns, func(r *report) any { return r.Mail })
}

// mailEnv is authd's mail settings pointed at the local SMTP server.
func mailEnv(smtpPort int, extra ...string) []string {
	return append([]string{"COOKIE_SECURE=false", "MAIL_TRANSPORT=smtp", "SMTP_HOST=127.0.0.1", "SMTP_PORT=" + strconv.Itoa(smtpPort),
		"SMTP_TLS=none", "EMAIL_FROM=no-reply@bench.example.com", "EMAIL_LINK_BASE=http://127.0.0.1:3000",
		"MAIL_WORKER=true", "MAIL_COOLDOWN=" + mailCooldown.String(), "MAIL_MAX_PER_HOUR=" + strconv.Itoa(mailMaxPerHour),
		"IP_LOGIN_PER_MINUTE=0", "IP_REGISTER_PER_MINUTE=0", "IP_REFRESH_PER_MINUTE=0"}, extra...)
}

// mailRuns are the mail scenarios: forgot-password load against the limits,
// and the drain of BENCH_MAIL_COUNT queued mails by one and by three replicas.
// The seeded users must exist; no authd may be running.
func (b *bench) mailRuns(ctx context.Context, rep *report) error {
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return fmt.Errorf("mail runs: %w", err)
	}
	defer conn.Close(context.Background())
	mr := &mailReport{Users: b.cfg.Users, Cooldown: mailCooldown.String(), MaxHour: mailMaxPerHour,
		IPMinute: ipMailPerMinute, IPBurst: ipMailBurst, Count: b.cfg.MailCount}
	rep.Mail = mr

	srv, err := smtptest.Start(smtptest.Options{})
	if err != nil {
		return fmt.Errorf("SMTP server: %w", err)
	}
	defer srv.Close()

	measured, _ := time.ParseDuration(b.cfg.Duration)
	warm, _ := time.ParseDuration(b.cfg.Warmup)
	window := measured + warm // the cool-down counts the warm-up's mails too
	for _, run := range []struct {
		label string
		env   []string
		args  []string
		bound func() int64
	}{
		{"forgot, one address, limits on", []string{"IP_MAIL_PER_MINUTE=" + strconv.Itoa(ipMailPerMinute), "IP_MAIL_BURST=" + strconv.Itoa(ipMailBurst)}, nil,
			func() int64 { return int64(ipMailBurst) + int64(float64(ipMailPerMinute)*window.Minutes()+1) }},
		{"forgot, per-client limit off (cool-down only)", []string{"IP_MAIL_PER_MINUTE=0", "IP_MAIL_BURST=0"}, nil,
			func() int64 {
				per := min(int64(mailMaxPerHour), 1+int64(window/mailCooldown))
				return int64(b.cfg.Users) * per
			}},
	} {
		if _, err := conn.Exec(ctx, "TRUNCATE mail_outbox, mail_throttle"); err != nil {
			return err
		}
		b.step("authd with mail to a local SMTP server: " + run.label)
		if err := b.startMailAuthd(ctx, mailEnv(srv.Port(), run.env...)); err != nil {
			return err
		}
		res, err := b.loadResult(ctx, run.label, append([]string{"-scenario", "forgot"}, run.args...)...)
		if err != nil {
			return err
		}
		if err := b.stopAuthd(); err != nil {
			return err
		}
		f := forgotRun{Label: run.label, RPS: res.RPS, Status: statusLine(res.Status), Bound: run.bound()}
		if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT to_addr) FROM mail_outbox WHERE kind = 'reset_password'").
			Scan(&f.Queued, &f.Addresses); err != nil {
			return err
		}
		if res.Server != nil {
			f.CPU = res.Server.CPUCores
		}
		f.Held = f.Queued <= f.Bound
		fmt.Fprintf(b.stderr, "%s: %.0f req/s (%s), %d mails queued to %d addresses, bound %d\n", run.label, f.RPS, f.Status, f.Queued, f.Addresses, f.Bound)
		mr.Forgot = append(mr.Forgot, f)
	}
	srv.Close()

	for _, replicas := range []int{1, 3} {
		d, err := b.drain(ctx, conn, replicas)
		if err != nil {
			return err
		}
		mr.Drains = append(mr.Drains, d)
	}
	return nil
}

// drain starts replicas authd processes with the sender on, loads me and
// refresh idle, queues BENCH_MAIL_COUNT account_deleted notices in one transaction and
// times the senders until none is pending or sending, loading me and refresh
// again meanwhile (against the first replica).
func (b *bench) drain(ctx context.Context, conn *pgx.Conn, replicas int) (drainRun, error) {
	d := drainRun{Replicas: replicas}
	srv, err := smtptest.Start(smtptest.Options{})
	if err != nil {
		return d, fmt.Errorf("SMTP server: %w", err)
	}
	defer srv.Close()
	if _, err := conn.Exec(ctx, "TRUNCATE mail_outbox, mail_throttle"); err != nil {
		return d, err
	}
	b.step(fmt.Sprintf("drain: %d replica(s) of authd sending %d mails to a local SMTP server", replicas, b.cfg.MailCount))
	var started []*authd
	defer func() {
		for _, a := range started {
			b.authd = a
			b.stopAuthd()
		}
	}()
	for i := range replicas {
		if err := b.startMailAuthd(ctx, mailEnv(srv.Port())); err != nil {
			return d, err
		}
		started = append(started, b.authd)
		if i < replicas-1 {
			b.authd = nil // runAuthd runs one at a time; the first one takes the load
		}
	}
	b.authd = started[0]
	for _, s := range []string{"me", "refresh"} {
		// -users BENCH_C: the fewest refresh takes, so that logging them in
		// (bcrypt) takes little of the drain.
		res, err := b.loadResult(ctx, fmt.Sprintf("%s, idle (%d replica(s))", s, replicas), "-scenario", s, "-users", strconv.Itoa(b.cfg.C))
		if err != nil {
			return d, err
		}
		d.Loads = append(d.Loads, figure(s+", idle", res, false))
	}

	// The mails are queued when the first load run under drain has logged
	// in its users and starts sending (authload's "load:" line), so that its
	// window falls in the drain.
	var (
		mu      sync.Mutex
		t0      time.Time
		drained time.Duration
	)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan error, 1)
	var once sync.Once
	queue := func() {
		once.Do(func() {
			queued := make(chan struct{})
			go func() {
				err := b.queueAndWait(pollCtx, func() { mu.Lock(); t0 = time.Now(); mu.Unlock(); close(queued) },
					func() { mu.Lock(); drained = time.Since(t0); mu.Unlock() })
				select {
				case <-queued:
				default:
					close(queued)
				}
				pollDone <- err
			}()
			<-queued
		})
	}
	isDraining := func() bool { mu.Lock(); defer mu.Unlock(); return drained == 0 }
	for i, s := range []string{"me", "refresh"} {
		if i > 0 && !isDraining() {
			break
		}
		b.loadStarted = queue
		res, err := b.loadResult(ctx, fmt.Sprintf("%s, while %d replica(s) drain the outbox", s, replicas), "-scenario", s, "-users", strconv.Itoa(b.cfg.C))
		if err != nil {
			stopPoll()
			return d, err
		}
		d.Loads = append(d.Loads, figure(s+", draining", res, isDraining()))
	}
	b.loadStarted = nil
	queue() // if no run got as far as sending
	limit := time.AfterFunc(10*time.Minute, stopPoll)
	err = <-pollDone
	limit.Stop()
	stopPoll()
	if err != nil {
		return d, fmt.Errorf("waiting for the outbox to drain: %w", err)
	}
	d.Seconds = drained.Seconds()
	d.PerSecond = float64(b.cfg.MailCount) / d.Seconds
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed') FROM mail_outbox").
		Scan(&d.Sent, &d.Failed); err != nil {
		return d, err
	}
	msgs := srv.Messages()
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Header.Get("Message-Id")] = true
	}
	d.Received, d.Distinct = len(msgs), len(ids)
	d.Duplicates = d.Received - d.Distinct
	fmt.Fprintf(b.stderr, "drain with %d replica(s): %d mails in %.2fs (%.0f/s); sent %d, failed %d; the server got %d, %d distinct Message-IDs\n",
		replicas, b.cfg.MailCount, d.Seconds, d.PerSecond, d.Sent, d.Failed, d.Received, d.Distinct)
	b.commands = append(b.commands, fmt.Sprintf("# drain: %d authd replica(s), MAIL_TRANSPORT=smtp to a local smtptest server, %d account_deleted notices queued in one INSERT", replicas, b.cfg.MailCount))
	return d, nil
}

// queueAndWait queues BENCH_MAIL_COUNT account_deleted notices in one transaction, calls
// queued after its commit, then polls every 50 ms until no mail is pending or
// sending and calls drained.
func (b *bench) queueAndWait(ctx context.Context, queued, drained func()) error {
	pc, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return err
	}
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, `WITH q AS (
  INSERT INTO mail_outbox (kind, to_addr, data, next_attempt_at, created_at)
  SELECT 'account_deleted', 'drain' || g || '@example.com', '{}', now(), now() FROM generate_series(1, $1) g)
SELECT pg_notify('authd_mail', '')`, b.cfg.MailCount); err != nil {
		return fmt.Errorf("queueing %d mails: %w", b.cfg.MailCount, err)
	}
	queued()
	for {
		var left int64
		if err := pc.QueryRow(ctx, "SELECT count(*) FROM mail_outbox WHERE status IN ('pending', 'sending')").Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			drained()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startMailAuthd starts authd (RS256) with the mail settings env and waits for it.
func (b *bench) startMailAuthd(ctx context.Context, env []string) error {
	mport, err := freePort() // each replica its own metrics listener
	if err != nil {
		return err
	}
	if _, err := b.runAuthd(ctx, "RS256", append(env, fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", mport)), 100*time.Millisecond); err != nil {
		return b.authdFailed(err)
	}
	b.commands = append(b.commands, "# authd: RS256 keys, "+strings.Join(env, " ")+"   (SMTP_PORT: the local SMTP server)")
	return nil
}

// loadResult is load that also returns the run's result.
func (b *bench) loadResult(ctx context.Context, label string, args ...string) (result.Result, error) {
	n := b.results.Len()
	if err := b.load(ctx, label, false, args...); err != nil {
		return result.Result{}, err
	}
	var r result.Result
	line, _, _ := strings.Cut(b.results.String()[n:], "\n")
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, fmt.Errorf("authload %s: its -json line: %w", label, err)
	}
	return r, nil
}

func figure(label string, r result.Result, during bool) loadFigure {
	return loadFigure{Label: label, RPS: r.RPS, P50: r.Latency.P50, P99: r.Latency.P99, During: during}
}

// statusLine is "200: 12, 429: 3", by code.
func statusLine(m map[string]int64) string {
	var codes []string
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s: %d", c, m[c]))
	}
	return strings.Join(parts, ", ")
}

// startWatch calls f once, the first time marker appears in what is written
// through it, before passing that write on.
type startWatch struct {
	w      io.Writer
	marker []byte
	f      func()
}

func (s *startWatch) Write(p []byte) (int, error) {
	if s.f != nil && bytes.Contains(p, s.marker) {
		f := s.f
		s.f = nil
		f()
	}
	return s.w.Write(p)
}
