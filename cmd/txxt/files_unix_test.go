//go:build unix

package main

import (
	"fmt"
	"strconv"
	"syscall"
)

// lowerFileLimit sets the open files limit, soft and hard, to v ("": as
// it is).
func lowerFileLimit(v string) error {
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", testFilesEnv, v, err)
	}
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
}
