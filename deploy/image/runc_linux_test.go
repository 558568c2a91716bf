package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

var startupRuns = flag.Int("startup-runs", 3, "how many times TestStartupTime starts the server container")

// ociRuntime is runc with a state directory of the test's own.
type ociRuntime struct {
	runc string
	root string // runc --root
}

// newRuntime finds runc and umoci. Without them, or without root (runc
// here runs rootful containers), the test is skipped, unless CI is set:
// then it fails.
func newRuntime(t *testing.T) *ociRuntime {
	t.Helper()
	testenv.Need(t, os.Geteuid() == 0, "runc needs root here (rootful containers)")
	rt := &ociRuntime{runc: tool(t, "runc"), root: t.TempDir()}
	tool(t, "umoci")
	return rt
}

var unpacked struct {
	once   sync.Once
	rootfs string
	err    error
}

// unpack unpacks the test image with umoci, once per test binary, and
// returns its root filesystem. umoci checks every blob's digest on the way.
// Containers share it: their root is read-only.
func unpack(t *testing.T) string {
	t.Helper()
	_, layout := testImage(t)
	unpacked.once.Do(func() {
		bundle := filepath.Join(filepath.Dir(layout), "bundle")
		out, err := exec.Command("umoci", "unpack", "--image", layout+":"+hostTag, bundle).CombinedOutput()
		if err != nil {
			unpacked.err = fmt.Errorf("umoci unpack: %v\n%s", err, out)
			return
		}
		unpacked.rootfs = filepath.Join(bundle, "rootfs")
	})
	if unpacked.err != nil {
		t.Fatal(unpacked.err)
	}
	return unpacked.rootfs
}

// imageDefaults is how `docker run --rm IMAGE args...` runs the image: its
// user and environment, args instead of its command, here also with a
// read-only root and no capabilities.
func imageDefaults(t *testing.T, img imageConfig, args ...string) podContainer {
	t.Helper()
	u, g, _ := strings.Cut(img.Config.User, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not uid:gid", img.Config.User)
	}
	return podContainer{
		name: args[0], args: append(slices.Clone(img.Config.Entrypoint), args...), env: img.Config.Env,
		uid: uint32(uid), gid: uint32(gid), readOnly: true, noNewPrivs: true, grace: 10,
	}
}

