package dbtest

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves) and has the kernel kill
// it if the test binary dies first, so no server outlives a crashed test.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
