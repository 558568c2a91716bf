package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdproc"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// process is a running authd binary.
type process struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	logs *os.File
	done chan error
	a    *authdproc.Proc
}

// binDir holds the binary that buildBinary builds once for all tests.
var binDir string

var built = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "authd-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "authd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// buildBinary returns the authd binary, compiled once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// keyEnv runs `authd keygen` and returns its lines as environment entries.
func keyEnv(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "keygen", "-alg", "ES256").Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 5 || !strings.HasPrefix(lines[4], "MFA_ENCRYPTION_KEYS=") {
		t.Fatalf("keygen printed %d lines, want 4 keys and MFA_ENCRYPTION_KEYS", len(lines))
	}
	return lines
}

// start runs `authd serve` with env and waits until /readyz answers 200.
func start(t *testing.T, bin string, env []string) *process {
	t.Helper()
	p := launch(t, bin, env)
	p.waitReady(t)
	return p
}

// launch starts `authd serve` without waiting for it, with METRICS_ADDR=off
// unless env sets it: the default metrics listener is one fixed port, which
// processes started side by side would fight over.
func launch(t *testing.T, bin string, env []string) *process {
	t.Helper()
	return spawn(t, bin, append([]string{"METRICS_ADDR=off"}, env...))
}

// spawn starts `authd serve` with the test settings (a free PORT on
// loopback, insecure cookies, cheap hashes) and env, whose entries win, and
// nothing else: a variable env leaves out keeps authd's default.
func spawn(t *testing.T, bin string, env []string) *process {
	t.Helper()
	logs, err := os.Create(filepath.Join(t.TempDir(), "authd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir() // no app.env here
	// PORT=0: the kernel picks the port as authd binds it, so that no other
	// process can take it between a look for a free one and the bind.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PORT=0", "LISTEN_HOST=127.0.0.1",
		"COOKIE_SECURE=false", "BCRYPT_COST=10", "LOG_LEVEL=debug"}, env...)
	a, err := authdproc.Start(cmd, logs)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: logs, done: make(chan error, 1), a: a}
	go func() { <-a.Done(); p.done <- a.Err() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("authd log (%s):\n%s", p.base, b)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// If authd exits first, base stays "http://" and p.done keeps the exit.
	addr, err := a.Addr(ctx)
	if err != nil && !errors.Is(err, authdproc.ErrExited) {
		b, _ := os.ReadFile(logs.Name())
		t.Fatalf("%v after 60s:\n%s", err, b)
	}
	p.base = "http://" + addr
	return p
}

// waitReady polls /readyz until it answers 200.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := p.a.WaitReady(ctx, p.base, 20*time.Millisecond)
	if errors.Is(err, authdproc.ErrExited) {
		b, _ := os.ReadFile(p.logs.Name())
		t.Fatalf("%v\n%s", err, b)
	}
	if err != nil {
		t.Fatal("authd not ready after 30s")
	}
}

// walkthrough returns the shell block after marker in README.md and the
// statuses its "# ... → NNN" comments expect, in order.
func walkthrough(t *testing.T, marker string) (script string, want []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- walkthrough:"+marker+" -->\n```sh\n")
	if !ok {
		t.Fatalf("README has no %s walkthrough", marker)
	}
	script, _, _ = strings.Cut(rest, "```")
	for _, m := range regexp.MustCompile(`(?m)^#.*→ (\d{3})$`).FindAllStringSubmatch(script, -1) {
		want = append(want, m[1])
	}
	return script, want
}

// needWalkthroughTool checks that tool (curl or httpie) of a walkthrough
// is installed: curl must be, httpie (the http command) is a
// testenv.Missing gate.
func needWalkthroughTool(t *testing.T, tool string) {
	t.Helper()
	name := tool
	if tool == "httpie" {
		name = "http"
	}
	if _, err := exec.LookPath(name); err != nil {
		if tool == "curl" {
			t.Fatalf("%s is not installed", name)
		}
		testenv.Missing(t, name+" is not installed")
	}
}

