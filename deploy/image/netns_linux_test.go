package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/jackc/pgx/v5/pgconn"
)

// podNetwork is a network namespace with only a loopback interface, like the
// one a kubelet makes for a pod before it starts the pod's containers, which
// then join it. It belongs to an OS thread of the test that unshared its
// network namespace: sockets made on that thread live in the namespace,
// wherever they are used afterwards. So the test reaches the container's
// ports, and the container reaches the test's PostgreSQL, with nothing on
// the host's network.
type podNetwork struct {
	path string        // /proc/PID/task/TID/ns/net, for the container's config.json
	work chan func()   // run on the namespace's thread
	done chan struct{} // closed at cleanup: the thread exits, and the namespace goes with its last user
}

func newPodNetwork(t *testing.T) *podNetwork {
	t.Helper()
	n := &podNetwork{work: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends the
		// thread instead of reusing it in another namespace.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare the network namespace: %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			ready <- err
			return
		}
		n.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid())
		ready <- nil
		for {
			select {
			case f := <-n.work:
				f()
			case <-n.done:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("pod network: %v", err)
	}
	t.Cleanup(func() { close(n.done) })
	return n
}

// loopbackUp sets the flag IFF_UP on lo, as `ip link set lo up` does.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq's union
	}
	copy(ifr.name[:], "lo")
	for _, req := range []uintptr{syscall.SIOCGIFFLAGS, syscall.SIOCSIFFLAGS} {
		if req == syscall.SIOCSIFFLAGS {
			ifr.flags |= syscall.IFF_UP
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("loopback up: %w", errno)
		}
	}
	return nil
}

// in runs f on the namespace's thread.
func (n *podNetwork) in(f func()) {
	ran := make(chan struct{})
	n.work <- func() { f(); close(ran) }
	<-ran
}

func (n *podNetwork) listen(addr string) (ln net.Listener, err error) {
	n.in(func() { ln, err = net.Listen("tcp", addr) })
	return ln, err
}

// dial connects to addr inside the namespace; it is an http.Transport's DialContext.
func (n *podNetwork) dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	n.in(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	})
	return c, err
}

// podPostgresAddr is where a container in the pod network finds PostgreSQL.
const podPostgresAddr = "127.0.0.1:5432"

// forwardPostgres listens on podPostgresAddr in the pod network and forwards
// every connection to the server of databaseURL (a socket directory or a
// TCP address, on the host). It returns databaseURL pointed at the
// forwarder, for the container. Connections end at cleanup.
func forwardPostgres(t *testing.T, n *podNetwork, databaseURL string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		t.Fatalf("database URL: %v", err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	ln, err := n.listen(podPostgresAddr)
	if err != nil {
		t.Fatalf("listen in the pod network: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			out, err := net.Dial(network, addr)
			if err != nil {
				t.Logf("forward to PostgreSQL: %v", err)
				in.Close()
				continue
			}
			track(in)
			track(out)
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return redirectURL(databaseURL, podPostgresAddr)
}

// redirectURL is databaseURL with its host and port replaced by addr.
func redirectURL(databaseURL, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if u, err := url.Parse(databaseURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.Host, u.RawQuery = addr, q.Encode()
		return u.String()
	}
	// Keyword/value form: a later keyword wins.
	return databaseURL + " host=" + host + " port=" + port
}
