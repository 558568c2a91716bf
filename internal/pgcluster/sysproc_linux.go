package pgcluster

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves). A detached child gets
// a session of its own; any other has the kernel kill it if this process dies
// first, so that no throwaway server outlives a crashed test or benchmark.
func sysProcAttr(cred *syscall.Credential, detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Credential: cred, Setsid: true}
	}
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