// TestREADMEWalkthrough starts the real binary as the README says and runs
// the README's curl walkthrough against it, checking every status.
func TestREADMEWalkthrough(t *testing.T) {
	bin := buildBinary(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t)))
	for _, tool := range []string{"curl", "httpie"} {
		t.Run(tool, func(t *testing.T) {
			needWalkthroughTool(t, tool)
			script, want := walkthrough(t, tool)
			got := runWalkthrough(t, tool, script, p.base)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("statuses = %v, want %v", got, want)
			}
		})
	}
}

// runWalkthrough runs script with curl/http wrapped to record each status.
func runWalkthrough(t *testing.T, tool, script, base string) []string {
	t.Helper()
	dir := t.TempDir()
	statuses := filepath.Join(dir, "statuses")
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	script = strings.ReplaceAll(script, "localhost:8000", "127.0.0.1:"+port)
	script = strings.ReplaceAll(script, " :8000/", " 127.0.0.1:"+port+"/")
	var wrapper string
	switch tool {
	case "curl":
		wrapper = `curl() {
  local out
  out=$(command curl -sS -w '\n%{http_code}' "$@") || return 1
  printf '%s\n' "${out%$'\n'*}"
  printf '%s\n' "${out##*$'\n'}" >>"$STATUSES"
}
`
	case "httpie":
		wrapper = `http() {
  local out
  out=$(command http --ignore-stdin --print=hb --check-status "$@" 2>/dev/null)
  printf '%s\n' "$out" | head -n 1 | awk '{print $2}' >>"$STATUSES"
  printf '%s\n' "$out"
  return 0
}
`
	}
	cmd := exec.Command("bash", "-c", "set -u\n"+wrapper+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STATUSES="+statuses, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	// Every body printed must be JSON.
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "{") && !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %s", line)
		}
	}
	b, err := os.ReadFile(statuses)
	if err != nil {
		t.Fatalf("no statuses recorded: %v\n%s", err, out)
	}
	t.Logf("%s walkthrough output:\n%s", tool, out)
	return strings.Fields(string(b))
}

// TestBadConfigRefused: start-up lists every problem at once and exits 1.
func TestBadConfigRefused(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PORT=99999", "ACCESS_TOKEN_EXPIRED_IN=soon", "BCRYPT_COST=4"}
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit code = %d, want 1; output:\n%s", code, out)
	}
	for _, name := range []string{"PORT", "ACCESS_TOKEN_EXPIRED_IN", "BCRYPT_COST", "ACCESS_TOKEN_PRIVATE_KEY", "DATABASE_URL"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("error does not name %s:\n%s", name, out)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestSIGTERM: readiness turns 503 while draining, an in-flight request
// completes, and the process exits 0.
func TestSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "SHUTDOWN_TIMEOUT=10s", "SHUTDOWN_DELAY=1s"))
	// A slow request in flight: a login whose body arrives slowly.
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", p.base+"/api/auth/login", pr)
	req.Header.Set("Content-Type", "application/json")
	res := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	fmt.Fprint(pw, `{"email":"nobody@example.com",`)
	time.Sleep(200 * time.Millisecond) // let the request reach the handler; not a readiness wait
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// During SHUTDOWN_DELAY readiness is 503 while liveness still answers.
	deadline := time.Now().Add(time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness did not turn 503 after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprint(pw, `"password":"password123"}`)
	pw.Close()
	if got := <-res; got != http.StatusBadRequest {
		t.Errorf("in-flight login during shutdown: %d, want 400 (a completed login failure)", got)
	}
	select {
	case err := <-p.done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
		p.done <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("authd did not exit within the drain period")
	}
	// New connections are refused.
	if _, err := http.Get(p.base + "/healthz"); err == nil {
		t.Error("a new request was served after shutdown")
	}
}
