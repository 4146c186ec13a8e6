//go:build !linux

package store

import "os"

// allocate is a no-op where fallocate is not: the file grows as written.
func allocate(f *os.File, size int64) error { return nil }

// datasync is fsync where fdatasync is not.
func datasync(f *os.File) error { return f.Sync() }
