package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var scenarios = []string{"me", "refresh", "login", "register", "health", "mixed", "forgot", "devicelogin", "stuffing"}

// ownsUser: every worker owns one seeded user, logged in by the setup: its
// refresh-token chain (refresh, mixed), or its browser with the device
// cookie of that login (devicelogin).
func ownsUser(s string) bool { return s == "refresh" || s == "mixed" || s == "devicelogin" }

// needsTokens: requests pick random seeded users' access tokens.
func needsTokens(s string) bool { return s == "me" || s == "mixed" }

// needsUsers: the scenario works on seeded accounts.
func needsUsers(s string) bool { return s != "health" && s != "register" }

// group is a set of workers running one scenario: the measured one, or the
// background flood of -during.
type group struct {
	scenario  string
	conc      int
	tag       string // in fresh register emails, so the groups never collide
	addrBase  int    // worker i's -xff address is benchAddr(addrBase+i)
	chainBase int    // users[chainBase+i] is worker i's own user (ownsUser)
	// rotBase and rotSpan, for devicelogin with -xff: worker i's n-th login
	// comes from benchAddr(rotBase + (n*conc+i) % rotSpan), a new address
	// each time (see rotatingAddr).
	rotBase, rotSpan int
	recs             []*recorder
}

// runner is what the workers share.
type runner struct {
	cl       *client
	users    []*user
	prefix   string
	runID    string // in fresh register emails, so that runs never collide
	password string
	// The measured window: requests started in it are counted.
	mStart, mEnd time.Time
	relogins     atomic.Int64
	// honorRetry: after a 503 or 429, a worker waits the answer's
	// Retry-After before its next request, as a well-behaved client does.
	honorRetry bool
	// forgetDevice (-forget-device): logins send no device cookie, as
	// from a fresh browser each time.
	forgetDevice bool
	// stuffAddrs (-stuff-addrs): with -xff, each stuffing request comes
	// from one of this many addresses, at random.
	stuffAddrs int

	mu    sync.Mutex
	other []string // a few distinct "other" errors, as examples
}

func (r *runner) noteOther(err error) {
	msg := err.Error()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.other) < 5 && !strings.Contains(strings.Join(r.other, "\n"), msg) {
		r.other = append(r.other, msg)
	}
}

// worker is one virtual user: a loop of requests, one at a time.
type worker struct {
	r     *runner
	g     *group
	id    int
	rng   *rand.Rand
	rec   *recorder
	addr  string // X-Forwarded-For of this virtual client (-xff), or ""
	chain *user  // the user this worker owns (ownsUser), if any
	ctok  string // the chain's current refresh token
	regN  int
	sent  int // devicelogin requests sent, for rotatingAddr
}

// pick chooses the kind of the next request.
func (w *worker) pick() kind {
	switch w.g.scenario {
	case "me":
		return kindMe
	case "refresh":
		return kindRefresh
	case "login":
		return kindLogin
	case "register":
		return kindRegister
	case "health":
		return kindHealth
	case "forgot":
		return kindForgot
	case "devicelogin":
		return kindDeviceLogin
	case "stuffing":
		return kindStuffing
	}
	// mixed: a realistic blend.
	switch n := w.rng.IntN(100); {
	case n < 80:
		return kindMe
	case n < 90:
		return kindRefresh
	case n < 95:
		return kindLogin
	case n < 99:
		return kindHealth
	default:
		return kindRegister
	}
}

// loop sends requests until stop ends; hard ends the requests in flight (at
// the end of the drain period, or on Ctrl-C).
func (w *worker) loop(stop, hard context.Context) {
	for stop.Err() == nil {
		if !w.one(stop, hard, time.Now(), true) {
			return
		}
	}
}

// loopOpen sends a request for each start time it takes from sched (the
// open loop of -rate), until sched closes or hard ends. Each request is
// timed from its intended start, not from when a worker was free to send
// it: a server that stalls delays every request due meanwhile, and their
// latency shows it, rather than the stall holding the clients back.
func (w *worker) loopOpen(stop, hard context.Context, sched <-chan time.Time) {
	for {
		select {
		case start, ok := <-sched:
			if !ok || !w.one(stop, hard, start, false) {
				return
			}
		case <-hard.Done():
			return
		}
	}
}

