package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// hookEndpoint is the id of the one endpoint of the webhook runs.
	hookEndpoint = "bench"
	// hookMarker starts the request_id of every event the runs queue, so
	// that the receiver tells them from the events the load's own logins
	// record (session.created, delivered to the same endpoint).
	hookMarker = "benchrun-queued-"
	// hookTolerance is how far a delivery's webhook-timestamp may be from
	// the receiver's clock (Standard Webhooks suggests five minutes).
	hookTolerance = 5 * time.Minute
	// hookLimit is the longest the runs wait for the queued events.
	hookLimit = 10 * time.Minute
)

// webhookReport is the Webhooks under load section of the report.
type webhookReport struct {
	Count int // BENCH_WEBHOOK_COUNT: events queued for each batch
	Sets  []hookSet
}

// hookSet is one set of replicas: a batch of Count events delivered while
// me runs, another while refresh runs, and what the receiver and the
// replicas counted over the set.
type hookSet struct {
	Replicas   int
	Batches    []hookBatch
	Others     int     // accepted deliveries of events the load recorded (its logins)
	Duplicates int     // over every accepted delivery of the set: deliveries less distinct webhook-ids
	Rejected   int     // deliveries whose signature, timestamp or body did not check
	Retries    int64   // authd_webhook_deliveries_total{outcome="retry"}, summed over the replicas
	PerReplica []int64 // authd_webhook_deliveries_total{outcome="delivered"} of each replica
	Loads      []loadFigure
}

// hookBatch is the delivery of Count queued events during one load run.
type hookBatch struct {
	While     string  // the load run meanwhile: me or refresh
	Seconds   float64 // from the queueing commit until the receiver had every event of the batch
	PerSecond float64 // Count / Seconds

	Delivered, Failed int64 // the batch's webhook_deliveries rows, by status, once none was pending or sending
	Received          int   // the batch's deliveries the receiver accepted, counted after the replicas stopped
	Distinct          int   // distinct webhook-ids among them
}

// Duplicates is the batch's deliveries less its distinct webhook-ids.
func (b hookBatch) Duplicates() int { return b.Received - b.Distinct }

// Shares is each replica's delivered count, "1200 / 1100 / 1300".
func (s hookSet) Shares() string {
	parts := make([]string, len(s.PerReplica))
	for i, n := range s.PerReplica {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, " / ")
}

// runWebhooksOnly is benchrun -only webhooks: its runs alone, their section on stdout.
func runWebhooksOnly(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) error {
	return runSection(ctx, cfg, root, "webhooks", stdout, stderr, (*bench).webhookRuns, func(r *report) any { return r.Webhooks })
}

// webhookRuns are the webhook scenarios: BENCH_WEBHOOK_COUNT events
// delivered by one and then by three replicas to a local receiver, with me
// and refresh idle and meanwhile. The seeded users must exist; no authd may
// be running.
func (b *bench) webhookRuns(ctx context.Context, rep *report) error {
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return fmt.Errorf("webhook runs: %w", err)
	}
	defer conn.Close(context.Background())
	wr := &webhookReport{Count: b.cfg.HookCount}
	rep.Webhooks = wr
	for _, replicas := range []int{1, 3} {
		set, err := b.deliverUnderLoad(ctx, conn, replicas)
		if err != nil {
			return err
		}
		wr.Sets = append(wr.Sets, set)
	}
	return nil
}

