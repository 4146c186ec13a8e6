//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes f's exclusive flock without waiting, as bbolt takes its
// file's; it fails when another open file holds it. The lock goes with f's
// Close.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errors.New("the file is locked")
	}
	return err
}
