package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// Two signing secrets, as an endpoint in the middle of a rotation has.
var (
	key1    = bytes.Repeat([]byte{1}, 32)
	key2    = bytes.Repeat([]byte{2}, 24)
	secret1 = SecretPrefix + base64.StdEncoding.EncodeToString(key1)
	secret2 = SecretPrefix + base64.StdEncoding.EncodeToString(key2)
)

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an in-process webhook receiver whose answer a test sets.
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	got    []received
	answer http.HandlerFunc // after the request is recorded; nil: 204
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		answer := r.answer
		r.mu.Unlock()
		if answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		answer(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(h http.HandlerFunc) {
	r.mu.Lock()
	r.answer = h
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// status answers with code.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// fixture is a database, a receiver and a sender of one endpoint "siem"
// posting to it (allow_private: the receiver is on loopback).
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	q     *db.Queries
	clock *testenv.Clock
	logs  *testenv.Buffer
	m     *metrics.Metrics
	rcv   *receiver
	cfg   Config
	opts  Options
	s     *Sender
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	pool := dbtest.New(t)
	f := &fixture{t: t, pool: pool, q: db.New(pool), clock: testenv.NewClock(), logs: &testenv.Buffer{}, m: metrics.New(), rcv: newReceiver(t)}
	f.cfg = mustParse(t, fmt.Sprintf(`{"endpoints": [{"id": "siem", "url": %q, "events": ["*"], "secrets": [%q, %q], "allow_private": true}]}`,
		f.rcv.srv.URL+"/hook", secret1, secret2))
	f.opts = Options{Timeout: 5 * time.Second, PollInterval: time.Hour, DBTimeout: 5 * time.Second,
		Log: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: f.m, Now: f.clock.Now}
	f.s = f.sender()
	return f
}

func (f *fixture) sender() *Sender {
	f.t.Helper()
	s, err := NewSender(f.pool, f.cfg, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func mustParse(t *testing.T, js string) Config {
	t.Helper()
	c, err := Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// event records a session.revoked event the way internal/session does,
// with a delivery to each of endpoints, and returns its id.
func (f *fixture) event(endpoints ...string) (id int64, user, sess uuid.UUID) {
	f.t.Helper()
	user, sess = uuid.New(), uuid.New()
	err := f.q.InsertSecurityEvents(f.t.Context(), db.InsertSecurityEventsParams{
		Now: f.clock.Now(), Endpoints: endpoints, Name: "session.revoked", UserID: uuid.NullUUID{UUID: user, Valid: true},
		Actor: "client", RequestID: "req-1", ClientAddr: "192.0.2.1", UserAgent: "test",
		Data: `{"reason": "logout", "access_expires_by": "2030-01-02T03:04:05Z"}`, SessionIds: []string{sess.String()},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.pool.QueryRow(f.t.Context(), "SELECT max(id) FROM security_events").Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id, user, sess
}

// once runs one pass of s and returns how many deliveries it claimed.
func (f *fixture) once(s *Sender) int {
	f.t.Helper()
	n, err := s.Once(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// row is a delivery as stored.
type row struct {
	Status    string
	Attempts  int32
	LastError *string
	Next      time.Time
}

func (f *fixture) deliveries() []row {
	f.t.Helper()
	rows, err := f.pool.Query(f.t.Context(), "SELECT status, attempts, last_error, next_attempt_at FROM webhook_deliveries ORDER BY id")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Status, &r.Attempts, &r.LastError, &r.Next); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// only is the one delivery there is.
func (f *fixture) only() row {
	f.t.Helper()
	d := f.deliveries()
	if len(d) != 1 {
		f.t.Fatalf("%d deliveries, want 1", len(d))
	}
	return d[0]
}

// metric is the value of one sample line of f.m, "" if absent.
func (f *fixture) metric(sample string) string {
	var b bytes.Buffer
	f.m.Write(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			return v
		}
	}
	return ""
}

// verify checks the signature of a request as a receiver would, with
// crypto/hmac directly: one v1 signature per key, in order.
func verify(t *testing.T, r received, keys ...[]byte) {
	t.Helper()
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	sigs := strings.Fields(r.header.Get("webhook-signature"))
	if len(sigs) != len(keys) {
		t.Fatalf("webhook-signature %q: %d signatures, want %d", r.header.Get("webhook-signature"), len(sigs), len(keys))
	}
	for i, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(id + "." + ts + "." + string(r.body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if sigs[i] != want {
			t.Errorf("signature %d = %q, want %q", i+1, sigs[i], want)
		}
	}
}

// decode is a request's JSON body.
func decode(t *testing.T, r received) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return m
}
