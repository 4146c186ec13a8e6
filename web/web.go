// Package web holds the browser client's files, embedded in the binary.
package web

import "embed"

// Files is the client, served at /.
//
// The client's files are plain JavaScript modules, served as they are:
// there is no build step. Only what the browser needs is embedded: not
// package.json, not the tests.
//
//go:embed index.html js/*.js css/*.css
var Files embed.FS
