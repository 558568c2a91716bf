package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Start starts the server unless it is running and waits until it accepts
// connections: the socket file appears before it does. A detached cluster
// whose server another process started is running.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return nil
	}
	if c.opts.Detach && ping(ctx, c.URL("postgres")) == nil {
		return nil
	}
	if !c.temp {
		if err := c.makeSocketDir(); err != nil {
			return err
		}
	}
	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close() // postgres has its own descriptor once started
	args := []string{"-D", c.dataDir(), "-k", c.sockDir, "-p", port,
		"-c", "listen_addresses="} // socket only: no TCP port to collide on
	if !c.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, k := range slices.Sorted(maps.Keys(c.opts.Settings)) {
		args = append(args, "-c", k+"="+c.opts.Settings[k])
	}
	cmd := c.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := c.waitReady(ctx, p); err != nil {
		p.Kill()
		return fmt.Errorf("start postgres: %w\n%s", err, c.logTail())
	}
	c.proc = p
	return nil
}

// makeSocketDir makes the socket directory of a persistent cluster, which may
// be under /tmp and so may have been removed, or made by someone else.
func (c *Cluster) makeSocketDir() error {
	if c.sockDir == c.dir {
		return nil
	}
	if err := os.Mkdir(c.sockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("socket directory: %w", err)
	}
	fi, err := os.Lstat(c.sockDir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || (int(st.Uid) != os.Geteuid() && (c.cred == nil || st.Uid != c.cred.Uid)) {
		return fmt.Errorf("socket directory %s is not a directory of ours; remove it", c.sockDir)
	}
	return c.own(c.sockDir)
}

func (c *Cluster) waitReady(ctx context.Context, p *Child) error {
	const limit = 60 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ping(ctx, c.URL("postgres"))
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("no connection within %s (%w): %w", limit, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop shuts the server down fast (SIGINT: clients are disconnected and open
// transactions rolled back) and waits until it has exited. It does nothing if
// the server is not running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	const limit = 30 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	p := c.proc
	if p == nil {
		if c.opts.Detach {
			return c.stopOther(ctx)
		}
		return nil
	}
	c.proc = nil
	// SIGINT is PostgreSQL's fast shutdown, what pg_ctl stop -m fast sends.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.Kill()
		return fmt.Errorf("stop postgres: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("stop postgres: killed, still running %s after SIGINT (%w)\n%s", limit, ctx.Err(), c.logTail())
	}
	if p.err != nil {
		return fmt.Errorf("stop postgres: %w\n%s", p.err, c.logTail())
	}
	return nil
}

// stopOther stops a server that another process started, found by the PID
// in postmaster.pid, and waits until postgres has removed that file.
func (c *Cluster) stopOther(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir(), "postmaster.pid")
	pid, err := readPID(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	if ok, err := c.isServer(ctx, pid); err != nil || !ok {
		return err // !ok: the file is left over from a crash; postgres replaces it on start
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop postgres (pid %d): %w", pid, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Gone once the file is: a server that is not our child may stay a
		// zombie for a while if nobody reaps it, but it removes the file.
		if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop postgres (pid %d): still running after SIGINT (%w)\n%s", pid, ctx.Err(), c.logTail())
		case <-tick.C:
		}
	}
}

// readPID reads the server's PID, the first line of postmaster.pid.
func readPID(name string) (int, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no PID in its first line", name)
	}
	return pid, nil
}

// isServer reports whether pid, named by postmaster.pid, is this cluster's
// server, so that Stop never signals another process: after a crash and a
// reboot the PID in the file may be anyone's. A server that answers on the
// socket wrote the file when it started; otherwise (it may be starting, or
// recovering) /proc must show a process working in the data directory, as
// postgres does.
func (c *Cluster) isServer(ctx context.Context, pid int) (bool, error) {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if ping(ctx, c.URL("postgres")) == nil {
		return true, nil
	}
	want, err := filepath.EvalSymlinks(c.dataDir())
	if err != nil {
		return false, fmt.Errorf("stop postgres: %w", err)
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	switch {
	case err == nil:
		return cwd == want, nil
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat("/proc/self/cwd"); err == nil {
			return false, nil // it has just exited
		}
	}
	return false, fmt.Errorf("stop postgres: %s names pid %d, which does not answer on the socket, and cannot tell whether it is this cluster's server; not signalling it",
		filepath.Join(c.dataDir(), "postmaster.pid"), pid)
}
