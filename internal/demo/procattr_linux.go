package demo

import "syscall"

// procAttr puts a child in its own process group, so a Ctrl-C on the
// terminal reaches only the demo, which then stops the children in order.
// Should the demo itself be killed, the kernel sends the child SIGTERM.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
