// Package web holds the browser client's files, embedded in the binary.
package web

import "embed"

// Files is the client, served at /.
//
//go:embed index.html
var Files embed.FS
