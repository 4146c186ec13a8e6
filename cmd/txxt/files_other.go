//go:build !unix

package main

import "errors"

// raiseFileLimit has no limit to raise here (see files_unix.go).
func raiseFileLimit(uint64) (was, got uint64, err error) {
	return 0, 0, errors.New("no file limit on this system")
}
