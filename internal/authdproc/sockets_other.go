//go:build !linux

package authdproc

import "errors"

// listenAddr needs Linux's /proc.
func listenAddr(pid int, env []string) (string, error) {
	return "", errors.New("authd logs below info, and only on Linux can its address be read from /proc")
}
