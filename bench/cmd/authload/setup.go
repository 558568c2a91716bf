package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// user is one seeded account.
type user struct {
	email     string
	loginBody []byte
	access    atomic.Pointer[string] // access token, for the me requests
	refresh   string                 // refresh token from setup, handed to the chain that owns this user
	// device is the device_id cookie of this user's browser: set by every
	// login answer, sent with the next login (unless -forget-device), as a
	// browser keeps and sends its cookies.
	device atomic.Pointer[string]
	addr   string // X-Forwarded-For of its setup requests (-xff), or ""
}

// deviceHeader is the Cookie header a login of u sends: its device id,
// or "" when it has none yet.
func (u *user) deviceHeader() string {
	if p := u.device.Load(); p != nil && *p != "" {
		return deviceCookie + "=" + *p
	}
	return ""
}

// keepDevice keeps the device id a login answer set, if any.
func (u *user) keepDevice(a answer) {
	if a.device != "" {
		d := a.device
		u.device.Store(&d)
	}
}

func (u *user) token() string {
	if p := u.access.Load(); p != nil {
		return *p
	}
	return ""
}

func registerBody(email, pw string) []byte {
	b, _ := json.Marshal(map[string]string{
		"name": "Bench User", "email": email, "password": pw, "passwordConfirm": pw, "photo": "",
	})
	return b
}

func loginBody(email, pw string) []byte {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return b
}

func newUsers(prefix, pw string, n int, xff bool) []*user {
	us := make([]*user, n)
	for i := range us {
		email := strings.ToLower(prefix + strconv.Itoa(i) + "@example.com")
		us[i] = &user{email: email, loginBody: loginBody(email, pw)}
		if xff {
			us[i].addr = benchAddr(addrUserBase + i)
		}
	}
	return us
}

// needs is what the setup must do before a run.
type needs struct {
	register bool // create -users accounts
	login    []int
}

// setupStats counts the setup's progress.
type setupStats struct {
	registered, existed, loggedIn, retries atomic.Int64
}

// httpError is an answer that retrying will not fix.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// setup registers and logs in users with conc requests at once, printing
// progress to progress. 503 (hashing queue full) and 429 are retried after
// the server's Retry-After; so are timeouts.
func setup(ctx context.Context, cl *client, users []*user, pw string, nd needs, conc int, progress io.Writer) error {
	loginSet := make(map[int]bool, len(nd.login))
	for _, i := range nd.login {
		loginSet[i] = true
	}
	var jobs []int
	for i := range users {
		if nd.register || loginSet[i] {
			jobs = append(jobs, i)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	start := time.Now()
	var st setupStats
	report := func() {
		fmt.Fprintf(progress, "setup: registered %d (already there %d), logged in %d/%d, 503/429 retries %d, %.1fs\n",
			st.registered.Load(), st.existed.Load(), st.loggedIn.Load(), len(nd.login), st.retries.Load(),
			time.Since(start).Seconds())
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopTicker := make(chan struct{})
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-stopTicker:
				return
			}
		}
	}()

	ch := make(chan int)
	var wg sync.WaitGroup
	for range min(conc, len(jobs)) {
		wg.Go(func() {
			for i := range ch {
				u := users[i]
				if nd.register {
					code, err := withRetry(ctx, &st, func() (answer, error) {
						return cl.sendBody(ctx, request{method: "POST", path: "/api/auth/register", from: u.addr, body: registerBody(u.email, pw)})
					}, http.StatusCreated, http.StatusConflict)
					if err != nil {
						cancel(fmt.Errorf("register %s: %w", u.email, err))
						return
					}
					if code == http.StatusConflict {
						st.existed.Add(1)
					} else {
						st.registered.Add(1)
					}
				}
				if loginSet[i] {
					if err := login(ctx, cl, u, &st); err != nil {
						cancel(err)
						return
					}
					st.loggedIn.Add(1)
				}
			}
		})
	}
	func() {
		defer close(ch)
		for _, i := range jobs {
			select {
			case ch <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(stopTicker)
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	report()
	return nil
}

// login logs u in and keeps its access and refresh tokens.
func login(ctx context.Context, cl *client, u *user, st *setupStats) error {
	var last answer
	_, err := withRetry(ctx, st, func() (answer, error) {
		a, err := cl.sendBody(ctx, request{method: "POST", path: "/api/auth/login", from: u.addr, body: u.loginBody, cookie: u.deviceHeader()})
		last = a
		return a, err
	}, http.StatusOK)
	if err != nil {
		if he := (*httpError)(nil); errors.As(err, &he) && he.status == http.StatusBadRequest {
			err = fmt.Errorf("%w (was %s registered with this password? -seeded needs a -seed-only run with the same -prefix and -users)", err, u.email)
		}
		return fmt.Errorf("log in %s: %w", u.email, err)
	}
	access, refresh := last.access, last.refresh
	if access == "" || refresh == "" {
		return fmt.Errorf("log in %s: the answer set no access_token or refresh_token cookie", u.email)
	}
	u.access.Store(&access)
	u.refresh = refresh
	u.keepDevice(last)
	return nil
}

// withRetry calls do until it answers one of want. 503 (hashing queue
// full), 429 (throttled) and timeouts are retried, after the server's
// Retry-After, for at most a minute; any other answer is an error.
func withRetry(ctx context.Context, st *setupStats, do func() (answer, error), want ...int) (int, error) {
	const giveUp = time.Minute
	start := time.Now()
	for attempt := 1; ; attempt++ {
		a, err := do()
		var (
			wait time.Duration
			last error
		)
		switch {
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case err != nil && classify(err) == errTimeout:
			last, wait = err, 100*time.Millisecond
		case err != nil:
			return 0, err
		case a.code == http.StatusServiceUnavailable || a.code == http.StatusTooManyRequests:
			st.retries.Add(1)
			last = &httpError{a.code, snippet(a.body)}
			wait = retryAfter(a, 10*time.Second, func(d time.Duration) time.Duration { return rand.N(d) })
		default:
			for _, w := range want {
				if a.code == w {
					return w, nil
				}
			}
			return 0, &httpError{a.code, snippet(a.body)}
		}
		if time.Since(start)+wait > giveUp {
			if he := (*httpError)(nil); errors.As(last, &he) && he.status == http.StatusTooManyRequests {
				return 0, fmt.Errorf("%w\nauthd keeps throttling this client address: start it with its per-client limits off "+
					"(IP_LOGIN_PER_MINUTE=0 IP_REGISTER_PER_MINUTE=0 IP_REFRESH_PER_MINUTE=0), or with "+
					"TRUSTED_PROXIES=127.0.0.1 and give authload -xff", last)
			}
			return 0, fmt.Errorf("gave up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Second), last)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func forgotBody(email string) []byte {
	b, _ := json.Marshal(map[string]string{"email": email})
	return b
}
