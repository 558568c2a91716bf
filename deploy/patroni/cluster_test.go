//go:build linux

// Package patroni holds the failover recipe: node.yml.in (one Patroni
// node), cluster.sh (etcd and two nodes on this machine's loopback) and
// TestFailover, which runs the recipe's configuration under real Patroni,
// etcd and PostgreSQL with authd in front, kills the leader while clients
// write, and checks that nothing authd acknowledged is lost
// (docs/operations.md, "Failover").
//
// Patroni and etcd come from Debian (apt-get install -y patroni
// etcd-server); without them the test skips, or fails when CI is set.
package patroni

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// node is one Patroni node and the PostgreSQL it manages.
type node struct {
	name     string
	dir      string // its configuration, log and data directory
	pgPort   string
	restPort string
	patroni  *pgcluster.Child
}

// cluster is etcd and two Patroni nodes on loopback, in a temporary
// directory, run as the postgres user when the test runs as root.
type cluster struct {
	dir   string
	cred  *syscall.Credential
	bin   string // PostgreSQL's bin directory
	nodes [2]*node
}

// startCluster starts etcd and both nodes from node.yml.in, creates the
// database db on the leader and returns once the other node is the
// synchronous standby. Everything is stopped at t.Cleanup, and a reaper
// stops the PostgreSQL servers even if the test binary dies first
// (Patroni starts them in sessions of their own, which a parent-death
// signal does not reach).
func startCluster(t *testing.T, db string) *cluster {
	t.Helper()
	for _, tool := range []string{"patroni", "etcd"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" is not installed (apt-get install -y patroni etcd-server)")
		}
	}
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	c := &cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "running as root without a postgres user to run Patroni as")
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Short, in /tmp: PostgreSQL's socket path must fit in 107 bytes.
	c.dir, err = os.MkdirTemp("/tmp", "authd-patroni-")
	if err != nil {
		t.Fatal(err)
	}
	c.own(t, c.dir)
	c.reaper(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.nodes {
				if n != nil {
					t.Logf("%s patroni log (tail):\n%s", n.name, tail(filepath.Join(n.dir, "patroni.log")))
				}
			}
		}
		os.RemoveAll(c.dir) // last: the other clean-ups were registered later
	})

	etcdPort, peerPort := testenv.FreePort(t), testenv.FreePort(t)
	etcdDir := filepath.Join(c.dir, "etcd")
	c.mkdir(t, etcdDir)
	etcd := c.start(t, etcdDir, "etcd", "--name", "authd-etcd", "--data-dir", filepath.Join(etcdDir, "data"),
		"--listen-client-urls", "http://127.0.0.1:"+etcdPort, "--advertise-client-urls", "http://127.0.0.1:"+etcdPort,
		"--listen-peer-urls", "http://127.0.0.1:"+peerPort, "--initial-advertise-peer-urls", "http://127.0.0.1:"+peerPort,
		"--initial-cluster", "authd-etcd=http://127.0.0.1:"+peerPort)
	t.Cleanup(etcd.Kill)
	c.wait(t, 30*time.Second, "etcd", func() bool { return status("http://127.0.0.1:"+etcdPort+"/health") == 200 })

	template, err := os.ReadFile("node.yml.in")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		n := &node{name: fmt.Sprintf("node%d", i+1), pgPort: testenv.FreePort(t), restPort: testenv.FreePort(t)}
		n.dir = filepath.Join(c.dir, n.name)
		c.mkdir(t, n.dir)
		conf := strings.NewReplacer("@NAME@", n.name, "@REST_PORT@", n.restPort, "@ETCD_PORT@", etcdPort,
			"@PG_PORT@", n.pgPort, "@DIR@", n.dir, "@BIN_DIR@", bin).Replace(string(template))
		if strings.Contains(conf, "@") {
			t.Fatalf("node.yml.in has a placeholder the test does not fill:\n%s", conf)
		}
		path := filepath.Join(n.dir, "patroni.yml")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.own(t, path)
		n.patroni = c.start(t, n.dir, "patroni", path)
		c.nodes[i] = n
		t.Cleanup(func() { c.kill(t, n) })
	}

	c.wait(t, 90*time.Second, "leader", func() bool { return c.leader() != nil }) // initdb, bootstrap
	l := c.leader()
	conn, err := pgx.Connect(t.Context(), c.nodeURL(l, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The standby clones the leader (pg_basebackup), then Patroni makes it
	// the synchronous standby: from then on a commit waits for it.
	c.wait(t, 90*time.Second, "synchronous standby", func() bool {
		for _, n := range c.nodes {
			if n != l && status(n.rest("/synchronous")) == 200 {
				return true
			}
		}
		return false
	})
	return c
}

// start runs name as the cluster's user in dir, killed if the test dies.
func (c *cluster) start(t *testing.T, dir, name string, args ...string) *pgcluster.Child {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8"} // no PG*, PATRONI_*, ETCD_*
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c.own(t, log.Name())
	cmd.Stdout, cmd.Stderr = log, log
	p, err := pgcluster.StartChild(cmd, c.cred)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return p
}

// kill kills n's Patroni and then its PostgreSQL, as a machine that dies
// would: a PostgreSQL that outlived its Patroni would go on as primary.
// Killing a dead node again does nothing.
func (c *cluster) kill(t *testing.T, n *node) {
	n.patroni.Kill()
	if pid := postmaster(n); pid > 0 {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill %s's postgres (%d): %v", n.name, pid, err)
		}
		// Its backends and helpers notice the postmaster's death and exit.
	}
}

