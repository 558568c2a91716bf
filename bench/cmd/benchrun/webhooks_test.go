package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/webhook"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var hookKey = bytes.Repeat([]byte{7}, 32)

// post sends one delivery to rc as authd would, signed by key at ts.
func post(t *testing.T, rc *receiver, key []byte, id string, ts int64, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rc.URL, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts, 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + stamp + "." + body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", stamp)
	// A second, unknown secret first: the receiver takes any signature of its own.
	req.Header.Set("webhook-signature", "v1,AAAA v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hookJSON(id int, requestID string) string {
	return fmt.Sprintf(`{"type":"session.revoked","timestamp":"2026-11-23T22:07:00Z","data":{"event_id":%d,"request_id":%q,"reason":"logout"}}`, id, requestID)
}

// The receiver accepts only deliveries that check, tells each batch of
// queued events from the others, counts duplicates, and closes a batch when
// every event of it has arrived.
func TestReceiver(t *testing.T) {
	rc, err := startReceiver(hookKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	me, refresh := rc.expect(hookMarker+"me-", 2), rc.expect(hookMarker+"refresh-", 1)
	now := time.Now().Unix()
	for _, c := range []struct {
		name string
		key  []byte
		id   string
		ts   int64
		body string
		want int
	}{
		{"queued", hookKey, "evt_1", now, hookJSON(1, hookMarker+"me-1"), 204},
		{"again (a retry after a lost answer)", hookKey, "evt_1", now, hookJSON(1, hookMarker+"me-1"), 204},
		{"the load's own", hookKey, "evt_3", now, hookJSON(3, "req-abc"), 204},
		{"another batch", hookKey, "evt_4", now, hookJSON(4, hookMarker+"refresh-1"), 204},
		{"another key", bytes.Repeat([]byte{8}, 32), "evt_2", now, hookJSON(2, hookMarker+"me-2"), 400},
		{"stale", hookKey, "evt_2", now - 3600, hookJSON(2, hookMarker+"me-2"), 400},
		{"id not the event's", hookKey, "evt_9", now, hookJSON(2, hookMarker+"me-2"), 400},
		{"no event_id", hookKey, "evt_2", now, `{"type":"session.revoked","timestamp":"x","data":{}}`, 400},
	} {
		if got := post(t, rc, c.key, c.id, c.ts, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if me.complete() || !refresh.complete() {
		t.Errorf("complete: me %v with one of two events, refresh %v with its one", me.complete(), refresh.complete())
	}
	if got := post(t, rc, hookKey, "evt_2", now, hookJSON(2, hookMarker+"me-2")); got != 204 {
		t.Errorf("queued 2: %d", got)
	}
	if !me.complete() {
		t.Error("me not complete with both its events")
	}
	rc.Close()
	if c := rc.counts(me); c.Received != 3 || c.Distinct != 2 || c.last.IsZero() {
		t.Errorf("me: %+v, want 3 received, 2 distinct, a last time", c)
	}
	if c := rc.counts(refresh); c.Received != 1 || c.Distinct != 1 {
		t.Errorf("refresh: %+v, want 1 received and distinct", c)
	}
	if others, dups, rejected := rc.totals(); others != 1 || dups != 1 || rejected != 4 {
		t.Errorf("others %d, duplicates %d, rejected %d; want 1, 1, 4", others, dups, rejected)
	}
}

// The runs' WEBHOOKS_FILE is one authd accepts; the events queueEvents
// writes are delivered by authd's own sender to the receiver, each once
// and signed, and their rows end delivered.
func TestQueuedEventsDelivered(t *testing.T) {
	url := dbtest.URL(t)
	const n = 40
	rc, err := startReceiver(hookKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bt := rc.expect(hookMarker+"me-", n)
	cfg, err := webhook.Parse(webhooksFile(rc.URL, hookKey))
	if err != nil {
		t.Fatalf("the runs' WEBHOOKS_FILE: %v", err)
	}
	ctx := t.Context()
	if err := queueEvents(ctx, url, n, bt.marker); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := webhook.NewSender(pool, cfg, webhook.Options{Timeout: 10 * time.Second, PollInterval: time.Minute, DBTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Once(ctx); err != nil || got != n {
		t.Fatalf("sender claimed %d, %v; want %d", got, err, n)
	}
	if err := waitDelivered(ctx, conn); err != nil {
		t.Fatal(err)
	}
	delivered, failed, err := queuedStatus(ctx, conn, bt.marker)
	if err != nil || delivered != n || failed != 0 {
		t.Errorf("rows: %d delivered, %d failed, %v; want %d, 0", delivered, failed, err, n)
	}
	if !bt.complete() {
		t.Error("the receiver does not have every queued event")
	}
	rc.Close()
	if c := rc.counts(bt); c.Received != n || c.Distinct != n {
		t.Errorf("counts %+v, want %d received and distinct", c, n)
	}
	if others, dups, rejected := rc.totals(); others != 0 || dups != 0 || rejected != 0 {
		t.Errorf("others %d, duplicates %d, rejected %d; want none", others, dups, rejected)
	}
}
