package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"txxt/world"
	"txxt/worldlog"
)

// ownerForwarder carries a follower's commands to an owner engine in the
// same process, as the network would: each with its actor and origin,
// submitted to the owner, answered in order.
type ownerForwarder struct {
	owner *Engine
	// unreachable makes every forward fail at once, as with no owner.
	unreachable atomic.Bool
	// loseAnswers makes the owner apply the commands and the answers get
	// lost on the way back.
	loseAnswers atomic.Bool
	// hold, when set, is waited on before each forward returns.
	hold     chan struct{}
	forwards atomic.Int64 // forwards answered
}

var errLost = errors.New("the owner's answer was lost on the way")

func (f *ownerForwarder) Forward(ctx context.Context, batch []Request) ([]Result, error) {
	defer f.forwards.Add(1)
	if f.unreachable.Load() {
		return nil, errors.New("no owner answers")
	}
	results := make([]Result, len(batch))
	var wg sync.WaitGroup
	for i, r := range batch {
		if r.Done != nil {
			return nil, errors.New("a forwarded request came with its Done")
		}
		wg.Add(1)
		r.Done = func(res Result) { results[i] = res; wg.Done() }
		if err := f.owner.Submit(r); err != nil {
			results[i] = Result{Err: &world.Error{Code: world.CodeOverloaded, Message: err.Error()}}
			wg.Done()
		}
	}
	wg.Wait()
	if f.hold != nil {
		<-f.hold
	}
	if f.loseAnswers.Load() {
		return nil, errLost
	}
	return results, nil
}

// gatedLog is a memory log whose followers start only once open is
// closed: a follower that lags behind its owner.
type gatedLog struct {
	*worldlog.Memory
	open chan struct{}
}

func (g gatedLog) Follow(ctx context.Context, after uint64, fn func(worldlog.Record) error) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Memory.Follow(ctx, after, fn)
}