// runtimeConfig is the container's config.json: what containerd asks of
// runc for a pod's container, as far as this machine allows.
//   - The mounts, masked and read-only paths are `runc spec`'s defaults.
//   - No process.rlimits: this machine refuses setrlimit to containers
//     (docs/operations.md), and the CRI sets none by default either.
//   - The network namespace is netns (the pod's), or a new one with only
//     loopback when netns is empty.
//   - No seccomp profile: RuntimeDefault is containerd's, not runc's.
func runtimeConfig(rootfs, netns, hostname string, pc podContainer, cwd string) map[string]any {
	caps := pc.caps
	if caps == nil {
		caps = []string{}
	}
	user := map[string]any{"uid": pc.uid, "gid": pc.gid}
	if len(pc.groups) > 0 {
		user["additionalGids"] = pc.groups
	}
	network := map[string]any{"type": "network"}
	if netns != "" {
		network["path"] = netns
	}
	resources := map[string]any{"devices": []any{map[string]any{"allow": false, "access": "rwm"}}}
	if pc.memoryLimit > 0 {
		resources["memory"] = map[string]any{"limit": pc.memoryLimit}
	}
	if pc.cpuQuota > 0 {
		resources["cpu"] = map[string]any{"quota": pc.cpuQuota, "period": 100000}
	}
	mount := func(dst, typ, src string, opts ...string) map[string]any {
		return map[string]any{"destination": dst, "type": typ, "source": src, "options": opts}
	}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     user,
			"args":     pc.args,
			"env":      pc.env,
			"cwd":      cwd,
			"capabilities": map[string]any{
				"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps,
			},
			"noNewPrivileges": pc.noNewPrivs,
		},
		"root":     map[string]any{"path": rootfs, "readonly": pc.readOnly},
		"hostname": hostname,
		"mounts": []any{
			map[string]any{"destination": "/proc", "type": "proc", "source": "proc"},
			mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
			mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
			mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
			mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
			mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
			mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
		},
		"linux": map[string]any{
			"resources": resources,
			"namespaces": []any{
				map[string]any{"type": "pid"}, network, map[string]any{"type": "ipc"},
				map[string]any{"type": "uts"}, map[string]any{"type": "mount"},
			},
			"maskedPaths": []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// container is a `runc run` in the foreground: its exit status is the
// container's.
type container struct {
	rt      *ociRuntime
	id      string
	dir     string // bundle: config.json, stdout, stderr
	started time.Time
	done    chan struct{}
	err     error // from Wait, once done is closed
}

// start runs pc from rootfs in netns ("" for a network of its own).
func (rt *ociRuntime) start(t *testing.T, rootfs, netns string, pc podContainer, img imageConfig) *container {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	c := &container{rt: rt, id: "authd-" + pc.name + "-" + hex.EncodeToString(b), dir: t.TempDir(), done: make(chan struct{})}
	cwd := img.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	config, err := json.MarshalIndent(runtimeConfig(rootfs, netns, "authd-pod", pc, cwd), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, err1 := os.Create(filepath.Join(c.dir, "stdout"))
	stderr, err2 := os.Create(filepath.Join(c.dir, "stderr"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command(rt.runc, "--root", rt.root, "run", "--bundle", c.dir, c.id)
	cmd.Stdout, cmd.Stderr = stdout, stderr // files, not pipes: nothing waits on the container's descriptors
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("runc run: %v", err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			rt.runcCmd("kill", c.id, "KILL").Run()
			<-c.done
		}
		if out, err := rt.runcCmd("delete", "--force", c.id).CombinedOutput(); err != nil && !bytes.Contains(out, []byte("does not exist")) {
			t.Errorf("runc delete %s: %v %s", c.id, err, out)
		}
		if t.Failed() {
			stdout := c.output(t, "stdout")
			if pc.secretStdout {
				stdout = "(not shown: secrets)"
			}
			t.Logf("%s stdout:\n%s\nstderr:\n%s", c.id, stdout, c.output(t, "stderr"))
		}
	})
	return c
}

func (rt *ociRuntime) runcCmd(args ...string) *exec.Cmd {
	return exec.Command(rt.runc, append([]string{"--root", rt.root}, args...)...)
}

// output is what the container wrote to stdout or stderr so far.
func (c *container) output(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wait waits up to limit for the container to exit and returns its exit code.
func (c *container) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(limit):
		t.Fatalf("%s still running after %s", c.id, limit)
	}
	var ee *exec.ExitError
	switch {
	case c.err == nil:
		return 0
	case errors.As(c.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("runc run %s: %v", c.id, c.err)
	return -1
}

// run runs pc to its end and returns its stdout; it must exit 0.
func (rt *ociRuntime) run(t *testing.T, rootfs, netns string, pc podContainer, img imageConfig) string {
	t.Helper()
	c := rt.start(t, rootfs, netns, pc, img)
	if code := c.wait(t, time.Duration(pc.grace+60)*time.Second); code != 0 {
		t.Fatalf("%s exited %d", strings.Join(pc.args, " "), code) // the cleanup shows its output
	}
	return c.output(t, "stdout")
}

// exec runs args in the running container (`kubectl exec`), as its
// process's user, and returns its stdout and stderr.
func (c *container) exec(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.rt.runc, append([]string{"--root", c.rt.root, "exec", c.id}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// pid is the container's first process, on the host.
func (c *container) pid(t *testing.T) int {
	t.Helper()
	out, err := c.rt.runcCmd("state", c.id).Output()
	if err != nil {
		t.Fatalf("runc state: %v", err)
	}
	var st struct{ Pid int }
	if err := json.Unmarshal(out, &st); err != nil || st.Pid == 0 {
		t.Fatalf("runc state: %s", out)
	}
	return st.Pid
}

// keygenSecrets runs `authd keygen` from the image, as deploy/README.md says
// (`docker run --rm IMAGE keygen`), and returns its keys as the Secret's.
func keygenSecrets(t *testing.T, rt *ociRuntime, rootfs string, img imageConfig) map[string]string {
	t.Helper()
	pc := imageDefaults(t, img, "keygen", "-alg", "ES256")
	pc.secretStdout = true
	out := rt.run(t, rootfs, "", pc, img)
	keys := map[string]string{}
	for _, line := range strings.Fields(out) {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("keygen printed %q", line)
		}
		keys[name] = value
	}
	if keys["ACCESS_TOKEN_PRIVATE_KEY"] == "" || keys["REFRESH_TOKEN_PRIVATE_KEY"] == "" {
		t.Fatalf("keygen printed no private keys:\n%s", out)
	}
	return keys
}

// podClient talks HTTP to the pod network.
func podClient(n *podNetwork) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}, Timeout: 15 * time.Second}
}

// waitStatus polls url until it answers want, and returns how long after
// the container's start that was.
func waitStatus(t *testing.T, c *container, client *http.Client, url string, want int, limit time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return time.Since(c.started)
			}
		}
		select {
		case <-c.done:
			t.Fatalf("%s exited (%v) before %s answered %d", c.id, c.err, url, want) // the cleanup shows its output
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s", url, want, limit)
		}
	}
}

