package jetstream

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// A holder the leases' watcher has not heard of for over TTL + TTL/4 is
// read again from the bucket, for a world this node is preferred for and
// does not own: a lease that ended without the watcher hearing of it (a
// NATS server killed under it) is then taken rather than waited for for
// ever; one still held stays, and is read again only after another TTL.
func TestManagerRechecksALeaseItHasNotHeardOf(t *testing.T) {
	const ttl = time.Second
	url := ownNATS(t, ttl)
	_, js := ownConnect(t, []string{url})
	ls := openLeases(t, js)
	if _, err := acquire(t, ls, "held", "node-b"); err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: ManagerConfig{Node: "node-a"}, leases: ls, logger: slog.New(slog.DiscardHandler)}
	m.live.Store(&[]string{"node-a"}) // preferred for every world
	long := time.Now().Add(-2 * ttl)
	holders := map[string]string{"ended": "node-b 01", "held": "node-b 02", "heard": "node-b 03", "elsewhere": "node-b 04"}
	heard := map[string]time.Time{"ended": long, "held": long, "heard": time.Now(), "elsewhere": long}
	worlds := map[string]bool{"ended": true, "held": true, "heard": true}
	m.recheck(holders, heard, worlds, map[string]*worldState{})
	for w, want := range map[string]bool{"ended": false, "held": true, "heard": true, "elsewhere": true} {
		if _, kept := holders[w]; kept != want {
			t.Errorf("world %s: holder kept %v, want %v", w, kept, want)
		}
	}
	if time.Since(heard["held"]) > ttl {
		t.Errorf("the lease found held is to be read again only after another TTL")
	}
	// A world the watcher heard of lately is not read: its lease is gone
	// from the bucket, and the holder stays until the watcher says so.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if h, err := ls.Holder(ctx, "heard"); err != nil || h != "" {
		t.Fatalf("world heard: holder %q, %v", h, err)
	}
}
