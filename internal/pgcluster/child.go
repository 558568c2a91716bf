package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// credential returns the user to run initdb and postgres as: both refuse to
// run as root, so root runs them as postgres (or nobody).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err))
			continue
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and no user to run PostgreSQL as: %w", errors.Join(errs...))
}

// command prepares one of the server binaries to run in the cluster
// directory, as the unprivileged user when we are root. PG* variables are
// dropped: PGDATA, PGPORT and friends must not steer it.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = sysProcAttr(c.cred, c.opts.Detach)
	return cmd
}

// Child is a process started by StartChild, or a server the cluster started.
type Child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // from Wait; read only after done is closed
}

// StartChild starts cmd as user as (nil: as ourselves; as root give it an
// unprivileged user, since initdb, postgres and PgBouncer refuse root), and
// on Linux the kernel kills it if this process dies first, so that no
// throwaway server outlives a crashed test or benchmark. It sets
// cmd.SysProcAttr.
func StartChild(cmd *exec.Cmd, as *syscall.Credential) (*Child, error) {
	cmd.SysProcAttr = sysProcAttr(as, false)
	return startChild(cmd)
}

// startChild starts cmd from a goroutine locked to its OS thread that then
// waits for it. The parent-death signal is sent when the thread that forked
// the child exits, not the process (golang/go#27505), and the runtime ends
// threads whose locked goroutine returns: staying locked and blocked in Wait
// keeps the thread, and so the child, alive exactly as long as it should be.
func startChild(cmd *exec.Cmd) (*Child, error) {
	p := &Child{cmd: cmd, done: make(chan struct{})}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked, on purpose: see above
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Done is closed once the process has exited.
func (p *Child) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (from exec.Cmd.Wait); call it only once
// Done is closed.
func (p *Child) Err() error { return p.err }

// Signal sends sig to the process.
func (p *Child) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the process and waits until it has exited.
func (p *Child) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}
