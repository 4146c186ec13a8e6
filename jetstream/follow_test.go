package jetstream

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"txxt/worldlog"
)

// Why a follower uses a consumer: a core subscription on the world's
// subject receives the deposed writer's publish that the fence refused,
// while a follower never sees it, only the new writer's record at that
// revision.
func TestFollowerNeverSeesWhatTheFenceRefused(t *testing.T) {
	js := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old := open(t, js, "fenced", "node-a")
	if err := old.Append(ctx, []worldlog.Record{{Revision: 1, Frame: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	core, err := js.Conn().SubscribeSync(old.subject)
	if err != nil {
		t.Fatal(err)
	}
	defer core.Unsubscribe()
	followed := make(chan worldlog.Record, 16)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- openReader(t, js, "fenced").Follow(fctx, 1, func(r worldlog.Record) error {
			r.Frame = bytes.Clone(r.Frame)
			followed <- r
			return nil
		})
	}()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("the follow ended with %v, want context.Canceled", err)
		}
	}()

	cur := open(t, js, "fenced", "node-b") // its marker fences old
	refused := []worldlog.Record{{Revision: 2, Frame: []byte("refused")}}
	if err := old.Append(ctx, refused); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("the deposed writer's append: %v, want ErrFenced", err)
	}
	if err := cur.Append(ctx, []worldlog.Record{{Revision: 2, Frame: []byte("two")}}); err != nil {
		t.Fatal(err)
	}

	// The core subscriber got the marker, the refused publish and the
	// accepted one, in that order.
	var seen []string
	for len(seen) < 3 {
		m, err := core.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("the core subscriber after %q: %v", seen, err)
		}
		switch {
		case m.Header.Get(headerOwner) != "":
			seen = append(seen, "marker")
		default:
			decodeRecords(m.Data, func(r worldlog.Record) error { seen = append(seen, string(r.Frame)); return nil })
		}
	}
	if seen[1] != "refused" {
		t.Fatalf("the core subscriber saw %q, want the refused publish second", seen)
	}
	select {
	case r := <-followed:
		if r.Revision != 2 || string(r.Frame) != "two" {
			t.Fatalf("the follower saw revision %d %q, want 2 \"two\"", r.Revision, r.Frame)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the follower to see revision 2")
	}
}

// A follower's consumer lives as long as its Follow: it is gone from the
// stream once the follow ends.
func TestFollowDeletesItsConsumer(t *testing.T) {
	js := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := open(t, js, "consumers", "node-a")
	if err := l.Append(ctx, []worldlog.Record{{Revision: 1, Frame: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		t.Helper()
		info, err := l.stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	seen := make(chan struct{})
	go func() {
		done <- openReader(t, js, "consumers").Follow(fctx, 0, func(worldlog.Record) error { close(seen); return nil })
	}()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the follower to see revision 1")
	}
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers while following, want 1", n)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the follow ended with %v", err)
	}
	if n := consumers(); n != 0 {
		t.Fatalf("%d consumers after the follow ended, want 0", n)
	}
}
