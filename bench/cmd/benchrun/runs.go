package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/bench/internal/result"
	"github.com/authd/authd/internal/authdproc"
)

// startAuthd runs authd with production settings and waits for /readyz. alg
// is the key type; limits "off" turns the per-client rate limits off (all the
// load comes from one address), "on" keeps them at their defaults and trusts
// 127.0.0.1 as a proxy, so that authload -xff can give every virtual client
// its own address.
//
// COOKIE_SECURE=false: authload talks plain http. It reads Set-Cookie itself,
// but a client that keeps to the cookie rules (Go's cookiejar, for one) never
// sends a Secure cookie back over http, so with the production default the
// refresh flow would not work for a real client of this http URL. The setting
// only drops the Secure attribute; the work per request is the same.
func (b *bench) startAuthd(ctx context.Context, alg, limits string, settings ...string) error {
	var extra []string
	switch limits {
	case "off":
		extra = []string{"IP_LOGIN_PER_MINUTE=0", "IP_REGISTER_PER_MINUTE=0", "IP_REFRESH_PER_MINUTE=0"}
	case "on":
		extra = []string{"TRUSTED_PROXIES=127.0.0.1"}
	default:
		return fmt.Errorf("per-client limits %q: want on or off", limits)
	}
	mport, err := freePort()
	if err != nil {
		return err
	}
	// Profiles come from the private metrics listener (PPROF=true); the runs
	// that are profiled say so.
	metrics := []string{fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", mport), "PPROF=true"}
	extra = append(extra, settings...)
	a, err := b.runAuthd(ctx, alg, append(append([]string{"COOKIE_SECURE=false"}, extra...), metrics...), 100*time.Millisecond)
	if err != nil {
		return b.authdFailed(err)
	}
	a.mport = mport
	fmt.Fprintf(b.stderr, "authd (%s keys, per-client limits %s) pid %d on %s\n", alg, limits, a.proc.Cmd.Process.Pid, a.url)
	shown := append(extra, "METRICS_ADDR=127.0.0.1:$MPORT", "PPROF=true")
	b.commands = append(b.commands, fmt.Sprintf("# authd: %s keys, per-client limits %s: %s", alg, limits, strings.Join(shown, " ")))
	return nil
}

// goMemLimit is what deploy/base/deployment.yaml sets GOMEMLIMIT to with its
// memory limit of 128Mi (the limit in MiB, written as millions of bytes).
const goMemLimit = "128000000B"

// runAuthd starts authd serve with the alg keys, the database, the
// settings every run shares and extra, on PORT=0 (the kernel picks the port
// as authd binds it), and waits up to a minute, looking at /readyz every
// interval, until it is ready (authdproc.Run; on an error authd is gone).
// An empty environment and working directory: nothing of the caller's
// (DATABASE_URL, an ./app.env) leaks in.
func (b *bench) runAuthd(ctx context.Context, alg string, extra []string, every time.Duration) (*authd, error) {
	if b.authd != nil {
		return nil, errors.New("authd is already running")
	}
	env := append([]string{"PATH=" + os.Getenv("PATH")}, b.keys[alg]...)
	env = append(env, "DATABASE_URL="+b.dbURL, "LISTEN_HOST=127.0.0.1", "PORT=0",
		"BCRYPT_COST="+strconv.Itoa(bcryptCost), "LOG_LEVEL=warn", "GOMEMLIMIT="+goMemLimit)
	cmd := exec.Command(b.bin("authd"), "serve")
	cmd.Dir, cmd.Env = b.work, append(env, extra...)
	p, url, err := authdproc.Run(ctx, cmd, b.authdLog, 60*time.Second, every)
	if err != nil {
		return nil, err
	}
	a := &authd{proc: p, url: url}
	b.authd = a
	return a, nil
}

// authdFailed stops authd after err and adds its log to the error.
func (b *bench) authdFailed(err error) error {
	b.stopAuthd()
	log, _ := os.ReadFile(b.authdLog.Name())
	if len(log) > 4096 {
		log = log[len(log)-4096:]
	}
	return fmt.Errorf("authd: %w\n%s", err, log)
}

// stopAuthd stops the running authd, if any (SIGTERM: a graceful shutdown).
func (b *bench) stopAuthd() error {
	a := b.authd
	if a == nil {
		return nil
	}
	b.authd = nil
	return a.proc.Stop(30 * time.Second)
}

// measureStartup restarts authd five times (schema migrated) and returns the
// median time in milliseconds from starting the process to /readyz answering 200.
func (b *bench) measureStartup(ctx context.Context, alg string) (string, error) {
	var times []int64
	for range 5 {
		if err := b.stopAuthd(); err != nil {
			return "", err
		}
		t0 := time.Now()
		if _, err := b.runAuthd(ctx, alg, nil, 2*time.Millisecond); err != nil {
			return "", b.authdFailed(fmt.Errorf("during the start-up check: %w", err))
		}
		times = append(times, time.Since(t0).Milliseconds())
	}
	if err := b.stopAuthd(); err != nil {
		return "", err
	}
	list := strings.Trim(fmt.Sprint(times), "[]")
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	median := strconv.FormatInt(sorted[len(sorted)/2], 10)
	fmt.Fprintf(b.stderr, "start-up to ready: %s ms; median %s ms\n", list, median)
	b.commands = append(b.commands, "# start-up: five restarts of authd serve, ms from exec to /readyz 200: "+list)
	return median, nil
}

// load is one authload run with the common flags; with profile, authd's CPU
// is profiled over the measured window.
func (b *bench) load(ctx context.Context, label string, profiled bool, args ...string) error {
	cfg, a := b.cfg, b.authd
	if a == nil {
		return fmt.Errorf("%s: authd is not running", label)
	}
	common := []string{"-c", strconv.Itoa(cfg.C), "-d", cfg.Duration, "-warmup", cfg.Warmup,
		"-users", strconv.Itoa(cfg.Users), "-prefix", prefix, "-seeded"}
	var prof []string
	shown := fmt.Sprintf("bin/authload -url http://127.0.0.1:$PORT -pid $AUTHD_PID %s -json -label '%s' %s",
		strings.Join(common, " "), label, strings.Join(args, " "))
	file := ""
	if profiled {
		file = filepath.Join(b.work, "prof", fileName(label)+".pprof")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		prof = []string{"-cpuprofile-url", fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile", a.mport), "-cpuprofile", file}
		shown += " -cpuprofile-url http://127.0.0.1:$MPORT/debug/pprof/profile -cpuprofile " + filepath.Base(file)
	}
	if a.mport != 0 { // such as -metrics-url: the port as the other commands name it
		shown = strings.ReplaceAll(shown, fmt.Sprintf("127.0.0.1:%d/", a.mport), "127.0.0.1:$MPORT/")
	}
	b.commands = append(b.commands, shown)
	b.step(label)
	b.probes = append(b.probes, probeRun{label: label, took: speedProbe()})

	all := append([]string{"-url", a.url, "-pid", strconv.Itoa(a.proc.Cmd.Process.Pid)}, common...)
	if b.dbPID != 0 {
		all = append(all, "-db-pid", strconv.Itoa(b.dbPID))
	}
	all = append(append(append(all, "-json", "-label", label), prof...), args...)
	var out bytes.Buffer
	cmd := b.command(ctx, b.work, b.bin("authload"), all...)
	cmd.Stdout = io.MultiWriter(b.stdout, &out)
	if f := b.loadStarted; f != nil {
		b.loadStarted = nil
		cmd.Stderr = &startWatch{w: cmd.Stderr, marker: []byte("load: "), f: f}
	}
	var before counters
	counted := strings.HasPrefix(label, "refresh") && a.mport != 0
	if counted {
		var err error
		if before, err = scrapeCounters(ctx, a.mport); err != nil {
			return fmt.Errorf("%s: authd's metrics: %w", label, err)
		}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("authload %s: %w", label, err)
	}
	if counted {
		after, err := scrapeCounters(ctx, a.mport)
		if err != nil {
			return fmt.Errorf("%s: authd's metrics: %w", label, err)
		}
		if b.signatures == nil {
			b.signatures = map[string]signatureCount{}
		}
		b.signatures[label] = signatureCount{Signatures: after.signatures - before.signatures,
			Refreshes: after.refreshes - before.refreshes, Logins: after.logins - before.logins}
	}
	var requests int64 = -1
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			b.raw.WriteString(line + "\n")
			continue
		}
		b.results.WriteString(line + "\n")
		var r result.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("authload %s: its -json line: %w", label, err)
		}
		if requests < 0 {
			requests = r.Requests
		}
	}
	b.raw.WriteString("\n")
	if file != "" {
		if fi, err := os.Stat(file); err == nil && fi.Size() > 0 {
			b.profiles = append(b.profiles, profile{label: label, file: file, requests: max(requests, 0)})
		}
	}
	return sc.Err()
}