// deliverUnderLoad starts replicas authd processes with WEBHOOKS_FILE
// naming a fresh receiver and loads me and refresh idle; then, for me and
// for refresh, queues BENCH_WEBHOOK_COUNT events with their deliveries by
// SQL when the load run starts sending, runs it (against the first
// replica), and times the deliveries until the receiver has every event of
// the batch.
func (b *bench) deliverUnderLoad(ctx context.Context, conn *pgx.Conn, replicas int) (hookSet, error) {
	set := hookSet{Replicas: replicas}
	n := b.cfg.HookCount
	key := make([]byte, 32)
	rand.Read(key)
	rc, err := startReceiver(key)
	if err != nil {
		return set, err
	}
	defer rc.Close()
	file := filepath.Join(b.work, "webhooks.json")
	if err := os.WriteFile(file, webhooksFile(rc.URL, key), 0o600); err != nil {
		return set, err
	}
	if _, err := conn.Exec(ctx, "TRUNCATE security_events, webhook_deliveries, webhook_endpoints"); err != nil {
		return set, err
	}

	b.step(fmt.Sprintf("webhooks: %d replica(s) of authd delivering %d events to a local receiver during me, then during refresh", replicas, n))
	var started []*authd
	stopAll := func() error {
		var errs []error
		for _, a := range started {
			b.authd = a
			errs = append(errs, b.stopAuthd())
		}
		started = nil
		return errors.Join(errs...)
	}
	defer stopAll()
	env := hookEnv(file)
	for range replicas {
		a, err := b.startHookAuthd(ctx, env)
		if err != nil {
			return set, err
		}
		started = append(started, a)
		b.authd = nil // runAuthd runs one at a time; the first one takes the load
	}
	b.authd = started[0]
	shown := strings.Join(hookEnv("$WORK/webhooks.json"), " ")
	b.commands = append(b.commands, fmt.Sprintf("# webhooks: %d authd replica(s), RS256 keys, %s METRICS_ADDR=127.0.0.1:$MPORT", replicas, shown),
		fmt.Sprintf("#   %s: {\"endpoints\": [{\"id\": %q, \"url\": \"http://127.0.0.1:$RPORT/\", \"events\": [\"*\"], \"secrets\": [\"whsec_...\"], \"allow_private\": true}]}", filepath.Base(file), hookEndpoint))

	users := strconv.Itoa(b.cfg.C) // the fewest refresh takes: logging them in (bcrypt) takes little of the delivery
	for _, s := range []string{"me", "refresh"} {
		res, err := b.loadResult(ctx, fmt.Sprintf("%s, idle (%d replica(s), webhooks on)", s, replicas), "-scenario", s, "-users", users)
		if err != nil {
			return set, err
		}
		set.Loads = append(set.Loads, figure(s+", idle", res, false))
	}

	var batches []*batch
	for _, s := range []string{"me", "refresh"} {
		// The batch is queued when the run has logged in its users and
		// starts sending (authload's "load:" line), so that its window
		// falls in the delivery.
		bt := rc.expect(hookMarker+s+"-", n)
		batches = append(batches, bt)
		var (
			t0       time.Time
			queueErr error
			queued   bool
		)
		queue := func() {
			if !queued {
				queued = true
				queueErr = queueEvents(ctx, b.dbURL, n, bt.marker)
				t0 = time.Now()
			}
		}
		b.commands = append(b.commands, fmt.Sprintf("#   %d session.revoked events, each with its delivery to %q, queued by SQL in one statement with pg_notify('authd_webhook', '') as the next run starts sending", n, hookEndpoint))
		b.loadStarted = queue
		res, err := b.loadResult(ctx, fmt.Sprintf("%s, while %d replica(s) deliver webhooks", s, replicas), "-scenario", s, "-users", users)
		b.loadStarted = nil
		if err != nil {
			return set, err
		}
		queue() // if the run never got as far as sending
		if queueErr != nil {
			return set, queueErr
		}
		set.Loads = append(set.Loads, figure(s+", delivering", res, !bt.complete()))
		select {
		case <-bt.done:
		case <-ctx.Done():
			return set, ctx.Err()
		case <-time.After(max(0, hookLimit-time.Since(t0))):
			return set, fmt.Errorf("webhooks: the receiver got %d of %d queued events in %s", rc.counts(bt).Distinct, n, hookLimit)
		}
		bs := hookBatch{While: s, Seconds: rc.counts(bt).last.Sub(t0).Seconds()}
		bs.PerSecond = float64(n) / bs.Seconds
		// Every row settled before the next batch.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = waitDelivered(wctx, conn)
		cancel()
		if err != nil {
			return set, fmt.Errorf("webhooks: waiting for no delivery to be pending or sending: %w", err)
		}
		if bs.Delivered, bs.Failed, err = queuedStatus(ctx, conn, bt.marker); err != nil {
			return set, err
		}
		set.Batches = append(set.Batches, bs)
	}

	// Each replica's own counts, then the replicas stopped: a late
	// duplicate (a lease lost mid-POST) has arrived by the time the
	// receiver's counts are read.
	for _, a := range started {
		m, err := scrapeMetrics(ctx, a.mport)
		if err != nil {
			return set, fmt.Errorf("webhooks: authd's metrics: %w", err)
		}
		set.PerReplica = append(set.PerReplica, int64(m[hookMetric("delivered")]))
		set.Retries += int64(m[hookMetric("retry")])
	}
	if err := stopAll(); err != nil {
		return set, err
	}
	rc.Close()
	set.Others, set.Duplicates, set.Rejected = rc.totals()
	for i, bt := range batches {
		c := rc.counts(bt)
		set.Batches[i].Received, set.Batches[i].Distinct = c.Received, c.Distinct
		bs := set.Batches[i]
		fmt.Fprintf(b.stderr, "webhooks with %d replica(s) during %s: %d events in %.2fs (%.0f/s); delivered %d, failed %d; the receiver accepted %d (%d distinct)\n",
			replicas, bs.While, n, bs.Seconds, bs.PerSecond, bs.Delivered, bs.Failed, bs.Received, bs.Distinct)
	}
	fmt.Fprintf(b.stderr, "webhooks with %d replica(s): %d deliveries of the load's own events, %d duplicates, %d rejected, %d retries; delivered per replica %s\n",
		replicas, set.Others, set.Duplicates, set.Rejected, set.Retries, set.Shares())
	return set, nil
}