// TestKubernetesRun runs the image in runc as deploy/base says: keys from
// `keygen` in the image, the migrate Job, then the Deployment's container
// (its user, groups, capabilities, read-only root, limits, environment from
// config.env and the Secret), in a pod network of its own. It checks the
// probes, the metrics port, a register → login → refresh → logout round
// trip, `authd healthcheck` by exec, and that SIGTERM drains and exits 0
// within the grace period.
func TestKubernetesRun(t *testing.T) {
	rt := newRuntime(t)
	img, _ := testImage(t)
	cfg := readConfig(t, img)
	rootfs := unpack(t)

	if got := rt.run(t, rootfs, "", imageDefaults(t, cfg, "version"), cfg); got != "authd "+testVersion+"\n" {
		t.Errorf("authd version printed %q", got)
	}
	keys := keygenSecrets(t, rt, rootfs, cfg)

	pod := newPodNetwork(t)
	keys["DATABASE_URL"] = forwardPostgres(t, pod, dbtest.EmptyURL(t))
	secrets := map[string]map[string]string{"authd-secrets": keys}

	// deploy/README.md, step 5: the Job migrates, the server does not.
	job := fromManifest(t, "../base/migrate-job.yaml", cfg, secrets)
	t.Logf("migrate Job: %s", strings.Join(job.args, " "))
	rt.run(t, rootfs, pod.path, job, cfg)

	server := fromManifest(t, "../base/deployment.yaml", cfg, secrets)
	c := rt.start(t, rootfs, pod.path, server, cfg)
	client := podClient(pod)
	url := func(kind string) string {
		return fmt.Sprintf("http://127.0.0.1:%d%s", server.probePorts[kind], server.probes[kind])
	}
	ready := waitStatus(t, c, client, url("readiness"), http.StatusOK, 30*time.Second)
	t.Logf("%s: container start → readiness probe 200 in %s", strings.Join(server.args, " "), ready.Round(time.Millisecond))

	checkProcess(t, c.pid(t), server)
	for _, kind := range []string{"startup", "liveness", "readiness"} {
		if _, ok := server.probes[kind]; !ok {
			t.Errorf("the Deployment has no %s probe", kind)
			continue
		}
		if got := get(t, client, url(kind)); got != http.StatusOK {
			t.Errorf("%s probe %s: %d", kind, url(kind), got)
		}
	}
	if got := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/metrics", server.ports["metrics"])); got != http.StatusOK {
		t.Errorf("metrics port %d: /metrics answered %d", server.ports["metrics"], got)
	}
	roundTrip(t, client, fmt.Sprintf("http://127.0.0.1:%d", server.ports["http"]))

	if out, errOut, err := c.exec(binaryPath, "healthcheck"); err != nil || out != "ok\n" {
		t.Errorf("runc exec authd healthcheck: %v, stdout %q, stderr %q", err, out, errOut)
	}
	if out, _, err := c.exec("/bin/sh", "-c", "true"); err == nil {
		t.Errorf("runc exec /bin/sh worked: the image has a shell (%q)", out)
	}

	// What the kubelet does to stop the pod: SIGTERM, then SIGKILL after the
	// grace period. authd is PID 1 in the container.
	if out, err := c.rt.runcCmd("kill", c.id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("runc kill TERM: %v %s", err, out)
	}
	term := time.Now()
	waitStatus(t, c, client, url("readiness"), http.StatusServiceUnavailable, 2*time.Second)
	if got := get(t, client, url("liveness")); got != http.StatusOK {
		t.Errorf("while draining, the liveness probe answered %d, want 200", got)
	}
	if code := c.wait(t, time.Duration(server.grace)*time.Second); code != 0 {
		t.Errorf("exit status after SIGTERM: %d, want 0", code)
	}
	t.Logf("SIGTERM → exit in %s (terminationGracePeriodSeconds %d)", time.Since(term).Round(time.Millisecond), server.grace)
	logs := c.output(t, "stdout") + c.output(t, "stderr")
	for _, msg := range []string{`"msg":"authd listening"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("the logs have no %s", msg)
		}
	}
}

// checkProcess reads the container's process from the host: the user,
// groups, capabilities and no_new_privs asked for, a read-only root, and
// listening sockets on every address (a kubelet probes the pod's IP, not
// loopback).
func checkProcess(t *testing.T, pid int, pc podContainer) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
	}
	id := func(n uint32) string { s := strconv.Itoa(int(n)); return strings.Join([]string{s, s, s, s}, " ") }
	want := map[string]string{
		"Uid": id(pc.uid), "Gid": id(pc.gid),
		"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000",
		"CapBnd": "0000000000000000", "CapAmb": "0000000000000000",
		"NoNewPrivs": "1",
	}
	var groups []string
	for _, g := range pc.groups {
		groups = append(groups, strconv.Itoa(int(g)))
	}
	want["Groups"] = strings.Join(groups, " ")
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("container process %s: %q, want %q", k, fields[k], v)
		}
	}

	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	rootRO := false
	for line := range strings.SplitSeq(string(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			rootRO = slices.Contains(strings.Split(f[5], ","), "ro") // the last mount on / is the one seen
		}
	}
	if !rootRO {
		t.Error("the container's root is not mounted read-only")
	}

	listening := map[int]string{} // port → local address
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" { // TCP_LISTEN
				continue
			}
			addr, port, _ := strings.Cut(f[1], ":")
			p, _ := strconv.ParseInt(port, 16, 32)
			listening[int(p)] = addr
		}
	}
	for name, port := range pc.ports {
		addr, ok := listening[port]
		switch {
		case !ok:
			t.Errorf("nothing listens on the container port %s (%d)", name, port)
		case strings.Trim(addr, "0") != "":
			t.Errorf("the container port %s (%d) listens on %s only, not on every address", name, port, addr)
		}
	}
}

func get(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// roundTrip registers, logs in, refreshes and logs out through the container.
func roundTrip(t *testing.T, client *http.Client, base string) {
	t.Helper()
	jar := map[string]string{} // cookies by name: they are Secure (COOKIE_SECURE=true), so http.CookieJar would not send them over http
	do := func(method, path, bearer, body string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for name, value := range jar {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		for _, ck := range resp.Cookies() {
			if !ck.Secure {
				t.Errorf("%s %s: cookie %s is not Secure", method, path, ck.Name)
			}
			if ck.MaxAge < 0 || ck.Value == "" {
				delete(jar, ck.Name)
			} else {
				jar[ck.Name] = ck.Value
			}
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
		return v
	}
	do("POST", "/api/auth/register", "", `{"name":"Ada Lovelace","email":"ada@example.com","password":"password123","passwordConfirm":"password123","photo":""}`, http.StatusCreated)
	login := do("POST", "/api/auth/login", "", `{"email":"ada@example.com","password":"password123"}`, http.StatusOK)
	token, _ := login["access_token"].(string)
	if token == "" || jar["refresh_token"] == "" {
		t.Fatalf("login gave no access token or refresh cookie: %v, cookies %v", login, slices.Sorted(maps.Keys(jar)))
	}
	me := do("GET", "/api/users/me", token, "", http.StatusOK)
	if !strings.Contains(fmt.Sprint(me), "ada@example.com") {
		t.Errorf("/api/users/me: %v", me)
	}
	oldRefresh := jar["refresh_token"]
	refreshed := do("POST", "/api/auth/refresh", "", "", http.StatusOK)
	if next, _ := refreshed["access_token"].(string); next == "" || jar["refresh_token"] == oldRefresh {
		t.Errorf("refresh: %v; the refresh token did not rotate", refreshed)
	} else {
		token = next
	}
	do("POST", "/api/auth/logout", "", "", http.StatusOK)
	do("GET", "/api/users/me", token, "", http.StatusUnauthorized)
}

// TestStartupTime starts the Deployment's container -startup-runs times
// against a migrated database and logs the time from `runc run` to the
// readiness probe's first 200, and the median.
func TestStartupTime(t *testing.T) {
	if *startupRuns < 1 {
		t.Skip("-startup-runs is 0")
	}
	rt := newRuntime(t)
	img, _ := testImage(t)
	cfg := readConfig(t, img)
	rootfs := unpack(t)
	keys := keygenSecrets(t, rt, rootfs, cfg)
	pod := newPodNetwork(t)
	keys["DATABASE_URL"] = forwardPostgres(t, pod, dbtest.URL(t))
	server := fromManifest(t, "../base/deployment.yaml", cfg, map[string]map[string]string{"authd-secrets": keys})
	client := podClient(pod)
	url := fmt.Sprintf("http://127.0.0.1:%d%s", server.probePorts["readiness"], server.probes["readiness"])
	var times []time.Duration
	for range *startupRuns {
		c := rt.start(t, rootfs, pod.path, server, cfg)
		times = append(times, waitStatus(t, c, client, url, http.StatusOK, 30*time.Second).Round(time.Millisecond))
		if out, err := rt.runcCmd("kill", c.id, "KILL").CombinedOutput(); err != nil {
			t.Fatalf("runc kill: %v %s", err, out)
		}
		c.wait(t, 10*time.Second)
	}
	sorted := slices.Sorted(slices.Values(times))
	t.Logf("container start → readiness probe 200: median %s of %d runs %v", sorted[len(sorted)/2], len(times), times)
}
