package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoopbackURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8000":        "http://127.0.0.1:8000",
		"http://127.0.0.1:8000/":       "http://127.0.0.1:8000",
		"http://localhost:8000":        "http://localhost:8000",
		"http://LOCALHOST":             "http://LOCALHOST",
		"http://127.1.2.3:9":           "http://127.1.2.3:9",
		"http://[::1]:8000":            "http://[::1]:8000",
		"https://[::ffff:127.0.0.1]:1": "https://[::ffff:127.0.0.1]:1",
	} {
		got, err := loopbackURL(raw)
		if err != nil || got != want {
			t.Errorf("loopbackURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"http://10.0.0.1:8000", "http://192.168.1.1", "http://localhost.example.com", "http://example.com",
		"http://[::2]:80", "ftp://127.0.0.1", "127.0.0.1:8000", "http://127.0.0.1:8000/api",
		"http://user:pw@127.0.0.1", "http://0.0.0.0:8000",
	} {
		if got, err := loopbackURL(raw); err == nil {
			t.Errorf("loopbackURL(%q) = %q, want an error", raw, got)
		}
	}
}

func TestLoopbackOnlyDialer(t *testing.T) {
	if err := loopbackOnly("tcp", "127.0.0.1:80", nil); err != nil {
		t.Error(err)
	}
	if err := loopbackOnly("tcp", "[::1]:80", nil); err != nil {
		t.Error(err)
	}
	if err := loopbackOnly("tcp", "93.184.216.34:80", nil); err == nil {
		t.Error("a public address was allowed")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 1: 100} {
		if got := percentile(d, q); got != want*time.Millisecond {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want*time.Millisecond)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
	if got := percentile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("percentile of one = %v", got)
	}
}

func TestBenchAddr(t *testing.T) {
	for i, want := range map[int]string{
		0: "198.18.0.0", 258: "198.18.1.2", addrMainBase + 5: "198.19.0.5",
		addrFloodBase: "198.19.128.0", addrSpace - 1: "198.19.255.255",
	} {
		if got := benchAddr(i); got != want {
			t.Errorf("benchAddr(%d) = %s, want %s", i, got, want)
		}
	}
}

// fakeAuthd speaks just enough of authd's API: accounts, sessions whose
// refresh token rotates (the previous one works for a grace period, older
// ones revoke the session), Bearer access tokens, and /healthz.
type fakeAuthd struct {
	mu        sync.Mutex
	users     map[string]string // email -> password
	sessions  map[int]*fakeSession
	access    map[string]int // access token -> session
	nextID    int
	rotations int
	revoked   int
	xff       map[string]bool // X-Forwarded-For addresses seen
	breakNext bool            // answer the next refresh with 403
	forgot    map[string]int  // forgot-password requests per email
	// Known devices, as authd keeps them: every successful login sets a
	// device_id cookie, the one it was sent if that is a device of the
	// account, else a new one.
	noDevice   bool              // answer logins without a device_id cookie (an authd before known devices)
	devices    map[string]string // device id -> email
	known      map[string]int    // successful logins from a known device, per email
	newDevice  map[string]int    // successful logins from a device new for the account, per email
	failed     map[string]int    // logins answered 400, per email
	withCookie int               // failed logins that sent a device_id cookie
	loginAddr  map[string]int    // logins per X-Forwarded-For address
}

type fakeSession struct {
	gen     int
	prevAt  time.Time
	revoked bool
}

func newFake() *fakeAuthd {
	return &fakeAuthd{users: map[string]string{}, sessions: map[int]*fakeSession{}, access: map[string]int{}, xff: map[string]bool{}, forgot: map[string]int{},
		devices: map[string]string{}, known: map[string]int{}, newDevice: map[string]int{}, failed: map[string]int{}, loginAddr: map[string]int{}}
}

func (f *fakeAuthd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := r.Header.Get("X-Forwarded-For"); a != "" {
		f.xff[a] = true
	}
	var body map[string]string
	if r.Method == "POST" && r.Header.Get("Content-Type") == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			return
		}
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /healthz":
		io.WriteString(w, `{"status":"success","message":"alive"}`)
	case "POST /api/auth/register":
		if body["password"] != body["passwordConfirm"] || body["name"] == "" {
			w.WriteHeader(400)
			return
		}
		if _, ok := f.users[body["email"]]; ok {
			w.WriteHeader(409)
			return
		}
		f.users[body["email"]] = body["password"]
		w.WriteHeader(201)
	case "POST /api/auth/login":
		f.loginAddr[r.Header.Get("X-Forwarded-For")]++
		dev, _ := r.Cookie("device_id")
		if pw, ok := f.users[body["email"]]; !ok || pw != body["password"] {
			f.failed[body["email"]]++
			if dev != nil {
				f.withCookie++
			}
			w.WriteHeader(400)
			return
		}
		if !f.noDevice {
			if dev != nil && f.devices[dev.Value] == body["email"] {
				f.known[body["email"]]++
			} else {
				f.newDevice[body["email"]]++
				dev = &http.Cookie{Name: "device_id", Value: fmt.Sprintf("d%d", len(f.devices))}
				f.devices[dev.Value] = body["email"]
			}
			http.SetCookie(w, &http.Cookie{Name: "device_id", Value: dev.Value, Path: "/api/auth", HttpOnly: true})
		}
		f.nextID++
		id := f.nextID
		f.sessions[id] = &fakeSession{}
		tok := fmt.Sprintf("a%d", id)
		f.access[tok] = id
		http.SetCookie(w, &http.Cookie{Name: "access_token", Value: tok, Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "refresh_token", Value: fmt.Sprintf("r%d.%d", id, 0), Path: "/api/auth"})
		fmt.Fprintf(w, `{"status":"success","access_token":%q}`, tok)
	case "POST /api/auth/refresh":
		c, err := r.Cookie("refresh_token")
		var id, gen int
		if err == nil {
			_, err = fmt.Sscanf(c.Value, "r%d.%d", &id, &gen)
		}
		s := f.sessions[id]
		if err != nil || s == nil || s.revoked {
			w.WriteHeader(403)
			return
		}
		switch {
		case f.breakNext:
			f.breakNext = false
			s.revoked = true
			f.revoked++
			w.WriteHeader(403)
			return
		case gen == s.gen:
			s.gen++
			s.prevAt = time.Now()
			f.rotations++
		case gen == s.gen-1 && time.Since(s.prevAt) < 10*time.Second:
		default:
			s.revoked = true
			f.revoked++
			w.WriteHeader(403)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "refresh_token", Value: fmt.Sprintf("r%d.%d", id, s.gen), Path: "/api/auth"})
		io.WriteString(w, `{"status":"success","access_token":"x"}`)
	case "POST /api/auth/forgotpassword":
		f.forgot[body["email"]]++
		io.WriteString(w, `{"status":"success"}`)
	case "GET /api/users/me":
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id, known := f.access[tok]
		if !ok || !known || f.sessions[id].revoked {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"status":"success","data":{"user":{}}}`)
	default:
		w.WriteHeader(404)
	}
}

func testConfig(t *testing.T, url string, args ...string) config {
	t.Helper()
	base := []string{"-url", url, "-c", "4", "-users", "10", "-d", "300ms", "-warmup", "100ms", "-timeout", "5s", "-prefix", "t"}
	cfg, err := parseFlags(append(base, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRunRefreshRotates(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	res, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "refresh"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["200"] != res.Requests {
		t.Fatalf("refresh: %d requests, statuses %v, errors %v", res.Requests, res.Status, res.Errors)
	}
	if res.ErrorCount() != 0 || f.revoked != 0 {
		t.Errorf("errors %v, sessions revoked %d", res.Errors, f.revoked)
	}
	// Every answered refresh was a real rotation (the fake also counts warm-up).
	if int64(f.rotations) < res.Requests {
		t.Errorf("server rotated %d times for %d measured refreshes", f.rotations, res.Requests)
	}
	if len(f.users) != 10 || len(f.sessions) != 4 {
		t.Errorf("setup made %d users and %d sessions, want 10 and 4 (one per worker)", len(f.users), len(f.sessions))
	}
}

func TestRunChainBroken(t *testing.T) {
	f := newFake()
	f.breakNext = true
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "-scenario", "refresh", "-warmup", "0s")
	res, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["chain broken"] != 1 || res.Status["403"] != 1 || res.Relogins != 1 {
		t.Errorf("chain broken %d, 403s %d, relogins %d; want 1 each", res.Errors["chain broken"], res.Status["403"], res.Relogins)
	}
	if res.Status["200"] == 0 {
		t.Error("the chain did not go on after the relogin")
	}
}

func TestRunMixedWithFlood(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "-scenario", "mixed", "-during", "refresh", "-during-c", "3", "-xff")
	res, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorCount() != 0 || f.revoked != 0 {
		t.Errorf("errors %v, sessions revoked %d", res.Errors, f.revoked)
	}
	for code := range res.Status {
		if code != "200" && code != "201" {
			t.Errorf("unexpected status %s: %v", code, res.Status)
		}
	}
	if res.Kinds["me"].Requests == 0 || res.Kinds["refresh"].Requests == 0 {
		t.Errorf("mixed kinds: %+v", res.Kinds)
	}
	if res.During == nil || res.During.Requests == 0 || res.During.Status["200"] != res.During.Requests {
		t.Errorf("flood: %+v", res.During)
	}
	// Addresses: 10 users in setup, 4 workers, 3 flood workers.
	for _, a := range []string{"198.18.0.0", "198.18.0.9", "198.19.0.3", "198.19.128.2"} {
		if !f.xff[a] {
			t.Errorf("no request from %s", a)
		}
	}
	// 7 refresh chains (4 + 3) over 10 users; me needs all 10 logged in.
	if len(f.sessions) < 10 {
		t.Errorf("%d sessions, want at least 10", len(f.sessions))
	}
}

func TestSeedThenSeeded(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	if res, err := run(context.Background(), testConfig(t, srv.URL, "-seed-only"), io.Discard); err != nil || res != nil {
		t.Fatalf("seed-only: %v, %v", res, err)
	}
	if len(f.users) != 10 || len(f.sessions) != 0 {
		t.Fatalf("seed-only made %d users, %d sessions", len(f.users), len(f.sessions))
	}
	res, err := run(context.Background(), testConfig(t, srv.URL, "-seeded", "-scenario", "me"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["200"] != res.Requests {
		t.Errorf("me: %d requests, statuses %v", res.Requests, res.Status)
	}
	// -seeded with users that do not exist fails with a hint.
	_, err = run(context.Background(), testConfig(t, srv.URL, "-seeded", "-prefix", "nobody"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-seed-only") {
		t.Errorf("-seeded without users: %v", err)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := run(ctx, testConfig(t, srv.URL, "-scenario", "health", "-d", "1h", "-warmup", "100ms"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || time.Since(start) > 5*time.Second {
		t.Errorf("interrupted %v after %s", res.Interrupted, time.Since(start))
	}
	if res.Requests == 0 || res.DurationS > 1 {
		t.Errorf("%d requests in %.2fs", res.Requests, res.DurationS)
	}
}

func TestFlagChecks(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "http://10.1.2.3"},
		{"-scenario", "nope"},
		{"-during", "nope"},
		{"-c", "0"},
		{"-d", "0s"},
		{"-password", "short"},
		{"-prefix", "a@b"},
		{"-seed-only", "-seeded"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	srv := httptest.NewServer(newFake())
	defer srv.Close()
	_, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "refresh", "-c", "11"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-users") {
		t.Errorf("refresh with more workers than users: %v", err)
	}
}

// TestRunCPUProfile: with -cpuprofile, authload asks for a profile as long
// as the measured window, once the window starts, and writes it out.
func TestRunCPUProfile(t *testing.T) {
	f := newFake()
	var asked []string
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RawQuery)
		mu.Unlock()
		w.Write([]byte("profile bytes"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "cpu.pprof")
	cfg := testConfig(t, srv.URL, "-scenario", "health", "-cpuprofile-url", srv.URL+"/debug/pprof/profile", "-cpuprofile", out)
	if _, err := run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "profile bytes" {
		t.Fatalf("profile file: %q, %v", b, err)
	}
	if want := fmt.Sprintf("seconds=%d", max(int(cfg.d.Round(time.Second)/time.Second), 1)); len(asked) != 1 || asked[0] != want {
		t.Errorf("profile requests %q, want one with %s", asked, want)
	}
	for _, bad := range [][]string{
		{"-cpuprofile", out},
		{"-cpuprofile-url", "http://10.0.0.1:9090/debug/pprof/profile", "-cpuprofile", out},
		{"-cpuprofile-url", srv.URL + "/metrics", "-cpuprofile", out},
	} {
		if _, err := parseFlags(append([]string{"-url", srv.URL}, bad...), io.Discard); err == nil {
			t.Errorf("flags %q accepted", bad)
		}
	}
}

// TestRunBurst: -burst sends every request at once, each once. The server
// holds each request until all of the burst have arrived, so the burst
// passes only if they really are in flight together.
func TestRunBurst(t *testing.T) {
	f := newFake()
	const n = 15
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
		burst   atomic.Bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if burst.Load() {
			mu.Lock()
			if arrived++; arrived == n {
				close(all)
			}
			mu.Unlock()
			<-all
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()

	if _, err := run(context.Background(), testConfig(t, srv.URL, "-seed-only"), io.Discard); err != nil {
		t.Fatal(err)
	}
	burst.Store(true)
	res, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "register", "-burst", strconv.Itoa(n), "-xff"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Burst != n || res.Requests != n || res.Status["201"] != n || res.ErrorCount() != 0 {
		t.Errorf("register burst: burst %d, %d requests, statuses %v, errors %v; want %d answered 201",
			res.Burst, res.Requests, res.Status, res.Errors, n)
	}
	if res.Latency503 != nil {
		t.Errorf("503 latency %+v without a 503", res.Latency503)
	}
	if len(f.users) != 10+n {
		t.Errorf("%d users after a burst of %d sign-ups on 10, want %d", len(f.users), n, 10+n)
	}
	if !f.xff["198.19.0.0"] || !f.xff[benchAddr(addrMainBase+n-1)] {
		t.Error("-xff: the burst's requests did not each have an address")
	}

	mu.Lock()
	arrived, all = 0, make(chan struct{})
	mu.Unlock()
	// 15 logins over the 10 seeded users: 0 to 9, then 0 to 4.
	res, err = run(context.Background(), testConfig(t, srv.URL, "-scenario", "login", "-seeded", "-burst", strconv.Itoa(n)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != n || res.Status["200"] != n || len(f.sessions) != n {
		t.Errorf("login burst: %d requests, statuses %v, %d sessions; want %d logins", res.Requests, res.Status, len(f.sessions), n)
	}
	if res.Label != "login burst of 15" {
		t.Errorf("label %q", res.Label)
	}
	for _, bad := range [][]string{
		{"-burst", "5", "-scenario", "me"},
		{"-burst", "5", "-scenario", "login", "-during", "me"},
		{"-burst", "-1", "-scenario", "login"},
	} {
		if _, err := parseFlags(append([]string{"-url", srv.URL}, bad...), io.Discard); err == nil {
			t.Errorf("flags %q accepted", bad)
		}
	}
}

func TestRunForgot(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	res, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "forgot"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["200"] != res.Requests {
		t.Fatalf("forgot: %d requests, statuses %v, errors %v", res.Requests, res.Status, res.Errors)
	}
	if len(f.sessions) != 0 {
		t.Errorf("forgot logged in %d sessions, want none", len(f.sessions))
	}
	known, unknown := 0, 0
	for email, n := range f.forgot {
		if _, ok := f.users[email]; ok {
			known += n
		} else if strings.HasPrefix(email, "tnobody") {
			unknown += n
		} else {
			t.Errorf("forgot for %q", email)
		}
	}
	if known == 0 || unknown == 0 {
		t.Errorf("forgot: %d requests for seeded accounts, %d for unknown addresses; want both", known, unknown)
	}
}

// TestRunOpenLoop: with -rate the requests start on schedule, whatever the
// answers: against a fast server the count follows the rate, and against
// one that takes 20 ms with one worker, latency counts the wait from each
// request's intended start (far above the 20 ms a closed loop would show).
func TestRunOpenLoop(t *testing.T) {
	fast := httptest.NewServer(newFake())
	defer fast.Close()
	res, err := run(context.Background(), testConfig(t, fast.URL, "-scenario", "health", "-rate", "200", "-d", "500ms"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate != 200 || res.Requests < 50 || res.Requests > 150 {
		t.Errorf("fast server: %d requests in 0.5 s at 200/s (rate %v), want about 100", res.Requests, res.Rate)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, `{"status":"success"}`)
	}))
	defer slow.Close()
	res, err = run(context.Background(), testConfig(t, slow.URL, "-scenario", "health", "-rate", "200", "-c", "1", "-d", "500ms"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Latency.P50 < 100 {
		t.Errorf("slow server, one worker, 200/s: p50 %.1f ms, want the queueing (well over 100 ms) counted", res.Latency.P50)
	}
	if _, err := parseFlags([]string{"-rate", "10", "-retry-after"}, io.Discard); err == nil {
		t.Error("-rate with -retry-after accepted")
	}
}

// TestRunDeviceLogin: each devicelogin worker owns one user, logs it in
// once in the setup, and then logs it in again and again with the device
// cookie that login set, each time from a new address (-xff); the -with
// class runs beside it, reported apart, and the window's metrics are the
// difference of two scrapes.
func TestRunDeviceLogin(t *testing.T) {
	f := newFake()
	var scrapes atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/", f)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE authd_logins_total counter\nauthd_logins_total{outcome=\"success\"} %d\nauthd_password_hash_wait_seconds_count %d\n"+
			"authd_password_hash_wait_seconds_sum 0.5\nauthd_http_requests_total 99\n", 10*n, 3*n)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "-scenario", "devicelogin", "-c", "2", "-rate", "40", "-with", "me", "-with-c", "2", "-xff",
		"-metrics-url", srv.URL+"/metrics")
	res, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["200"] != res.Requests || res.Label != "devicelogin with me at 40/s" {
		t.Fatalf("devicelogin %q: %d requests, statuses %v, errors %v", res.Label, res.Requests, res.Status, res.Errors)
	}
	if res.With == nil || res.With.Scenario != "me" || res.With.Concurrency != 2 || res.With.Requests == 0 || res.With.Status["200"] != res.With.Requests {
		t.Errorf("the me class: %+v", res.With)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The setup logged in all 10 users (me needs their tokens): one new
	// device each. Every later login was users 0 and 1 from that device.
	for i := range 10 {
		email := fmt.Sprintf("t%d@example.com", i)
		if f.newDevice[email] != 1 {
			t.Errorf("%s: %d logins from a new device, want 1 (the setup's)", email, f.newDevice[email])
		}
		if want := i < 2; (f.known[email] > 0) != want {
			t.Errorf("%s: %d logins from its known device", email, f.known[email])
		}
	}
	if n := int64(f.known["t0@example.com"] + f.known["t1@example.com"]); n < res.Requests {
		t.Errorf("%d known-device logins at the server, %d measured", n, res.Requests)
	}
	// Setup logins come from the users' addresses; each devicelogin from
	// an address of its own, after the workers' and the me class's.
	for a, n := range f.loginAddr {
		if n != 1 {
			t.Errorf("%d logins from %s, want each from its own address", n, a)
		}
	}
	if !f.xff[benchAddr(addrMainBase+2)] || !f.loginAddrHas(benchAddr(addrMainBase+4)) || f.loginAddrHas(benchAddr(addrMainBase)) {
		t.Errorf("addresses: me from worker addresses, devicelogin rotating after them; got logins from %v", f.loginAddr)
	}
	// Two scrapes, at the window's start and end: each series grew by one
	// step; series not counted are left out.
	want := map[string]float64{`authd_logins_total{outcome="success"}`: 10, "authd_password_hash_wait_seconds_count": 3}
	if scrapes.Load() != 2 || !reflect.DeepEqual(res.Counters, want) {
		t.Errorf("%d scrapes, counters %v; want 2 and %v", scrapes.Load(), res.Counters, want)
	}
}

func (f *fakeAuthd) loginAddrHas(a string) bool { return f.loginAddr[a] > 0 }

// TestRunDeviceLoginNeedsDevices: against an authd that sets no device
// cookie, devicelogin stops after the setup instead of measuring logins
// that are not from a known device.
func TestRunDeviceLoginNeedsDevices(t *testing.T) {
	f := newFake()
	f.noDevice = true
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "devicelogin", "-c", "2"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "device_id") {
		t.Errorf("devicelogin without device cookies: %v", err)
	}
}

// TestRunLoginKeepsDevice: the login scenario keeps each user's device
// cookie, as a browser does: a user's first login is from a new device,
// every later one from that device; with -forget-device every login is
// from a new device.
func TestRunLoginKeepsDevice(t *testing.T) {
	for _, forget := range []bool{false, true} {
		f := newFake()
		srv := httptest.NewServer(f)
		args := []string{"-scenario", "login", "-users", "3"}
		if forget {
			args = append(args, "-forget-device")
		}
		res, err := run(context.Background(), testConfig(t, srv.URL, args...), io.Discard)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests < 10 || res.Status["200"] != res.Requests || res.ForgetDevice != forget {
			t.Fatalf("forget %v: %d logins, statuses %v", forget, res.Requests, res.Status)
		}
		news, known := 0, 0
		for i := range 3 {
			email := fmt.Sprintf("t%d@example.com", i)
			news += f.newDevice[email]
			known += f.known[email]
			if !forget && f.newDevice[email] > 4 {
				// At most one per worker that raced on the user's first login.
				t.Errorf("%s: %d new devices", email, f.newDevice[email])
			}
		}
		if forget && known != 0 {
			t.Errorf("-forget-device: %d logins from a known device", known)
		}
		if !forget && known < int(res.Requests)-12 {
			t.Errorf("%d of %d logins from a known device", known, news+known)
		}
	}
}

// TestRunStuffing: the stuffing flood sends wrong passwords, without a
// device cookie, mostly for accounts nobody registered (each a new one),
// some for seeded ones, each from one of -stuff-addrs addresses.
func TestRunStuffing(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "-scenario", "health", "-during", "stuffing", "-during-c", "3", "-xff", "-stuff-addrs", "50")
	res, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fl := res.During
	if fl == nil || fl.Scenario != "stuffing" || fl.Requests < 100 || fl.Status["400"] != fl.Requests {
		t.Fatalf("stuffing: %+v", fl)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sessions) != 0 || len(f.devices) != 0 || f.withCookie != 0 {
		t.Errorf("stuffing: %d sessions, %d devices, %d attempts with a device cookie; want none", len(f.sessions), len(f.devices), f.withCookie)
	}
	seeded, unknown := 0, 0
	for email, n := range f.failed {
		switch _, ok := f.users[email]; {
		case ok:
			seeded += n
		case n != 1:
			t.Errorf("%d attempts for %s: want a new account each time", n, email)
		default:
			unknown++
		}
	}
	if seeded == 0 || unknown < 4*seeded {
		t.Errorf("%d attempts for seeded accounts, %d for unknown ones; want about 1 in 10 seeded", seeded, unknown)
	}
	allowed := map[string]bool{}
	for i := range 50 {
		allowed[benchAddr(addrFloodBase+i)] = true
	}
	for a := range f.loginAddr {
		if !allowed[a] {
			t.Errorf("a stuffing attempt from %s, outside the first 50 flood addresses", a)
		}
	}
	if len(f.loginAddr) < 25 {
		t.Errorf("stuffing from %d addresses, want most of 50", len(f.loginAddr))
	}
}

func TestAttackFlagChecks(t *testing.T) {
	for _, args := range [][]string{
		{"-with", "nope"},
		{"-with", "me", "-with-c", "0"},
		{"-stuff-addrs", "0"},
		{"-stuff-addrs", "40000"},
		{"-metrics-url", "http://10.0.0.1:9090/metrics"},
		{"-metrics-url", "http://127.0.0.1:9090/debug/pprof/profile"},
		{"-burst", "5", "-scenario", "login", "-with", "me"},
		{"-xff", "-c", "30000", "-with", "me", "-with-c", "3000"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

// TestRunDeviceLoginBacklog: a server slower than the schedule leaves a
// backlog of logins due; every one due in the window is sent and counted,
// with its latency from when it was due, even if it goes out after the
// window ends.
func TestRunDeviceLoginBacklog(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/auth/login" && r.Header.Get("Cookie") != "" {
			time.Sleep(50 * time.Millisecond) // the measured logins, not the setup's
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	// One user due every 25 ms (40/s), each login taking 50 ms: of the
	// 12 due in the 300 ms window, most go out after it.
	res, err := run(context.Background(), testConfig(t, srv.URL, "-scenario", "devicelogin", "-c", "1", "-rate", "40"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 11 || res.Requests > 13 || res.Status["200"] != res.Requests {
		t.Errorf("%d logins counted (statuses %v), want the 12 due in the window", res.Requests, res.Status)
	}
	if res.Latency.Max < 300 {
		t.Errorf("max latency %.1f ms: the backlog's wait is not counted", res.Latency.Max)
	}
}
