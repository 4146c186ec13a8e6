//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing here: only Linux kills a child when its
// parent dies (see spawn_linux.go). Tests still stop what they spawn.
func dieWithParent(*exec.Cmd) {}
