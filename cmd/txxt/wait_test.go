package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// recv returns the next value from ch, or fails the test, naming what it
// waited for, when none comes within d.
func recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("waited %s for %s", d, what)
		panic("unreachable")
	}
}

// waitGroup waits for wg, or fails the test naming what it waited for.
func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, d, what)
}

// spawnTest starts `txxt serve --demo` (this test binary, as TestMain
// lets it) on the save file data, and stops it when the test ends,
// however it ends: SIGTERM, then SIGKILL after 10 s. The child also dies
// with the test binary itself (dieWithParent), should that be killed.
func spawnTest(t testing.TB, data string) *spawned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log syncBuffer
	s, err := spawnServerOn(ctx, data, nil, &log)
	if err != nil {
		t.Fatalf("start a server on %s: %v\n%s", data, err, log.String())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("the server's log (%s):\n%s", data, log.String())
		}
	})
	return s
}
