package proc

import "syscall"

// sysProcAttr makes the kernel kill the server when the test process dies
// without its cleanup (a panic, a test timeout), so that no server
// outlives the test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
