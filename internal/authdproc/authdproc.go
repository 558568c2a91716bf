// Package authdproc runs the authd binary as a child process, as the
// end-to-end tests and the benchmark do: authd binds PORT=0 (the kernel
// picks a free port as it binds, so no other process can take it between a
// look-up and the bind), says where it listens, and is ready once /readyz
// answers 200.
package authdproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Proc is a running authd.
type Proc struct {
	Cmd *exec.Cmd

	done chan struct{} // closed once the process has exited
	err  error         // from Wait; read only after done is closed
	log  *watcher
}

// Start starts cmd, an `authd serve` command, with its output (stdout and
// stderr) written to log, and returns at once. Its environment should hold
// PORT=0.
func Start(cmd *exec.Cmd, log io.Writer) (*Proc, error) {
	w := &watcher{w: log, found: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start authd: %w", err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{}), log: w}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (from exec.Cmd.Wait); call it only once
// Done is closed.
func (p *Proc) Err() error { return p.err }

// ErrExited means authd exited before it said where it listens, or before
// it was ready.
var ErrExited = errors.New("authd exited")

// Addr waits until authd has said where it listens and returns that
// address (host:port). It reads authd's "authd listening" log line (JSON
// or text); at LOG_LEVEL warn or error there is none, and on Linux Addr
// then reads the one socket authd listens on, besides METRICS_ADDR's,
// from /proc.
func (p *Proc) Addr(ctx context.Context) (string, error) {
	quiet := quietLog(p.Cmd.Env)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if quiet {
			addr, err := listenAddr(p.Cmd.Process.Pid, p.Cmd.Env)
			if err != nil || addr != "" {
				return addr, err
			}
		}
		select {
		case <-p.log.found:
			return p.log.addr, nil
		case <-p.done:
			return "", fmt.Errorf("%w before it said where it listens: %v", ErrExited, p.err)
		case <-ctx.Done():
			return "", fmt.Errorf("authd has not said where it listens: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// WaitReady polls base+"/readyz" every interval until it answers 200.
func (p *Proc) WaitReady(ctx context.Context, base string, every time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w before it was ready: %v", ErrExited, p.err)
		case <-ctx.Done():
			return fmt.Errorf("authd not ready: %w", ctx.Err())
		case <-time.After(every):
		}
	}
}

// Run starts cmd as Start does and waits until it is ready, and returns its
// base URL (http://host:port). limit bounds the wait, every is the time
// between two looks at /readyz. On an error authd is stopped.
func Run(ctx context.Context, cmd *exec.Cmd, log io.Writer, limit, every time.Duration) (*Proc, string, error) {
	p, err := Start(cmd, log)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	addr, err := p.Addr(ctx)
	if err == nil {
		err = p.WaitReady(ctx, "http://"+addr, every)
	}
	if err != nil {
		p.Kill()
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// Stop stops authd gracefully (SIGTERM) and waits until it has exited; after
// limit it kills it. The exit status of a signalled authd says nothing and is
// not returned.
func (p *Proc) Stop(limit time.Duration) error {
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop authd: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(limit):
		p.Kill()
		return fmt.Errorf("stop authd: still running %s after SIGTERM; killed", limit)
	}
}

// Kill kills authd and waits until it has exited.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// listening finds the address of authd's "authd listening" log line, JSON
// or text.
var listening = regexp.MustCompile(`authd listening"?[, ]"?addr"?[:=]"?([^",\s]+)`)

// watcher writes authd's output through to w and looks in it for the
// "authd listening" line.
type watcher struct {
	w     io.Writer
	mu    sync.Mutex
	line  []byte        // the unfinished last line
	addr  string        // set once, before found is closed
	found chan struct{} // closed once addr is known
}

func (w *watcher) Write(b []byte) (int, error) {
	n, err := w.w.Write(b) // first: the line is in the log once found
	w.mu.Lock()
	if w.addr == "" {
		w.line = append(w.line, b...)
		for {
			i := bytes.IndexByte(w.line, '\n')
			if i < 0 {
				break
			}
			if m := listening.FindSubmatch(w.line[:i]); m != nil {
				w.addr = string(m[1])
				w.line = nil
				close(w.found)
				break
			}
			w.line = w.line[i+1:]
		}
	}
	w.mu.Unlock()
	return n, err
}

// quietLog reports whether env sets a LOG_LEVEL that hides the "authd
// listening" line (info).
func quietLog(env []string) bool {
	for i := len(env) - 1; i >= 0; i-- { // the last one wins, as in exec
		if v, ok := bytes.CutPrefix([]byte(env[i]), []byte("LOG_LEVEL=")); ok {
			l := string(bytes.ToLower(v))
			return l == "warn" || l == "error"
		}
	}
	return false
}