// postmaster is the process id of n's PostgreSQL while it runs, else 0.
func postmaster(n *node) int {
	b, err := os.ReadFile(filepath.Join(n.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// reaper starts a process, in a session of its own, that waits for this
// test binary to exit and then kills the PostgreSQL servers of the cluster
// that are still running and removes its directory. After a clean run it
// finds nothing to do.
func (c *cluster) reaper(t *testing.T) {
	t.Helper()
	script := `while kill -0 "$0" 2>/dev/null; do sleep 1; done
for f in "$1"/node*/data/postmaster.pid; do [ -f "$f" ] && kill -9 "$(head -n 1 "$f")" 2>/dev/null; done
rm -rf "$1"`
	cmd := exec.Command("sh", "-c", script, strconv.Itoa(os.Getpid()), c.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // it outlives the test on purpose; this only reaps it if it ends first
}

// leader is the node whose Patroni says it is the primary, or nil.
func (c *cluster) leader() *node {
	for _, n := range c.nodes {
		if n != nil && status(n.rest("/primary")) == 200 {
			return n
		}
	}
	return nil
}

// URL is the multi-host DATABASE_URL of database db: a new connection
// tries each node and keeps the one that takes writes.
func (c *cluster) URL(db string) string {
	hosts := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		hosts[i] = "127.0.0.1:" + n.pgPort
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/" + db +
		"?target_session_attrs=read-write&sslmode=disable&connect_timeout=2"
}

// nodeURL is database db on node n alone.
func (c *cluster) nodeURL(n *node, db string) string {
	return "postgres://postgres@127.0.0.1:" + n.pgPort + "/" + db + "?sslmode=disable&connect_timeout=2"
}

func (n *node) rest(path string) string { return "http://127.0.0.1:" + n.restPort + path }

// wait polls ok every 100 ms until it holds, or fails the test after limit.
func (c *cluster) wait(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.own(t, dir)
}

// own hands path to the user the cluster runs as.
func (c *cluster) own(t *testing.T, path string) {
	t.Helper()
	if c.cred == nil {
		return
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

// status is the HTTP status of a GET of url, 0 if there is no answer.
func status(url string) int {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tail is the end of a log file, about 3 KB.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
