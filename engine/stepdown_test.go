package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"txxt/world"
	"txxt/worldlog"
)

// A world served from a log that another writer took over: the old
// engine's next batch is refused NOT_OWNER and nothing of it is written,
// the engine closes (later commands ErrNotOwner, subscribers end), and the
// new writer boots the world as the old one acknowledged it; the refused
// command, retried there with its origin, is applied once.
func TestEngineStepsDownWhenFenced(t *testing.T) {
	old := worldlog.NewMemory()
	e := openEngine(t, old, Options{})
	createService(t, e)
	acked := mustDo(t, e, createTask("before"))
	sub := e.Subscribe(true)
	if _, err := sub.Next(ctxWait(t)); err != nil { // its snapshot
		t.Fatal(err)
	}

	next := old.Takeover()
	origin := Origin{Client: world.ID{7}, Request: 1}
	res := doReq(t, e, Request{Command: createTask("lost"), Origin: origin})
	if res.Err == nil || res.Err.Code != world.CodeNotOwner {
		t.Fatalf("a command after the takeover: %+v, want NOT_OWNER", res)
	}
	if head, _ := next.Head(context.Background()); head != acked {
		t.Fatalf("the log's head is %d after the refused batch, want %d", head, acked)
	}
	if _, err := sub.Next(ctxWait(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a subscriber of the deposed engine: %v, want ErrClosed", err)
	}
	if err := e.Submit(Request{Command: createTask("later"), Done: func(Result) {}}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("submit to the deposed engine: %v, want ErrNotOwner", err)
	}
	if _, err := e.Do(ctxWait(t), Request{Command: createTask("later")}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("do on the deposed engine: %v, want ErrNotOwner", err)
	}
	if h := e.Health(); !h.NotOwner || !h.Degraded || h.Reason == "" {
		t.Fatalf("health of the deposed engine: %+v", h)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if snap, _, _ := next.LatestSnapshot(context.Background()); snap != 0 {
		t.Fatalf("the deposed engine wrote a snapshot at %d on its way out", snap)
	}

	e2 := openEngine(t, next, Options{})
	if e2.Revision() != acked {
		t.Fatalf("the new owner boots at %d, want %d", e2.Revision(), acked)
	}
	first := doReq(t, e2, Request{Command: createTask("lost"), Origin: origin})
	again := doReq(t, e2, Request{Command: createTask("lost"), Origin: origin})
	if first.Err != nil || first.Revision != acked+1 || !again.Duplicate || again.Revision != first.Revision {
		t.Fatalf("the retry on the new owner: %+v, then %+v", first, again)
	}
}

// Commands queued or racing with the step-down are each answered exactly
// once: accepted before it, or refused NOT_OWNER (by Done, or by Submit).
func TestStepDownAnswersEveryCommandOnce(t *testing.T) {
	old := worldlog.NewMemory()
	e := openEngine(t, old, Options{})
	createService(t, e)
	var wg sync.WaitGroup
	var answers, refusedAtSubmit, notOwner atomic.Int64
	start := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range 200 {
				done := make(chan Result, 2)
				err := e.Submit(Request{Command: createTask("t"), Origin: Origin{Client: world.ID{byte(g + 1)}, Request: uint32(i + 1)}, Done: func(r Result) { done <- r }})
				if errors.Is(err, ErrNotOwner) {
					refusedAtSubmit.Add(1)
					continue
				}
				if err != nil {
					continue // overloaded: not queued, never answered
				}
				select {
				case r := <-done:
					answers.Add(1)
					if r.Err != nil && r.Err.Code == world.CodeNotOwner {
						notOwner.Add(1)
					}
				case <-time.After(wait):
					t.Errorf("a queued command had no answer within %s", wait)
					return
				}
				select {
				case <-done:
					t.Error("a command was answered twice")
				default:
				}
			}
		}()
	}
	close(start)
	for deadline := time.Now().Add(wait); answers.Load() < 50; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for 50 commands answered before the takeover", wait)
		}
	}
	old.Takeover()
	waitGroup(t, &wg, "every command answered")
	if head, _ := old.Head(context.Background()); head != e.Revision() || uint64(answers.Load()-notOwner.Load()) != head-1 {
		t.Fatalf("the log ends at %d, the engine at %d, %d commands accepted after the first", head, e.Revision(), answers.Load()-notOwner.Load())
	}
	if notOwner.Load()+refusedAtSubmit.Load() == 0 {
		t.Fatal("no command was refused after the takeover")
	}
	t.Logf("%d answered (%d NOT_OWNER), %d refused at Submit", answers.Load(), notOwner.Load(), refusedAtSubmit.Load())
}

