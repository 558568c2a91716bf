package authdproc

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// defaultMetricsPort is the port of METRICS_ADDR's default.
const defaultMetricsPort = "9090"

// listenAddr returns the address of the one TCP socket that process pid
// listens on, leaving out the port of METRICS_ADDR in env (authd's default,
// 127.0.0.1:9090, when env does not set it); "" while there is none yet.
func listenAddr(pid int, env []string) (string, error) {
	skip := defaultMetricsPort
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "METRICS_ADDR="); ok {
			_, skip, _ = net.SplitHostPort(v)
		}
	}
	if skip == "0" {
		return "", fmt.Errorf("authd logs below info and METRICS_ADDR has port 0: cannot tell its listeners apart")
	}
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var found []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			addr, err := parseAddr(fields[1])
			if err != nil {
				f.Close()
				return "", err
			}
			if _, port, _ := net.SplitHostPort(addr); port != skip {
				found = append(found, addr)
			}
		}
		f.Close()
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("authd listens on %v: cannot tell which is its API", found)
}

// parseAddr reads /proc/net/tcp's HEXIP:HEXPORT, the address in the
// kernel's byte order, 32-bit word by word.
func parseAddr(s string) (string, error) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || (len(h) != 8 && len(h) != 32) {
		return "", fmt.Errorf("/proc/net/tcp address %q", s)
	}
	ip := make(net.IP, len(h)/2)
	for w := 0; w < len(h)/8; w++ {
		word, err := strconv.ParseUint(h[w*8:w*8+8], 16, 32)
		if err != nil {
			return "", fmt.Errorf("/proc/net/tcp address %q", s)
		}
		for b := range 4 { // little-endian words
			ip[w*4+b] = byte(word >> (8 * b))
		}
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}
