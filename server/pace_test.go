package server

import (
	"testing"
	"time"
)

// A user over their command budget has their connections' events paced
// (one wake per floodPace, not one per event); a user within it, never.
func TestFloodersDeliveriesArePaced(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	none := func(from, to time.Time) time.Duration { return 0 }
	wake := make(chan struct{})

	within := &budget{b: newBucket(1, 1, now)}
	c := &conn{limiter: within}
	if !within.take(now, none) {
		t.Fatal("the first command of a full budget was refused")
	}
	if w, p := c.paced(wake); w != wake || p != nil {
		t.Fatal("a user within the budget is paced")
	}

	over := &budget{b: newBucket(1, 1, now)}
	c = &conn{limiter: over}
	over.take(now, none)
	if over.take(now, none) {
		t.Fatal("a command past the burst was taken")
	}
	if !over.flooding() {
		t.Fatal("a user just refused does not count as flooding")
	}
	w, p := c.paced(wake)
	if w != nil || p == nil {
		t.Fatal("a flooder's connection waits on the feed, not on the pace")
	}
	select {
	case <-p:
	case <-time.After(10 * time.Second):
		t.Fatalf("the pace's timer (%s) did not fire within 10 s", floodPace)
	}
	if w, p := c.paced(nil); w != nil || p != nil {
		t.Fatal("a closed engine's nil wake is not passed on as it is")
	}

	// Past floodWindow since the refusal, the user is no longer paced.
	over.refused.Store(int64(time.Since(paceEpoch)-floodWindow) | 1)
	if over.flooding() {
		t.Fatalf("still flooding %s after the last refusal", floodWindow)
	}
}