func openFollower(t testing.TB, log worldlog.Log, fwd Forwarder, opts Options) *Engine {
	t.Helper()
	e, err := Follow(log, fwd, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// events reads sub until it has delivered revision to, and returns each
// event's frame by revision (a snapshot first is allowed).
func events(t testing.TB, sub *Subscription, to uint64) map[uint64][]byte {
	t.Helper()
	out := map[uint64][]byte{}
	for sub.Last() < to {
		d, err := sub.Next(ctxWait(t))
		if err != nil {
			t.Fatalf("a subscriber at %d waiting for %d: %v", sub.Last(), to, err)
		}
		for _, p := range d.Events {
			out[p.Revision] = bytes.Clone(p.Frame)
		}
	}
	return out
}

// A follower's world and feed are the owner's: the same events, the same
// frames, at the same revisions, and the same snapshot.
func TestFollowerFeedIsTheOwners(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{NewID: seqIDs()})
	createService(t, owner)
	before := mustDo(t, owner, createTask("before the follower"))
	f := openFollower(t, log.Reader(), &ownerForwarder{owner: owner}, Options{})
	if f.Revision() != before {
		t.Fatalf("the follower boots at %d, want %d", f.Revision(), before)
	}
	fromOwner, fromFollower := owner.Resume(before, true), f.Resume(before, true)
	v0Owner, v0Follower := owner.Resume(before, false), f.Resume(before, false)
	for i := range 20 {
		mustDo(t, owner, createTask(fmt.Sprintf("task %d", i)))
	}
	last := mustDo(t, owner, world.Command{Kind: world.CmdRenameService, Service: serviceID, Text: "Ops team"}) // no v0 frame
	want, got := events(t, fromOwner, last), events(t, fromFollower, last)
	for rev := before + 1; rev <= last; rev++ {
		if !bytes.Equal(got[rev], want[rev]) || want[rev] == nil {
			t.Fatalf("revision %d: the follower published %x, the owner %x", rev, got[rev], want[rev])
		}
	}
	// The original protocol's frames too, withheld where the owner's are.
	legacy := func(sub *Subscription) [][]byte {
		var out [][]byte
		for sub.Last() < last {
			d, err := sub.Next(ctxWait(t))
			if err != nil || d.Snapshot != nil {
				t.Fatalf("a v0 subscriber at %d: %+v, %v", sub.Last(), d, err)
			}
			for _, p := range d.Events {
				for _, fr := range p.Legacy {
					out = append(out, bytes.Clone(fr))
				}
			}
		}
		return out
	}
	if a, b := legacy(v0Owner), legacy(v0Follower); len(a) != 20 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("v0 frames: the owner's %d, the follower's %d, equal %v", len(a), len(b), fmt.Sprint(a) == fmt.Sprint(b))
	}
	a, err := owner.Snapshot(ctxWait(t), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Snapshot(ctxWait(t), true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != last || b.Revision != last || !bytes.Equal(a.Frame, b.Frame) {
		t.Fatalf("snapshots: the owner's at %d, the follower's at %d, same bytes %v", a.Revision, b.Revision, bytes.Equal(a.Frame, b.Frame))
	}
	// A follower never writes: the log's snapshots are the owner's alone.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if rev, _, _ := log.LatestSnapshot(context.Background()); rev != 0 {
		t.Fatalf("a snapshot at %d in the log, which only the follower's close could have written", rev)
	}
}

// A command submitted to a follower is applied once, by the owner, and
// answered with its revision only once the follower's own feed has the
// event; its retry (same origin) gets the same revision, not a second
// apply.
func TestFollowerForwardsAndAnswersAfterItsEvent(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{NewID: seqIDs()})
	createService(t, owner)
	f := openFollower(t, log.Reader(), &ownerForwarder{owner: owner}, Options{})
	origin := Origin{Client: world.ID{0xc1}, Request: 1}
	published := make(chan bool, 1)
	var rev uint64
	err := f.Submit(Request{Command: createTask("via the follower"), Actor: world.ID{0xa}, Origin: origin, Done: func(res Result) {
		f.feed.mu.Lock()
		rev = res.Revision
		published <- res.Err == nil && res.Revision > 0 && f.feed.last >= res.Revision
		f.feed.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !recv(t, published, "the answer to the forwarded command") {
		t.Fatalf("the forwarded command was answered (revision %d) before the follower published its event", rev)
	}
	again := doReq(t, f, Request{Command: createTask("via the follower"), Actor: world.ID{0xa}, Origin: origin})
	if again.Err != nil || !again.Duplicate || again.Revision != rev {
		t.Fatalf("the retry: %+v, want a duplicate at %d", again, rev)
	}
	if st := owner.Stats(); st.Accepted != 2 || st.Duplicates != 1 {
		t.Fatalf("the owner accepted %d and answered %d duplicates, want 2 (the service and the task) and 1", st.Accepted, st.Duplicates)
	}
	if n := len(state(t, f).Tasks); n != 1 {
		t.Fatalf("the follower's world holds %d tasks, want 1", n)
	}
	var recorded worldlog.Record
	log.Records(context.Background(), rev-1, func(r worldlog.Record) error { recorded = r; return nil })
	if recorded.Client != origin.Client || recorded.Request != origin.Request || recorded.Actor != (world.ID{0xa}) {
		t.Fatalf("the owner recorded origin %x/%d actor %x, want the follower's client's", recorded.Client, recorded.Request, recorded.Actor)
	}
}

// An answer that arrives before the follower's feed has its event waits
// for it: a follower whose log lags holds the answer until the event is
// published.
func TestFollowerHoldsTheAnswerUntilItsFeedHasTheEvent(t *testing.T) {
	mem := worldlog.NewMemory()
	owner := openEngine(t, mem, Options{NewID: seqIDs()})
	createService(t, owner)
	log := gatedLog{mem.Reader(), make(chan struct{})}
	fwd := &ownerForwarder{owner: owner}
	f := openFollower(t, log, fwd, Options{})
	var answered atomic.Bool
	answer := make(chan Result, 1)
	if err := f.Submit(Request{Command: createTask("held"), Done: func(res Result) { answered.Store(true); answer <- res }}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the forward to be answered", func() bool { return fwd.forwards.Load() == 1 })
	// Round trips through the follower's goroutine: the owner's answer,
	// waiting beside them, is taken in between.
	for range 5 {
		f.Read(ctxWait(t), func(*world.World) {})
	}
	if answered.Load() {
		t.Fatal("the follower answered before its feed had the event")
	}
	close(log.open)
	res := recv(t, answer, "the held answer")
	if res.Err != nil || res.Revision != owner.Revision() || f.Revision() < res.Revision {
		t.Fatalf("the held answer %+v, the follower at %d, the owner at %d", res, f.Revision(), owner.Revision())
	}
}

// Commands without an origin (the original protocol's, the server's
// own) get one from the follower, so that even a retry of the forward is
// recognised; each its own, and new entities' ids drawn before sending.
func TestFollowerGivesCommandsAnOrigin(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{})
	createService(t, owner)
	f := openFollower(t, log.Reader(), &ownerForwarder{owner: owner}, Options{NewID: seqIDs()})
	a, b := mustDo(t, f, createTask("one")), mustDo(t, f, createTask("two"))
	var recs []worldlog.Record
	log.Records(context.Background(), a-1, func(r worldlog.Record) error { recs = append(recs, r); return nil })
	if len(recs) != 2 || recs[0].Client.IsZero() || recs[0].Client != recs[1].Client || recs[0].Request == recs[1].Request {
		t.Fatalf("origins of the commands forwarded without one: %+v", recs)
	}
	// The follower's first id is its client's; the tasks' come next.
	if id := seqIDOf(t, owner, b); id != seqID(3) {
		t.Fatalf("the task created at %d is %v, want the follower's id %v", b, id, seqID(3))
	}
}

// An owner that cannot be reached: the command is refused NO_OWNER (it
// may have been applied: a retry with its origin is answered truthfully),
// the follower reports itself degraded, and recovers with the owner.
func TestFollowerWithoutAnOwner(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{})
	createService(t, owner)
	fwd := &ownerForwarder{owner: owner}
	f := openFollower(t, log.Reader(), fwd, Options{})

	fwd.unreachable.Store(true)
	res := do(t, f, createTask("nobody there"))
	if res.Err == nil || res.Err.Code != world.CodeNoOwner || res.Err.Message == "" {
		t.Fatalf("a command with no owner: %+v, want NO_OWNER", res)
	}
	if h := f.Health(); !h.Degraded || h.Reason != noOwnerReason {
		t.Fatalf("health without an owner: %+v", h)
	}

	// Applied, but the answer is lost: NO_OWNER too, and the retry is
	// answered with the revision it got.
	fwd.unreachable.Store(false)
	fwd.loseAnswers.Store(true)
	origin := Origin{Client: world.ID{0xc2}, Request: 7}
	if res := doReq(t, f, Request{Command: createTask("lost answer"), Origin: origin}); res.Err == nil || res.Err.Code != world.CodeNoOwner {
		t.Fatalf("a command whose answer was lost: %+v, want NO_OWNER", res)
	}
	applied := owner.Revision()
	fwd.loseAnswers.Store(false)
	again := doReq(t, f, Request{Command: createTask("lost answer"), Origin: origin})
	if again.Err != nil || !again.Duplicate || again.Revision != applied {
		t.Fatalf("the retry of a command whose answer was lost: %+v, want a duplicate at %d", again, applied)
	}
	if h := f.Health(); h.Degraded {
		t.Fatalf("health once the owner answers again: %+v", h)
	}
}

// A follower that lags behind a compaction (the records after it are
// gone) reads the world again from the newest snapshot, and its
// subscribers get a snapshot, then the events.
func TestFollowerBehindACompactionResyncs(t *testing.T) {
	mem := worldlog.NewMemory()
	owner := openEngine(t, mem, Options{SnapshotEvery: 10, KeepLog: 5})
	createService(t, owner)
	log := gatedLog{mem.Reader(), make(chan struct{})}
	f := openFollower(t, log, &ownerForwarder{owner: owner}, Options{})
	sub := f.Resume(f.Revision(), true)
	var last uint64
	for i := range 40 {
		last = mustDo(t, owner, createTask(fmt.Sprintf("task %d", i)))
	}
	eventually(t, "the owner to compact its log past the follower", func() bool {
		first := uint64(0)
		mem.Records(context.Background(), 0, func(r worldlog.Record) error { first = r.Revision; return errors.New("one is enough") })
		return first > 2
	})
	close(log.open)
	d, err := sub.Next(ctxWait(t))
	if err != nil || d.Snapshot == nil {
		t.Fatalf("the follower's subscriber after the resync: %+v, %v, want a snapshot", d, err)
	}
	events(t, sub, last)
	next := mustDo(t, f, createTask("after the resync"))
	events(t, sub, next)
	if !equalState(state(t, f), state(t, owner)) {
		t.Fatal("the follower's world is not the owner's after the resync")
	}
}

// Close answers every command a follower took, each once: forwarded and
// answered, or refused when it could not be.
func TestFollowerCloseAnswersEveryCommand(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{})
	createService(t, owner)
	fwd := &ownerForwarder{owner: owner, hold: make(chan struct{})}
	f, err := Follow(log.Reader(), fwd, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var answers atomic.Int64
	var mu sync.Mutex
	counts := map[int]int{}
	for i := range 50 {
		err := f.Submit(Request{Command: createTask("t"), Actor: world.ID{byte(i % 5)}, Done: func(Result) {
			answers.Add(1)
			mu.Lock()
			counts[i]++
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	close(fwd.hold) // the forward in flight, then the rest
	if err := recv(t, closed, "the follower to close"); err != nil {
		t.Fatal(err)
	}
	if n := answers.Load(); n != 50 {
		t.Fatalf("%d answers to 50 commands", n)
	}
	for i, n := range counts {
		if n != 1 {
			t.Fatalf("command %d answered %d times", i, n)
		}
	}
	if err := f.Submit(Request{Command: createTask("late"), Done: func(Result) {}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit to a closed follower: %v, want ErrClosed", err)
	}
}

// Only a log that can be followed makes a follower.
func TestFollowNeedsAFollower(t *testing.T) {
	if _, err := Follow(&testLog{}, &ownerForwarder{}, Options{}); err == nil {
		t.Fatal("a follower of a log that cannot be followed")
	}
}

// A follower cut off from its owner closes at once: what it could not
// send is refused SHUTTING_DOWN (nothing was changed), not tried for the
// forwarder's bound.
func TestFollowerCutOffClosesAtOnce(t *testing.T) {
	log := worldlog.NewMemory()
	owner := openEngine(t, log, Options{})
	fwd := &ownerForwarder{owner: owner, hold: make(chan struct{})}
	fwd.unreachable.Store(true)
	f, err := Follow(log.Reader(), fwd, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res := do(t, f, createTask("nobody there")); res.Err == nil || res.Err.Code != world.CodeNoOwner {
		t.Fatalf("a command with no owner: %+v", res)
	}
	fwd.unreachable.Store(false)       // a forward now would wait on hold
	release := pause(t, f)             // nothing queued is taken before Close comes
	answers := make(chan Result, 2048) // more than a user's queue holds
	queue := func() error {
		return f.Submit(Request{Command: createTask("queued"), Done: func(r Result) { answers <- r }})
	}
	queued := 0
	for range 10 {
		if err := queue(); err != nil {
			t.Fatal(err)
		}
		queued++
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	for { // until Close has begun
		err := queue()
		if errors.Is(err, ErrClosed) {
			break
		}
		if err == nil {
			queued++
		}
	}
	release()
	recv(t, closed, "the cut-off follower to close")
	for range queued {
		if r := recv(t, answers, "the queued commands' answers"); r.Err == nil || r.Err.Code != world.CodeShuttingDown {
			t.Fatalf("a queued command at the close of a cut-off follower: %+v, want SHUTTING_DOWN", r)
		}
	}
	close(fwd.hold)
}
