//go:build unix

package server

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (user and system): what a
// benchmark costs, however busy the machine is with others.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