// loopPaced is devicelogin's open loop (-rate): the worker's user logs in
// on a schedule of its own, every interval from first, whatever the
// answers. One login of a user is in flight at a time, as a person waits
// for the answer; a login due while the previous one is still out is sent
// when it returns, and its latency still counts from when it was due.
// Every login due before the window's end is sent, even after it (until
// hard ends): a backlog the server left is counted, not dropped.
func (w *worker) loopPaced(stop, hard context.Context, first time.Time, interval time.Duration) {
	for n := 0; ; n++ {
		at := first.Add(time.Duration(n) * interval)
		if !at.Before(w.r.mEnd) {
			return
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-hard.Done():
				return
			}
		}
		if !w.one(stop, hard, at, false) {
			return
		}
	}
}

// one sends one request that was due at start and records it if start is
// in the measured window. closed is the closed loop: after a refused
// connection or (with -retry-after) a 503 or 429 the worker waits, as a
// client would. It reports false when hard cut the request off.
func (w *worker) one(stop, hard context.Context, start time.Time, closed bool) bool {
	{
		k := w.pick()
		a, err := w.do(hard, k)
		code := a.code
		elapsed := time.Since(start)
		if err != nil && hard.Err() != nil {
			return false // cut off by us, not a result
		}
		counted := !start.Before(w.r.mStart) && start.Before(w.r.mEnd)
		s := w.rec[k]
		switch {
		case !counted:
		case err != nil:
			e := classify(err)
			s.fail(e)
			if e == errOther {
				w.r.noteOther(err)
			}
		default:
			s.answer(code, elapsed)
		}
		if closed && err != nil && classify(err) == errRefused {
			// Nothing listens: count it, but do not spin.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-stop.Done():
			}
		}
		if closed && w.r.honorRetry && err == nil && (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) {
			select {
			case <-time.After(retryAfter(a, 10*time.Second, func(d time.Duration) time.Duration { return time.Duration(w.rng.Int64N(int64(d))) })):
			case <-stop.Done():
			}
		}
		if k == kindRefresh && err == nil && code == http.StatusForbidden {
			if counted {
				s.errs[errChainBroken]++
			}
			w.relogin(stop)
		}
	}
	return true
}

// schedule sends a start time every 1/rate from t0 until stop ends, then
// closes sched. A start time that finds sched full (every worker busy and
// the backlog at its cap) is not sent; it is counted in missed, since the
// open loop could no longer keep its schedule.
func schedule(stop context.Context, t0 time.Time, rate float64, sched chan<- time.Time, missed *atomic.Int64) {
	defer close(sched)
	interval := time.Duration(float64(time.Second) / rate)
	for i := int64(0); ; i++ {
		at := t0.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-stop.Done():
				return
			}
		} else if stop.Err() != nil {
			return
		}
		select {
		case sched <- at:
		default:
			missed.Add(1)
		}
	}
}

// do sends one request of kind k and returns its answer.
func (w *worker) do(ctx context.Context, k kind) (answer, error) {
	r := w.r
	var (
		a   answer
		err error
	)
	switch k {
	case kindHealth:
		a, err = r.cl.send(ctx, request{method: "GET", path: "/healthz", from: w.addr})
	case kindMe:
		tok := r.users[w.rng.IntN(len(r.users))].token()
		a, err = r.cl.send(ctx, request{method: "GET", path: "/api/users/me", from: w.addr, bearer: tok})
	case kindLogin:
		u := r.users[w.rng.IntN(len(r.users))]
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/login", from: w.addr, body: u.loginBody, cookie: w.device(u)})
		w.keepDevice(u, a, err)
	case kindDeviceLogin:
		// The worker's own user, from its browser: the device cookie of
		// its setup login (or of its last answer).
		u := w.chain
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/login", from: w.rotatingAddr(), body: u.loginBody, cookie: w.device(u)})
		w.keepDevice(u, a, err)
	case kindStuffing:
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/login", from: w.stuffingAddr(), body: w.stuffingBody()})
	case kindRegister:
		w.regN++
		email := strings.ToLower(fmt.Sprintf("%sr%s%s%d-%d@example.com", r.prefix, r.runID, w.g.tag, w.id, w.regN))
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/register", from: w.addr, body: registerBody(email, r.password)})
	case kindForgot:
		// Half to seeded accounts, half to addresses nobody registered: the
		// answer and the work must be the same for both.
		email := r.users[w.rng.IntN(len(r.users))].email
		if w.rng.IntN(2) == 0 {
			email = fmt.Sprintf("%snobody%d@example.com", r.prefix, w.rng.IntN(len(r.users)))
		}
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/forgotpassword", from: w.addr, body: forgotBody(email)})
	case kindRefresh:
		a, err = r.cl.send(ctx, request{method: "POST", path: "/api/auth/refresh", from: w.addr, cookie: "refresh_token=" + w.ctok})
		if err == nil && a.code == http.StatusOK {
			if a.refresh == "" {
				return a, errors.New("refresh answered 200 without a new refresh_token cookie")
			}
			w.ctok = a.refresh // the rotation: the old token is now dead
		}
		// On any other answer keep the token: if the server did rotate
		// before failing, presenting the old one again within the reuse
		// grace gets the successor.
	}
	return a, err
}

