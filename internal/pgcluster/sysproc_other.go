//go:build unix && !linux

package pgcluster

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves), in a session of its
// own if detached. Only Linux has a parent-death signal; elsewhere a
// throwaway server lives until Stop or Close.
func sysProcAttr(cred *syscall.Credential, detach bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setsid: detach}
}
