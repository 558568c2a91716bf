//go:build linux

package patroni

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/authdproc"
)

// TestFailover kills the leader of a two-node Patroni cluster while
// clients register, log in, refresh, ask for password-reset mail and log
// out through authd, whose DATABASE_URL names both nodes. It checks that
// every write authd acknowledged is on the new primary, that every answer
// in the gap was 503 with Retry-After (never a 500, never a hang), that
// authd served again without a restart, and logs how long writes paused:
// the figures of docs/operations.md ("Failover").
//
//	go test -count=1 -run TestFailover -v ./deploy/patroni/
func TestFailover(t *testing.T) {
	bin := make(chan string, 1)
	buildErr := make(chan error, 1)
	binDir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(binDir, "authd"), "github.com/authd/authd/cmd/authd")
	go func() { // while the cluster starts; killed if the test ends first
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr <- fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		bin <- filepath.Join(binDir, "authd")
	}()

	c := startCluster(t, "authd")
	old := c.leader()
	t.Logf("leader %s, synchronous standby ready", old.name)

	var authd string
	select {
	case authd = <-bin:
	case err := <-buildErr:
		t.Fatal(err)
	}
	keys, err := exec.Command(authd, "keygen", "-alg", "ES256").Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	cmd := exec.Command(authd, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + c.URL("authd"), "DB_TIMEOUT=2s", "REQUEST_TIMEOUT=5s",
		"PORT=0", "LISTEN_HOST=127.0.0.1", "METRICS_ADDR=off", "COOKIE_SECURE=false", "BCRYPT_COST=10",
		"LOG_LEVEL=info", "LOG_FORMAT=json",
		// Mail on: forgot-password queues a row in mail_outbox, in the
		// transaction of the request; the log transport "sends" it.
		"MAIL_TRANSPORT=log", "EMAIL_FROM=authd@localhost", "CLIENT_ORIGIN=http://localhost:3000",
		"MAIL_COOLDOWN=0s", "MAIL_MAX_PER_HOUR=1000",
		// Every client is 127.0.0.1: no per-address limits.
		"IP_LOGIN_BURST=0", "IP_REGISTER_BURST=0", "IP_REFRESH_BURST=0", "IP_MAIL_BURST=0",
		// Longer than the failover: a refresh retried after a 503 whose
		// rotation did commit gets the successor (docs/operations.md).
		"REFRESH_REUSE_GRACE=60s",
	}, strings.Fields(string(keys))...)
	logPath := filepath.Join(t.TempDir(), "authd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	proc, base, err := authdproc.Run(t.Context(), cmd, logFile, 60*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(logPath))
	}
	t.Cleanup(func() {
		proc.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("authd log (tail):\n%s", tail(logPath))
		}
	})

	// Clients write until told to stop.
	rec := &recorder{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 4
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{base: base, rec: rec, http: &http.Client{Timeout: 5*time.Second + 3*time.Second}, stop: stop}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cl.cycle(fmt.Sprintf("c%d-%d@example.com", i, n))
			}
		}()
	}
	stopClients := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopClients) // also when the test fails half way

	waitFor(t, 30*time.Second, "writes before the failover", func() bool { return rec.acks(time.Time{}) >= 40 })
	killed := time.Now()
	c.kill(t, old)
	t.Logf("killed %s (Patroni and PostgreSQL) at %s", old.name, killed.Format(time.TimeOnly))

	// Until every kind of write has been acknowledged again, and a second more.
	waitFor(t, 90*time.Second, "every kind of write acknowledged after the failover", func() bool {
		return rec.everyKindAfter(killed)
	})
	time.Sleep(time.Second)
	stopClients()

	select {
	case <-proc.Done():
		t.Fatalf("authd exited: %v", proc.Err())
	default: // the same process served throughout
	}
	now := c.leader()
	if now == nil || now == old {
		t.Fatalf("leader after the failover: %v, want the other node", now)
	}

	// What clients saw.
	pause, answered503, bad := rec.summary(killed)
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("writes paused %.1fs (from the kill to the first acknowledged write started after it); %d answers 503 with Retry-After; new leader %s",
		pause.Seconds(), answered503, now.name)

	// What the new primary holds.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("authd"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var port string
	if err := conn.QueryRow(ctx, "SELECT current_setting('port')").Scan(&port); err != nil {
		t.Fatal(err)
	}
	if port != now.pgPort {
		t.Fatalf("the multi-host URL reached port %s, want the new leader's %s", port, now.pgPort)
	}
	lost := rec.check(t, ctx, conn)
	t.Logf("acknowledged writes: %s; lost: %d", rec.counts(), lost)

	// The sessions work through authd: kept ones refresh with their last
	// token, logged-out ones do not.
	cl := &client{base: base, rec: &recorder{}, http: &http.Client{Timeout: 8 * time.Second}}
	for _, s := range rec.kept {
		if st, _, _ := cl.do("POST", "/api/auth/refresh", nil, "", s.token); st != http.StatusOK {
			t.Errorf("refresh of kept session %s with its last acknowledged token: %d, want 200", s.sid, st)
		}
	}
	for _, s := range rec.ended {
		if st, _, _ := cl.do("POST", "/api/auth/refresh", nil, "", s.token); st == http.StatusOK {
			t.Errorf("refresh of logged-out session %s: 200, want a refusal", s.sid)
		}
	}
	if b, err := os.ReadFile(logPath); err == nil && bytes.Contains(b, []byte(`"level":"ERROR"`)) {
		t.Errorf("authd logged errors:\n%s", grepLines(b, `"level":"ERROR"`))
	}
}