// device is the Cookie header of a login of u: its device id, unless
// -forget-device.
func (w *worker) device(u *user) string {
	if w.r.forgetDevice {
		return ""
	}
	return u.deviceHeader()
}

// keepDevice keeps the device id of a login answer, as a browser does.
func (w *worker) keepDevice(u *user, a answer, err error) {
	if err == nil && !w.r.forgetDevice {
		u.keepDevice(a)
	}
}

// rotatingAddr is the X-Forwarded-For of the worker's next devicelogin: with
// -xff a new address each time. A user logs in here once a second or so,
// a day's logins in a minute; from one address that would soon pass the
// per-address login limit (IP_LOGIN_PER_MINUTE), which is not what the
// scenario measures.
func (w *worker) rotatingAddr() string {
	if w.addr == "" || w.g.rotSpan <= 0 {
		return w.addr
	}
	n := w.sent
	w.sent++
	return benchAddr(w.g.rotBase + (n*w.g.conc+w.id)%w.g.rotSpan)
}

// stuffingShare is the percentage of stuffing attempts that name a seeded
// account (with a wrong password); the others name accounts nobody
// registered.
const stuffingShare = 10

// stuffingBody is one credential-stuffing attempt: a wrong password for a
// random account, most of them never registered (a fresh address each
// time), the rest seeded ones.
func (w *worker) stuffingBody() []byte {
	r := w.r
	pw := fmt.Sprintf("stuffed-%016x", w.rng.Uint64())
	if w.rng.IntN(100) < stuffingShare {
		return loginBody(r.users[w.rng.IntN(len(r.users))].email, pw)
	}
	return loginBody(strings.ToLower(fmt.Sprintf("%sstuffed%s-%x@example.com", r.prefix, r.runID, w.rng.Uint64())), pw)
}

// stuffingAddr is the X-Forwarded-For of the next stuffing attempt: with
// -xff one of the first -stuff-addrs addresses of the flood's range, at
// random, so that no one address sends enough to meet the per-address
// limits.
func (w *worker) stuffingAddr() string {
	if w.addr == "" {
		return ""
	}
	return benchAddr(addrFloodBase + w.rng.IntN(w.r.stuffAddrs))
}

// relogin restarts a broken refresh chain with a fresh session. It is not
// measured, but it takes the worker's time.
func (w *worker) relogin(stop context.Context) {
	u := w.chain
	for attempt := 0; attempt < 20 && stop.Err() == nil; attempt++ {
		a, err := w.r.cl.send(stop, request{method: "POST", path: "/api/auth/login", from: w.addr, body: u.loginBody, cookie: w.device(u)})
		w.keepDevice(u, a, err)
		if err == nil && a.code == http.StatusOK {
			access, refresh := a.access, a.refresh
			if access != "" && refresh != "" {
				u.access.Store(&access) // the old session may be revoked: me requests need this one
				w.ctok = refresh
				w.r.relogins.Add(1)
				return
			}
		}
		select {
		case <-time.After(retryAfter(a, 2*time.Second, func(d time.Duration) time.Duration { return time.Duration(w.rng.Int64N(int64(d))) })):
		case <-stop.Done():
		}
	}
}
