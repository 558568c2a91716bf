//go:build unix && !linux

package dbtest

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves). Only Linux has a
// parent-death signal; elsewhere Main stops the server.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
