package engine

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"txxt/world"
)

// One user floods the queue while the engine is held; another user's
// commands are all taken (none OVERLOADED: that is the flooder's alone) and
// all answered in the first batch after the hold, not behind the flood.
func TestAFloodDoesNotQueueABystander(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{QueueSize: 256, UserQueue: 128, MaxBatch: 64})
	createService(t, e)
	flooder, bystander := world.ID{1}, world.ID{2}
	release := pause(t, e)
	var wg sync.WaitGroup
	var refused int
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		err := e.Submit(Request{Command: createTask("flood"), Actor: flooder, Done: func(Result) { wg.Done() }})
		if errors.Is(err, ErrOverloaded) {
			wg.Done()
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 1000-128 {
		t.Fatalf("the flooder had %d of 1000 commands refused with a queue of 128 per user", refused)
	}
	before := e.Stats().Batches
	answers := make(chan uint64, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		err := e.Submit(Request{Command: createTask("mine"), Actor: bystander, Done: func(r Result) {
			if r.Err != nil {
				t.Error(r.Err)
			}
			answers <- e.Stats().Batches // counted before the batch's answers
			wg.Done()
		}})
		if err != nil {
			t.Fatalf("the bystander's command %d: %v", i, err)
		}
	}
	release()
	for i := 0; i < 10; i++ {
		if b := recv(t, answers, "the bystander's answers"); b-before > 1 {
			t.Fatalf("the bystander's answer %d came in batch %d after the hold: behind the flood", i, b-before)
		}
	}
	waitGroup(t, &wg, "every queued command's answer")
}

// When the queue as a whole is full, a user holding less than a fair
// share is still taken.
func TestAFullQueueStillTakesAFairShare(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{QueueSize: 8, UserQueue: 8})
	createService(t, e)
	release := pause(t, e)
	defer release()
	var wg sync.WaitGroup
	submit := func(actor world.ID) error {
		wg.Add(1)
		err := e.Submit(Request{Command: createTask("t"), Actor: actor, Done: func(Result) { wg.Done() }})
		if err != nil {
			wg.Done()
		}
		return err
	}
	for i := 0; i < 8; i++ {
		if err := submit(world.ID{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := submit(world.ID{1}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("the ninth command of a full queue's only user: %v, want OVERLOADED", err)
	}
	for i := 0; i < 4; i++ { // a fair share of 8 between two users
		if err := submit(world.ID{2}); err != nil {
			t.Fatalf("a second user's command %d on a full queue: %v", i, err)
		}
	}
	if err := submit(world.ID{2}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("past its fair share: %v, want OVERLOADED", err)
	}
	release()
	waitGroup(t, &wg, "every queued command's answer")
}
