//go:build unix

package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit raises the process's limit on open files (RLIMIT_NOFILE)
// so that it may hold need of them: every connection is a descriptor. The
// soft limit goes up to the hard one (Go's runtime does that much at start
// on Linux too; doing it here tells what it got, and the processes this
// one starts inherit it); when the hard limit is below need and the
// process may raise it (root, or CAP_SYS_RESOURCE), it goes to need, at
// most the kernel's bound (fs.nr_open). It returns the soft limit before
// and after; an error only when the limit could not be read.
func raiseFileLimit(need uint64) (was, got uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	was = l.Cur
	if l.Max < need {
		want := need
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				want = min(want, n)
			}
		}
		if want > l.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			return was, want, nil
		}
	}
	if l.Cur < l.Max {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: l.Max, Max: l.Max}); err == nil {
			l.Cur = l.Max
		}
	}
	return was, l.Cur, nil
}
