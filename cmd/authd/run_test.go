package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/token"
)

// testKeyEnv returns fresh ES256 key variables, as `authd keygen` prints them.
func testKeyEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, kind := range []string{"ACCESS", "REFRESH"} {
		priv, pub, err := token.GenerateKey("ES256")
		if err != nil {
			t.Fatal(err)
		}
		env[kind+"_TOKEN_PRIVATE_KEY"] = base64.StdEncoding.EncodeToString(priv)
		env[kind+"_TOKEN_PUBLIC_KEY"] = base64.StdEncoding.EncodeToString(pub)
	}
	return env
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestRunInProcess: run serves on PORT=0, says where in its log, becomes
// ready, and returns nil when its context ends.
func TestRunInProcess(t *testing.T) {
	t.Chdir(t.TempDir()) // no app.env
	env := testKeyEnv(t)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["PORT"] = "0"
	env["LISTEN_HOST"] = "127.0.0.1"
	env["METRICS_ADDR"] = "127.0.0.1:0"
	env["BCRYPT_COST"] = "10"
	env["SHUTDOWN_TIMEOUT"] = "5s"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, lookup(env), nil, logw, io.Discard)
		logw.Close()
	}()

	// Both listeners are open before anything is served, and logged.
	addrs := map[string]string{}
	sc := bufio.NewScanner(logs)
	for len(addrs) < 2 && sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Addr != "" {
			addrs[line.Msg] = line.Addr
		}
	}
	go io.Copy(io.Discard, logs)
	base := "http://" + addrs["authd listening"]
	if _, port, _ := net.SplitHostPort(addrs["authd listening"]); port == "" || port == "0" {
		t.Fatalf("listen addresses from the log: %v", addrs)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addrs["metrics listening"] + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics listener: %v %v", resp, err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the API still answers after run returned")
	}
}

// TestMetricsListenFails: a metrics address that cannot be bound stops
// start-up with an error, and the API port is not left serving.
func TestMetricsListenFails(t *testing.T) {
	t.Chdir(t.TempDir())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(api.Addr().String())
	api.Close()

	env := testKeyEnv(t)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["PORT"] = port
	env["LISTEN_HOST"] = "127.0.0.1"
	env["METRICS_ADDR"] = busy.Addr().String()
	env["BCRYPT_COST"] = "10"
	err = run(t.Context(), []string{"serve"}, lookup(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "metrics listen") {
		t.Fatalf("run with a busy METRICS_ADDR: %v", err)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Error("the API port is still open after start-up failed")
	}
}

// TestSameKeysRefused: one key for both token kinds is refused under the
// variable's name, and the key never appears in the error.
func TestSameKeysRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	env := testKeyEnv(t)
	env["REFRESH_TOKEN_PRIVATE_KEY"] = env["ACCESS_TOKEN_PRIVATE_KEY"]
	env["REFRESH_TOKEN_PUBLIC_KEY"] = ""
	env["DATABASE_URL"] = "postgres://127.0.0.1:1/none"
	err := run(t.Context(), []string{"serve"}, lookup(env), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "REFRESH_TOKEN_PRIVATE_KEY: must be a different key from ACCESS_TOKEN_PRIVATE_KEY") {
		t.Fatalf("same keys: %v", err)
	}
	if strings.Contains(err.Error(), env["ACCESS_TOKEN_PRIVATE_KEY"][:40]) {
		t.Errorf("the error shows the key: %v", err)
	}
}

// TestHelp: -h, -help, --help and help print the command list and succeed.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "-help", "--help"} {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), []string{arg}, lookup(nil), nil, &out, &errOut); err != nil {
			t.Errorf("authd %s: %v", arg, err)
		}
		if out.String() != usage || errOut.Len() != 0 {
			t.Errorf("authd %s printed %q and %q, want the usage", arg, out.String(), errOut.String())
		}
	}
}
