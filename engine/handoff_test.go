package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"txxt/world"
	"txxt/worldlog"
)

// fixLostOwner is a forwarder whose owner has gone: each forward is held
// until hold is closed, then fails without an answer (what a follower
// sees while its world changes hands).
type fixLostOwner struct {
	started chan struct{} // a token per forward begun
	hold    chan struct{}
}

func (f *fixLostOwner) Forward(ctx context.Context, batch []Request) ([]Result, error) {
	f.started <- struct{}{}
	select {
	case <-f.hold:
	case <-ctx.Done():
	}
	return nil, errors.New("no owner answers")
}

// A follower whose node has become the world's owner hands the new local
// owner, at its close, what it could not forward: the commands of the
// forward in flight that found no owner, and those queued behind it, one
// of them without an origin. Each is accepted once, at a revision of its
// own, and answered after the follower's feed has its event; a retry of
// one with its origin is answered by the owner as a duplicate, at the
// same revision.
func TestFollowerHandsWhatItCouldNotForwardToTheLocalOwner(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{})
	createService(t, owner)
	before := owner.Revision()
	fwd := &fixLostOwner{started: make(chan struct{}, 4), hold: make(chan struct{})}
	f, err := Follow(log.Reader(), fwd, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := f.Resume(before, true)
	answers := make(chan Result, 4096) // more than a user's queue holds
	var early atomic.Int64             // answers given before the follower's feed had their event
	done := func(r Result) {
		if r.Err == nil && f.Revision() < r.Revision {
			early.Add(1)
		}
		answers <- r
	}
	submit := func(origin Origin, title string) {
		t.Helper()
		if err := f.Submit(Request{Command: createTask(title), Origin: origin, Done: done}); err != nil {
			t.Fatal(err)
		}
	}
	first := Origin{Client: world.ID{0xa1}, Request: 1}
	submit(first, "in flight")
	recv(t, fwd.started, "the first forward to begin")
	submit(Origin{Client: world.ID{0xa1}, Request: 2}, "queued")
	submit(Origin{}, "queued, without an origin")

	f.HandTo(owner)
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	handed := 3
	// Until Close has begun: what was queued before it is handed too, a
	// user's queue full to its bound on the follower and the forward in
	// flight, one more than the owner's queue would admit from that user
	// (seen on a fast machine: the last one was refused OVERLOADED, before
	// the owner took handed commands whatever its room).
	for {
		err := f.Submit(Request{Command: createTask("until the close"), Done: done})
		if errors.Is(err, ErrClosed) {
			break
		}
		if errors.Is(err, ErrOverloaded) {
			continue // the user's queue is full: not queued
		}
		if err != nil {
			t.Fatal(err)
		}
		handed++
	}
	close(fwd.hold) // the forward in flight fails: no owner answered it
	if err := recv(t, closed, "the follower to close"); err != nil {
		t.Fatal(err)
	}
	revisions := map[uint64]bool{}
	var firstRev uint64
	for i := range handed {
		r := recv(t, answers, "the handed commands' answers")
		if r.Err != nil || r.Duplicate || r.Revision <= before {
			t.Fatalf("a command handed to the local owner: %+v, want accepted after %d", r, before)
		}
		if i == 0 {
			firstRev = r.Revision
		}
		revisions[r.Revision] = true
	}
	end := before + uint64(handed)
	if len(revisions) != handed || owner.Revision() != end {
		t.Fatalf("%d handed commands accepted at %d revisions; the owner is at %d, want %d", handed, len(revisions), owner.Revision(), end)
	}
	if n := early.Load(); n > 0 {
		t.Fatalf("%d answers came before the follower's feed had their event", n)
	}
	got := events(t, sub, end)
	for rev := range revisions {
		if got[rev] == nil {
			t.Fatalf("the follower's feed lacks revision %d, which was answered", rev)
		}
	}
	again := doReq(t, owner, Request{Command: createTask("in flight"), Origin: first})
	if again.Err != nil || !again.Duplicate || again.Revision != firstRev {
		t.Fatalf("the retry of the command that was in flight: %+v, want a duplicate at %d", again, firstRev)
	}
}