// repeat is BENCH_REPEAT runs of load; the last is profiled.
func (b *bench) repeat(ctx context.Context, label string, args ...string) error {
	for i := 1; i <= b.cfg.Repeat; i++ {
		if err := b.load(ctx, label, i == b.cfg.Repeat, args...); err != nil {
			return err
		}
	}
	return nil
}

// wrkMe runs wrk, if installed, against /api/users/me with one user's token.
func (b *bench) wrkMe(ctx context.Context) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil
	}
	token, err := b.login(ctx, prefix+"0@example.com")
	if err != nil {
		return fmt.Errorf("wrk: %w", err)
	}
	b.step("wrk against /api/users/me")
	out, err := b.output(ctx, b.work, "wrk", "-t2", fmt.Sprintf("-c%d", b.cfg.C), "-d"+b.cfg.Duration, "--latency",
		"-H", "Authorization: Bearer "+token, b.authd.url+"/api/users/me")
	if err != nil {
		return fmt.Errorf("wrk: %w", err)
	}
	out = strings.TrimRight(out, "\n")
	fmt.Fprintln(b.stdout, out)
	if rps := wrkRate(out); rps != "" {
		b.wrkFlags = append(b.wrkFlags, "-wrk", "me="+rps)
	}
	b.wrkOut = append(b.wrkOut, out)
	return nil
}

// login returns an access token of the seeded user email.
func (b *bench) login(ctx context.Context, email string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.authd.url+"/api/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	defer resp.Body.Close()
	b2, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	m := accessToken.FindSubmatch(b2)
	if resp.StatusCode != http.StatusOK || m == nil {
		return "", fmt.Errorf("log in: %s, no access token", resp.Status)
	}
	return string(m[1]), nil
}

var accessToken = regexp.MustCompile(`"access_token":"([^"]+)"`)

// wrkRate is the figure of wrk's "Requests/sec:" line, or "".
func wrkRate(out string) string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Requests/sec:" {
			return f[1]
		}
	}
	return ""
}

// fileName is label with everything but letters and digits made _.
func fileName(label string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, label)
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on just now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
