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

// The receiver accepts only deliveries that check, tells queued events
// from others, counts duplicates, and is complete when every queued event
// has arrived once.
func TestReceiver(t *testing.T) {
	rc, err := startReceiver(hookKey, hookMarker, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	now := time.Now().Unix()
	for _, c := range []struct {
		name string
		key  []byte
		id   string
		ts   int64
		body string
		want int
	}{
		{"queued", hookKey, "evt_1", now, hookJSON(1, hookMarker+"1"), 204},
		{"again (a retry after a lost answer)", hookKey, "evt_1", now, hookJSON(1, hookMarker+"1"), 204},
		{"the load's own", hookKey, "evt_3", now, hookJSON(3, "req-abc"), 204},
		{"another key", bytes.Repeat([]byte{8}, 32), "evt_2", now, hookJSON(2, hookMarker+"2"), 400},
		{"stale", hookKey, "evt_2", now - 3600, hookJSON(2, hookMarker+"2"), 400},
		{"id not the event's", hookKey, "evt_9", now, hookJSON(2, hookMarker+"2"), 400},
		{"no event_id", hookKey, "evt_2", now, `{"type":"session.revoked","timestamp":"x","data":{}}`, 400},
	} {
		if got := post(t, rc, c.key, c.id, c.ts, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if rc.Complete() {
		t.Error("complete with one of two queued events")
	}
	if got := post(t, rc, hookKey, "evt_2", now, hookJSON(2, hookMarker+"2")); got != 204 {
		t.Errorf("queued 2: %d", got)
	}
	if !rc.Complete() {
		t.Error("not complete with both queued events")
	}
	rc.Close()
	c := rc.Counts()
	if c.received != 3 || c.distinct != 2 || c.others != 1 || c.rejected != 4 || c.duplicates != 1 || c.last.IsZero() {
		t.Errorf("counts %+v, want 3 received, 2 distinct, 1 other, 4 rejected, 1 duplicate, a last time", c)
	}
}

// The runs' WEBHOOKS_FILE is one authd accepts; the events queueEvents
// writes are delivered by authd's own sender to the receiver, each once
// and signed, and their rows end delivered.
func TestQueuedEventsDelivered(t *testing.T) {
	url := dbtest.URL(t)
	const n = 40
	rc, err := startReceiver(hookKey, hookMarker, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cfg, err := webhook.Parse(webhooksFile(rc.URL, hookKey))
	if err != nil {
		t.Fatalf("the runs' WEBHOOKS_FILE: %v", err)
	}
	ctx := t.Context()
	if err := queueEvents(ctx, url, n, hookMarker); err != nil {
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
	delivered, failed, err := queuedStatus(ctx, conn)
	if err != nil || delivered != n || failed != 0 {
		t.Errorf("rows: %d delivered, %d failed, %v; want %d, 0", delivered, failed, err, n)
	}
	if !rc.Complete() {
		t.Error("the receiver does not have every queued event")
	}
	rc.Close()
	if c := rc.Counts(); c.received != n || c.distinct != n || c.others != 0 || c.rejected != 0 || c.duplicates != 0 {
		t.Errorf("counts %+v, want %d received and distinct, nothing else", c, n)
	}
}
