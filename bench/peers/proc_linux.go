package main

import "syscall"

// childAttr makes the kernel kill a server when the generator dies, so no
// run leaves one behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
