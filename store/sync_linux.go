package store

import (
	"errors"
	"os"
	"syscall"
)

// allocate gives f size bytes of blocks, so later writes within them
// change no metadata. A file system that cannot is left to grow.
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return nil
	}
	return err
}

// datasync makes what was written to f durable, and no more of its
// metadata than reading it back needs.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
