package authdproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

// TestMain doubles as a stand-in for authd when the test binary is run with
// FAKE_AUTHD set: it listens on LISTEN_HOST:0 (and on METRICS_ADDR if set),
// logs "authd listening" at info unless LOG_LEVEL is warn, and answers
// /readyz 200.
func TestMain(m *testing.M) {
	if os.Getenv("FAKE_AUTHD") == "" {
		os.Exit(m.Run())
	}
	if os.Getenv("FAKE_AUTHD") == "fail" {
		fmt.Println(`{"level":"ERROR","msg":"configuration","error":"no keys"}`)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if m := os.Getenv("METRICS_ADDR"); m != "" {
		if _, err := net.Listen("tcp", m); err != nil {
			panic(err)
		}
	}
	if os.Getenv("LOG_LEVEL") != "warn" {
		fmt.Printf(`{"level":"INFO","msg":"authd listening","addr":%q}`+"\n", ln.Addr())
	}
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
}

func fake(t *testing.T, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{"FAKE_AUTHD=1"}, env...)
	return cmd
}

func TestRun(t *testing.T) {
	cases := []struct {
		name string
		env  []string
	}{{"from the log", nil}}
	if runtime.GOOS == "linux" {
		cases = append(cases, struct {
			name string
			env  []string
		}{"from /proc", []string{"LOG_LEVEL=warn", "METRICS_ADDR=127.0.0.1:" + testenv.FreePort(t)}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			p, base, err := Run(t.Context(), fake(t, tc.env...), &log, 10*time.Second, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			if !strings.HasPrefix(base, "http://127.0.0.1:") {
				t.Errorf("base = %q, want http://127.0.0.1:PORT", base)
			}
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := p.Stop(5 * time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExitFirst(t *testing.T) {
	var log bytes.Buffer
	cmd := fake(t)
	cmd.Env = []string{"FAKE_AUTHD=fail"}
	_, _, err := Run(t.Context(), cmd, &log, 10*time.Second, 10*time.Millisecond)
	if !errors.Is(err, ErrExited) {
		t.Errorf("err = %v, want ErrExited", err)
	}
	if !strings.Contains(log.String(), "no keys") {
		t.Errorf("log = %q, want authd's output", log.String())
	}
}

func TestWatcher(t *testing.T) {
	for _, line := range []string{
		`{"time":"x","level":"INFO","msg":"authd listening","addr":"127.0.0.1:4242","version":"dev"}`,
		`time=x level=INFO msg="authd listening" addr=127.0.0.1:4242 version=dev`,
	} {
		var out bytes.Buffer
		w := &watcher{w: &out, found: make(chan struct{})}
		for _, part := range []string{"other line\n" + line[:20], line[20:], "\nmore\n"} {
			w.Write([]byte(part))
		}
		if w.addr != "127.0.0.1:4242" {
			t.Errorf("%s: addr %q", line, w.addr)
		}
		if !strings.Contains(out.String(), line) {
			t.Errorf("not written through: %q", out.String())
		}
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
	} {
		if got, err := parseAddr(tc.in); err != nil || got != tc.want {
			t.Errorf("parseAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