// hookEnv is authd's settings for the webhook runs: per-client limits off,
// the webhook settings at their defaults.
func hookEnv(file string) []string {
	return []string{"COOKIE_SECURE=false", "IP_LOGIN_PER_MINUTE=0", "IP_REGISTER_PER_MINUTE=0", "IP_REFRESH_PER_MINUTE=0",
		"WEBHOOKS_FILE=" + file}
}

// startHookAuthd starts one authd (RS256) with env and its own metrics
// listener, waits for it and returns it.
func (b *bench) startHookAuthd(ctx context.Context, env []string) (*authd, error) {
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	a, err := b.runAuthd(ctx, "RS256", append(env, fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", mport)), 100*time.Millisecond)
	if err != nil {
		return nil, b.authdFailed(err)
	}
	a.mport = mport
	fmt.Fprintf(b.stderr, "authd (webhooks to %s) pid %d on %s\n", hookEndpoint, a.proc.Cmd.Process.Pid, a.url)
	return a, nil
}

// webhooksFile is the WEBHOOKS_FILE of the runs: one endpoint that wants
// every event, at url, signing with key.
func webhooksFile(url string, key []byte) []byte {
	type endpoint struct {
		ID           string   `json:"id"`
		URL          string   `json:"url"`
		Events       []string `json:"events"`
		Secrets      []string `json:"secrets"`
		AllowPrivate bool     `json:"allow_private"`
	}
	b, _ := json.Marshal(map[string][]endpoint{"endpoints": {{ID: hookEndpoint, URL: url, Events: []string{"*"},
		Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(key)}, AllowPrivate: true}}})
	return b
}

// queueEvents writes n session.revoked events, as a logout records them,
// each with a pending delivery to hookEndpoint, in one statement that also
// wakes the senders, as internal/session's record does in a change's
// transaction. Each event's request_id starts with marker.
func queueEvents(ctx context.Context, dbURL string, n int, marker string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `WITH e AS (
  INSERT INTO security_events (created_at, name, user_id, session_id, actor, request_id, client_addr, user_agent, data)
  SELECT now(), 'session.revoked', gen_random_uuid(), gen_random_uuid(), 'client', $2 || g, '127.0.0.1',
         'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
         jsonb_build_object('reason', 'logout',
           'access_expires_by', to_char((now() + interval '15 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  FROM generate_series(1, $1::int) g
  RETURNING id),
d AS (
  INSERT INTO webhook_deliveries (event_id, endpoint, next_attempt_at, created_at)
  SELECT id, $3, now(), now() FROM e)
SELECT pg_notify('authd_webhook', '')`, n, marker, hookEndpoint); err != nil {
		return fmt.Errorf("queueing %d webhook events: %w", n, err)
	}
	return nil
}

