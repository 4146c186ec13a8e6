//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd's process (SIGKILL) when the
// process that started it dies, however it dies: a server spawned by
// `txxt load --spawn` or by a test never outlives it. (Linux sends the
// signal when the starting thread ends; Go's threads end only with the
// process, unless a goroutine exits locked to one, which txxt does not do.)
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
