package main

import (
	"debug/elf"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

// TestContainerLikeRun checks what can be checked of the image without a
// Docker engine: the binary built with the Dockerfile's flags is static, and
// it serves as an unprivileged user from a read-only working directory with
// no HOME, as in distroless with readOnlyRootFilesystem.
func TestContainerLikeRun(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // reachable by the unprivileged user
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "authd")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v: not static", libs)
	}
	f.Close()
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MB", float64(fi.Size())/(1<<20))
	}

	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "PORT="+port, "LISTEN_HOST=127.0.0.1", "SHUTDOWN_TIMEOUT=5s",
		"METRICS_ADDR=off") // the default metrics port is one for every test; see launch
	cmd := exec.Command(bin, "serve")
	cmd.Dir = readOnly
	cmd.Env = env // no HOME, no PATH
	if os.Getuid() == 0 {
		// The test database's socket belongs to the postgres user; any
		// non-root user shows the point.
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "no unprivileged postgres user to run as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready as an unprivileged user in a read-only directory:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hc := exec.Command(bin, "healthcheck", "-url", base+"/healthz")
	hc.Dir = readOnly
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("authd healthcheck: %v %s", err, out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("no exit after SIGTERM")
	}
}