// waitDelivered polls every 50 ms until no delivery is pending or sending.
func waitDelivered(ctx context.Context, conn *pgx.Conn) error {
	for {
		var left int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'sending')").Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d left: %w", left, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// queuedStatus counts the delivered and failed deliveries of the events
// queued with marker.
func queuedStatus(ctx context.Context, conn *pgx.Conn, marker string) (delivered, failed int64, err error) {
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE d.status = 'delivered'), count(*) FILTER (WHERE d.status = 'failed')
FROM webhook_deliveries d JOIN security_events e ON e.id = d.event_id
WHERE starts_with(e.request_id, $1)`, marker).Scan(&delivered, &failed)
	return delivered, failed, err
}

// hookMetric is the series of authd_webhook_deliveries_total of the
// runs' endpoint and outcome.
func hookMetric(outcome string) string {
	return fmt.Sprintf("authd_webhook_deliveries_total{endpoint=%q,outcome=%q}", hookEndpoint, outcome)
}

// scrapeMetrics reads every series of authd's /metrics on mport.
func scrapeMetrics(ctx context.Context, mport int) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// receiver is an in-process webhook receiver on loopback: it checks each
// delivery's Standard Webhooks signature with its own HMAC, answers 204
// (400 to one that does not check) and counts deliveries by webhook-id, and
// those of each batch of queued events (expect).
type receiver struct {
	URL    string
	key    []byte
	srv    *http.Server
	served chan struct{}

	mu       sync.Mutex
	byID     map[string]int // deliveries by webhook-id; one entry per event queued or recorded
	batches  []*batch
	others   int // accepted deliveries of events of no batch
	rejected int // answered 400
	closed   bool
}

// batch is a set of queued events whose request_id starts with marker.
type batch struct {
	marker string
	want   int           // events in it
	done   chan struct{} // closed when each has arrived
	batchCounts
}

// batchCounts is what the receiver has seen of a batch.
type batchCounts struct {
	Received int       // accepted deliveries
	Distinct int       // distinct webhook-ids among them
	last     time.Time // when the last event first arrived
}

func (b *batch) complete() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// startReceiver listens on 127.0.0.1 at a port the kernel picks.
func startReceiver(key []byte) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &receiver{URL: "http://" + ln.Addr().String() + "/", key: key, served: make(chan struct{}), byID: map[string]int{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(r.served); r.srv.Serve(ln) }()
	return r, nil
}

// expect starts counting a batch of want events whose request_id starts
// with marker (no marker may be a prefix of another).
func (r *receiver) expect(marker string, want int) *batch {
	b := &batch{marker: marker, want: want, done: make(chan struct{})}
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	return b
}

// Close stops the receiver, waiting for the requests in flight.
func (r *receiver) Close() {
	r.mu.Lock()
	closed := r.closed
	r.closed = true
	r.mu.Unlock()
	if !closed {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.srv.Shutdown(ctx)
		cancel()
		<-r.served
	}
}

// counts is what the receiver has seen of b so far.
func (r *receiver) counts(b *batch) batchCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return b.batchCounts
}

// totals is the deliveries of events of no batch, every accepted delivery
// less the distinct webhook-ids, and the rejected deliveries.
func (r *receiver) totals() (others, duplicates, rejected int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	accepted := r.others
	for _, b := range r.batches {
		accepted += b.Received
	}
	return r.others, accepted - len(r.byID), r.rejected
}

// hookBody is what the receiver reads of a delivery's body.
type hookBody struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		EventID   json.Number `json:"event_id"`
		RequestID string      `json:"request_id"`
	} `json:"data"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err == nil {
		err = r.check(req, body)
	}
	if err != nil {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var b hookBody
	json.Unmarshal(body, &b) // checked
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.byID[id]++
	var bt *batch
	for _, c := range r.batches {
		if strings.HasPrefix(b.Data.RequestID, c.marker) {
			bt = c
		}
	}
	if bt == nil {
		r.others++
	} else {
		bt.Received++
		if r.byID[id] == 1 {
			bt.Distinct++
			if bt.Distinct == bt.want {
				bt.last = time.Now()
				close(bt.done)
			}
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// check verifies a delivery as a receiver should: a POST of JSON, a
// timestamp within hookTolerance, a v1 signature by the key over
// "id.timestamp.body", and a body whose type, timestamp and event_id are
// there and whose event_id is the webhook-id's.
func (r *receiver) check(req *http.Request, body []byte) error {
	if req.Method != http.MethodPost {
		return fmt.Errorf("method %s, want POST", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: not Unix seconds", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > hookTolerance || d < -hookTolerance {
		return fmt.Errorf("webhook-timestamp %s off", d)
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	signed := false
	for _, s := range strings.Fields(req.Header.Get("webhook-signature")) {
		v, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(v); err == nil && hmac.Equal(got, want) {
			signed = true
		}
	}
	if !signed {
		return errors.New("no webhook-signature by the endpoint's secret")
	}
	var b hookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if b.Type == "" || b.Timestamp == "" || b.Data.EventID == "" {
		return errors.New("body: type, timestamp or data.event_id missing")
	}
	if id != "evt_"+b.Data.EventID.String() {
		return fmt.Errorf("webhook-id %q for data.event_id %s", id, b.Data.EventID)
	}
	return nil
}