// session is one login's session id and its last acknowledged refresh token.
type session struct {
	sid   string
	token string
}

// recorder keeps every answer and every acknowledged write.
type recorder struct {
	mu        sync.Mutex
	answers   []answer
	users     []string         // registrations answered 201
	logins    []string         // session ids of logins answered 200
	refreshes map[string]int64 // session id: highest generation a refresh answered 200 with
	logouts   []string         // session ids of logouts answered 200
	mails     map[string]int   // email: forgot-password requests answered 200
	kept      []session        // sessions the clients keep, with their last token
	ended     []session        // sessions logged out, with their last token
}

type answer struct {
	op         string
	start, end time.Time
	status     int
	retryAfter string
	err        error
	retry      bool // the request repeats one answered 503
}

// write reports whether op changes state.
func write(op string) bool { return op != "me" }

func (r *recorder) add(a answer) {
	r.mu.Lock()
	r.answers = append(r.answers, a)
	r.mu.Unlock()
}

func (r *recorder) ack(f func()) {
	r.mu.Lock()
	if r.refreshes == nil {
		r.refreshes, r.mails = map[string]int64{}, map[string]int{}
	}
	f()
	r.mu.Unlock()
}

// acks counts acknowledged writes of requests started after since.
func (r *recorder) acks(since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.answers {
		if write(a.op) && a.status/100 == 2 && a.start.After(since) {
			n++
		}
	}
	return n
}

// everyKindAfter reports whether a write of each kind, started after t,
// was acknowledged.
func (r *recorder) everyKindAfter(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range r.answers {
		if write(a.op) && a.status/100 == 2 && a.start.After(t) {
			seen[a.op] = true
		}
	}
	return len(seen) == 5
}

// summary is how long writes paused after killed, how many answers were
// 503, and every answer a client must never see.
func (r *recorder) summary(killed time.Time) (pause time.Duration, n503 int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var resumed time.Time
	for _, a := range r.answers {
		switch {
		case a.err != nil:
			bad = append(bad, fmt.Sprintf("%s at %s: %v (a hang or a dropped connection)", a.op, a.start.Format(time.TimeOnly), a.err))
		case a.status == http.StatusServiceUnavailable:
			n503++
			if a.retryAfter == "" {
				bad = append(bad, fmt.Sprintf("%s at %s: 503 without Retry-After", a.op, a.start.Format(time.TimeOnly)))
			}
		case a.status/100 == 2:
			if write(a.op) && a.start.After(killed) && (resumed.IsZero() || a.end.Before(resumed)) {
				resumed = a.end
			}
		case a.status == http.StatusConflict && a.op == "register" && a.retry:
			// The ambiguous commit: the first try took, its answer was lost.
		default:
			bad = append(bad, fmt.Sprintf("%s at %s: %d", a.op, a.start.Format(time.TimeOnly), a.status))
		}
	}
	return resumed.Sub(killed), n503, bad
}

func (r *recorder) counts() string {
	n := 0
	for _, v := range r.mails {
		n += v
	}
	return fmt.Sprintf("%d registrations, %d logins, %d sessions refreshed, %d logouts, %d reset mails",
		len(r.users), len(r.logins), len(r.refreshes), len(r.logouts), n)
}

// check looks for every acknowledged write on the primary conn is
// connected to, and returns how many are missing.
func (r *recorder) check(t *testing.T, ctx context.Context, conn *pgx.Conn) int {
	t.Helper()
	lost := 0
	missing := func(format string, args ...any) {
		t.Errorf("lost: "+format, args...)
		lost++
	}
	for _, email := range r.users {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM users WHERE email = $1", email).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing("registration of %s", email)
		}
	}
	for _, sid := range r.logins {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE id = $1", sid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing("session %s of a login", sid)
		}
	}
	for sid, gen := range r.refreshes {
		var got int64
		if err := conn.QueryRow(ctx, "SELECT generation FROM sessions WHERE id = $1", sid).Scan(&got); err != nil {
			missing("session %s (refreshed to generation %d): %v", sid, gen, err)
			continue
		}
		if got < gen {
			missing("rotation of session %s: generation %d, a refresh returned %d", sid, got, gen)
		}
	}
	for _, sid := range r.logouts {
		var revoked bool
		if err := conn.QueryRow(ctx, "SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1", sid).Scan(&revoked); err != nil || !revoked {
			missing("revocation of session %s (logout answered 200): revoked %v, %v", sid, revoked, err)
		}
	}
	for email, acked := range r.mails {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM mail_outbox WHERE to_addr = $1 AND kind = 'reset_password'", email).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < acked {
			missing("reset mail to %s: %d rows, %d requests answered 200", email, n, acked)
		}
	}
	return lost
}