// flakyLog is a memory log whose appends can fail, as a network log's do
// when its server is unreachable; with landed, the failing append reaches
// the log first (its acknowledgement was lost).
type flakyLog struct {
	*worldlog.Memory
	fail, landed atomic.Bool
	unknown      atomic.Bool // the failure says its outcome is unknown, as a timeout does
}

func (l *flakyLog) Append(ctx context.Context, recs []worldlog.Record) error {
	if l.fail.Load() {
		if l.landed.Load() {
			l.Memory.Append(ctx, recs)
		}
		if l.unknown.Load() {
			return fmt.Errorf("injected: the log did not answer: %w", worldlog.ErrOutcomeUnknown)
		}
		return errors.New("injected: the log refused the write")
	}
	return l.Memory.Append(ctx, recs)
}

// A log that is not a file is trusted again after a failed write by its
// head, never rewritten: where the engine left it, the engine goes on; past
// it (the batch landed though the append failed), the engine steps down,
// and a fresh boot has the batch and answers its retry as a duplicate.
func TestFailedAppendToALogThatIsNotAFile(t *testing.T) {
	t.Run("the_batch_did_not_land", func(t *testing.T) {
		l := &flakyLog{Memory: worldlog.NewMemory()}
		e := openEngine(t, l, Options{RetryEvery: time.Hour})
		createService(t, e)
		l.fail.Store(true)
		if res := do(t, e, createTask("refused")); res.Err == nil || res.Err.Code != world.CodeStorageUnavailable {
			t.Fatalf("a command while the log fails: %+v", res)
		}
		if !e.Health().Degraded {
			t.Fatal("not degraded while the log fails")
		}
		l.fail.Store(false)
		rev := mustDo(t, e, createTask("after"))
		if rev != 2 || e.Health().Degraded {
			t.Fatalf("after the log is back: revision %d, health %+v", rev, e.Health())
		}
	})
	t.Run("the_batch_landed", func(t *testing.T) {
		l := &flakyLog{Memory: worldlog.NewMemory()}
		e := openEngine(t, l, Options{RetryEvery: time.Hour})
		createService(t, e)
		l.fail.Store(true)
		l.landed.Store(true)
		l.unknown.Store(true)
		origin := Origin{Client: world.ID{9}, Request: 1}
		// Its answer lost, the log cannot say whether it holds the batch:
		// its command is told it may have been saved, never that nothing
		// was changed.
		if res := doReq(t, e, Request{Command: createTask("landed"), Origin: origin}); res.Err == nil || res.Err.Code != world.CodeStorageUnavailable ||
			!strings.Contains(res.Err.Message, "may have been") || strings.Contains(res.Err.Message, "nothing was changed") {
			t.Fatalf("a command whose append got no answer: %+v", res)
		}
		l.fail.Store(false)
		if res := doReq(t, e, Request{Command: createTask("landed"), Origin: origin}); res.Err == nil || res.Err.Code != world.CodeNotOwner {
			t.Fatalf("the retry on an engine whose log moved without it: %+v, want NOT_OWNER", res)
		}
		e.Close()
		e2 := openEngine(t, l.Memory.Takeover(), Options{})
		res := doReq(t, e2, Request{Command: createTask("landed"), Origin: origin})
		if !res.Duplicate || res.Revision != 2 {
			t.Fatalf("the retry after a fresh boot: %+v, want a duplicate at 2", res)
		}
	})
}
