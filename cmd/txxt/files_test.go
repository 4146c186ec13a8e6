package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testFilesEnv, set for a server this test binary runs as, lowers its
// open files limit (soft and hard) to that many before it starts.
const testFilesEnv = "TXXT_TEST_OPEN_FILES"

// TestServeOutOfDescriptors: a server whose open files limit is too small
// for the connections arriving says so in its log, stays up, and takes
// connections again once some close. The server is this test binary in a
// process of its own, its limit lowered to 100 (testFilesEnv) before it
// runs: a limit below its need (--max-conns, its files) would be raised.
func TestServeOutOfDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the limit is lowered with setrlimit, and read from /proc: Linux")
	}
	t.Setenv(testFilesEnv, "100")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log syncBuffer
	s, err := spawnServerOn(ctx, filepath.Join(t.TempDir(), "data"), []string{"--demo-tasks", "0"}, &log)
	if err != nil {
		t.Fatalf("start a server: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("the server's log:\n%s", log.String())
		}
	})
	if !strings.Contains(log.String(), `msg="open files limit" limit=100`) {
		t.Fatalf("the server did not log its open files limit:\n%s", log.String())
	}
	// 150 connections that send nothing: the kernel completes each one's
	// handshake (the listen queue holds them), the server accepts until
	// its descriptors run out.
	addr := strings.TrimPrefix(s.url, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 150 {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		held = append(held, c)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), "cannot take new connections"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("waited 30 s for the server to say it cannot take new connections")
		}
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	// Up, and taking connections again.
	hc := &http.Client{Timeout: 10 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := hc.Get(s.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for /readyz after the connections closed: %v", err)
		}
	}
}