// client is one user agent: it keeps its tokens and repeats a request
// answered 503, as Retry-After asks (sooner: the test wants to see when
// writes resume).
type client struct {
	base string
	rec  *recorder
	http *http.Client
	stop <-chan struct{} // closed: stop repeating
}

// cycle registers email, logs in twice, refreshes both sessions, asks for
// a reset mail, reads the profile and logs the first session out.
func (c *client) cycle(email string) {
	const password = "password123"
	st, _, _ := c.retry("register", "POST", "/api/auth/register", map[string]string{
		"name": "Failover", "email": email, "password": password, "passwordConfirm": password}, "", "")
	switch st {
	case http.StatusCreated:
		c.rec.ack(func() { c.rec.users = append(c.rec.users, email) })
	case http.StatusConflict: // registered by an earlier try whose answer was lost
	default:
		return
	}
	a, ok := c.login(email, password)
	if !ok || !c.refresh(&a) {
		return
	}
	st, _, _ = c.retry("forgot", "POST", "/api/auth/forgot-password", map[string]string{"email": email}, "", "")
	if st == http.StatusOK {
		c.rec.ack(func() { c.rec.mails[email]++ })
	}
	c.retry("me", "GET", "/api/users/me", nil, a.access, "")
	b, ok := c.login(email, password)
	if !ok || !c.refresh(&b) {
		return
	}
	c.rec.ack(func() { c.rec.kept = append(c.rec.kept, session{b.sid, b.refresh}) })
	st, _, _ = c.retry("logout", "POST", "/api/auth/logout", nil, a.access, a.refresh)
	if st == http.StatusOK {
		c.rec.ack(func() {
			c.rec.logouts = append(c.rec.logouts, a.sid)
			c.rec.ended = append(c.rec.ended, session{a.sid, a.refresh})
		})
	}
}

// tokens are one session's, as the client holds them.
type tokens struct {
	sid, access, refresh string
}

func (c *client) login(email, password string) (tokens, bool) {
	st, body, cookie := c.retry("login", "POST", "/api/auth/login", map[string]string{"email": email, "password": password}, "", "")
	if st != http.StatusOK || cookie == "" {
		return tokens{}, false
	}
	access, _ := body["access_token"].(string)
	sid, _ := claims(access)
	c.rec.ack(func() { c.rec.logins = append(c.rec.logins, sid) })
	return tokens{sid, access, cookie}, true
}

func (c *client) refresh(s *tokens) bool {
	st, body, cookie := c.retry("refresh", "POST", "/api/auth/refresh", nil, "", s.refresh)
	if st != http.StatusOK || cookie == "" {
		return false
	}
	s.access, _ = body["access_token"].(string)
	s.refresh = cookie
	sid, gen := claims(s.access)
	c.rec.ack(func() { c.rec.refreshes[sid] = max(c.rec.refreshes[sid], gen) })
	return true
}

// retry sends a request until it is answered with anything but 503.
func (c *client) retry(op, method, path string, body any, bearer, refresh string) (int, map[string]any, string) {
	again := false
	for {
		start := time.Now()
		st, hdr, resp, cookie, err := c.send(method, path, body, bearer, refresh)
		a := answer{op: op, start: start, end: time.Now(), status: st, err: err, retry: again}
		if hdr != nil {
			a.retryAfter = hdr.Get("Retry-After")
		}
		c.rec.add(a)
		if err != nil || st != http.StatusServiceUnavailable {
			return st, resp, cookie
		}
		again = true
		select {
		case <-c.stop:
			return st, resp, cookie
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// do sends one request, unrecorded.
func (c *client) do(method, path string, body any, bearer, refresh string) (int, map[string]any, string) {
	st, _, resp, cookie, _ := c.send(method, path, body, bearer, refresh)
	return st, resp, cookie
}

// send returns the status, headers, JSON body and new refresh_token cookie.
func (c *client) send(method, path string, body any, bearer, refresh string) (int, http.Header, map[string]any, string, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if refresh != "" {
		req.AddCookie(&http.Cookie{Name: "refresh_token", Value: refresh})
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, "", err
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	cookie := ""
	for _, ck := range resp.Cookies() {
		if ck.Name == "refresh_token" && ck.Value != "" {
			cookie = ck.Value
		}
	}
	return resp.StatusCode, resp.Header, m, cookie, nil
}

// claims reads the session id and generation of an access token (the
// signature was checked by authd; this only reads).
func claims(access string) (sid string, gen int64) {
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		return "", 0
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", 0
	}
	var c struct {
		Sid string `json:"sid"`
		Gen *int64 `json:"gen"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", 0
	}
	if c.Gen != nil {
		gen = *c.Gen
	}
	return c.Sid, gen
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], strconv.Itoa(len(out)-20)+" more")
	}
	return strings.Join(out, "\n")
}
