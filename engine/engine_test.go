package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// testLog wraps a real store so a test can hold a commit at the gate or make
// it fail; everything else goes to the real file.
type testLog struct {
	*store.Store
	mu       sync.Mutex
	fail     error         // returned by Append and Rewrite while set
	written  bool          // with fail: Append writes the records first, as a failed fsync leaves them in the page cache
	rewrites int           // Rewrites that succeeded
	gate     chan struct{} // when set, Append waits for it to close
	entered  chan struct{} // signalled when an Append reaches the gate
	sizes    []int         // records per Append that reached the store
	durable  atomic.Uint64 // last revision Append returned nil for
}

func (l *testLog) Append(ctx context.Context, recs []worldlog.Record) error {
	l.mu.Lock()
	gate, entered, fail := l.gate, l.entered, l.fail
	l.mu.Unlock()
	if gate != nil {
		// Bounded, so a test that fails before it opens the gate does not
		// leave the engine (and the test's Close) waiting for ever.
		if entered != nil {
			select {
			case entered <- struct{}{}:
			case <-time.After(wait):
			}
		}
		select {
		case <-gate:
		case <-time.After(wait):
		}
	}
	if fail != nil {
		if l.written {
			l.Store.Append(ctx, recs)
		}
		return fail
	}
	if err := l.Store.Append(ctx, recs); err != nil {
		return err
	}
	l.mu.Lock()
	l.sizes = append(l.sizes, len(recs))
	l.mu.Unlock()
	l.durable.Store(recs[len(recs)-1].Revision)
	return nil
}

func (l *testLog) Rewrite(ctx context.Context, rev uint64, frame []byte, tail []worldlog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	if err := l.Store.Rewrite(ctx, rev, frame, tail); err != nil {
		return err
	}
	l.rewrites++
	return nil
}

func (l *testLog) rewritten() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rewrites
}

func (l *testLog) setFail(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openEngine(t testing.TB, log worldlog.Log, opts Options) *Engine {
	t.Helper()
	e, err := Open(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// seqIDs returns an id source that counts, so tests know the ids in advance.
func seqIDs() func() world.ID {
	var n atomic.Uint32
	return func() world.ID {
		var id world.ID
		v := n.Add(1)
		id[0], id[1], id[2], id[3] = 0xee, byte(v>>16), byte(v>>8), byte(v)
		return id
	}
}

func seqID(n uint32) world.ID {
	var id world.ID
	id[0], id[1], id[2], id[3] = 0xee, byte(n>>16), byte(n>>8), byte(n)
	return id
}

var serviceID = world.ID{0x5e}

// wait is how long a test waits for anything that must come: an answer, a
// delivery, a goroutine's end. It bounds every wait, so a broken engine
// fails the test with what it waited for instead of hanging it.
const wait = 10 * time.Second

// recv returns the next value from ch, or fails the test, naming what it
// waited for, when none comes within wait.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("waited %s for %s", wait, what)
		panic("unreachable")
	}
}

// waitGroup waits for wg, or fails the test naming what it waited for.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, what)
}

// tryDo submits r and waits (at most wait) for its answer. It returns an
// error instead of failing the test, so goroutines other than the test's
// can use it (and report with t.Error).
func tryDo(e *Engine, r Request) (Result, error) {
	answer := make(chan Result, 1)
	r.Done = func(res Result) { answer <- res }
	if err := e.Submit(r); err != nil {
		return Result{}, fmt.Errorf("submit %s: %w", r.Command.Kind, err)
	}
	select {
	case res := <-answer:
		return res, nil
	case <-time.After(wait):
		return Result{}, fmt.Errorf("no answer to %s within %s", r.Command.Kind, wait)
	}
}

// tryMustDo is tryDo of c, with a refusal as an error.
func tryMustDo(e *Engine, c world.Command) (uint64, error) {
	res, err := tryDo(e, Request{Command: c})
	if err == nil && res.Err != nil {
		err = fmt.Errorf("%s refused: %v", c.Kind, res.Err)
	}
	return res.Revision, err
}

// ctxWait is a context that ends after wait, for calls that take one.
func ctxWait(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func do(t testing.TB, e *Engine, c world.Command) Result {
	t.Helper()
	return doReq(t, e, Request{Command: c})
}

func doReq(t testing.TB, e *Engine, r Request) Result {
	t.Helper()
	res, err := tryDo(e, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustDo(t testing.TB, e *Engine, c world.Command) uint64 {
	t.Helper()
	res := do(t, e, c)
	if res.Err != nil {
		t.Fatalf("%s refused: %v", c.Kind, res.Err)
	}
	return res.Revision
}

func createService(t testing.TB, e *Engine) {
	t.Helper()
	mustDo(t, e, world.Command{Kind: world.CmdCreateService, Service: serviceID, Text: "Ops"})
}

func createTask(title string) world.Command {
	return world.Command{Kind: world.CmdCreateTask, Service: serviceID, Slot: world.Slot{Date: 20000, Start: 540, Duration: 30}, Text: title}
}

func TestCommandsAreAnsweredWithConsecutiveRevisions(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{})
	createService(t, e)
	for i := 0; i < 5; i++ {
		if rev := mustDo(t, e, createTask(fmt.Sprint("task ", i))); rev != uint64(i+2) {
			t.Fatalf("command %d got revision %d, want %d", i, rev, i+2)
		}
	}
	res := do(t, e, world.Command{Kind: world.CmdMoveTask, Task: world.ID{1}, Slot: world.Slot{Date: 1, Start: 0, Duration: 5}})
	if res.Err == nil || res.Err.Code != world.CodeTaskNotFound {
		t.Fatalf("move of unknown task: %+v", res)
	}
	if got := e.Revision(); got != 6 {
		t.Fatalf("revision %d after a refusal, want 6", got)
	}
}

func TestBatchIsOneCommitAndAnsweredAfterIt(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{})
	createService(t, e)

	// Hold the next commit at the gate while more commands queue behind it.
	log.mu.Lock()
	log.gate, log.entered = make(chan struct{}), make(chan struct{}, 1)
	log.mu.Unlock()
	const n = 50
	results := make(chan Result, n+1)
	done := func(r Result) {
		if r.Err == nil && log.durable.Load() < r.Revision {
			t.Errorf("revision %d answered before it was durable (durable %d)", r.Revision, log.durable.Load())
		}
		results <- r
	}
	if err := e.Submit(Request{Command: createTask("first"), Done: done}); err != nil {
		t.Fatal(err)
	}
	recv(t, log.entered, "the first batch (one command) to reach the commit")
	for i := 0; i < n; i++ {
		if err := e.Submit(Request{Command: createTask(fmt.Sprint(i)), Done: done}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-results:
		t.Fatalf("answered before its commit returned: %+v", r)
	default:
	}
	log.mu.Lock()
	close(log.gate)
	log.gate = nil
	log.mu.Unlock()

	seen := map[uint64]bool{}
	for i := 0; i < n+1; i++ {
		r := recv(t, results, fmt.Sprintf("answer %d of %d", i+1, n+1))
		if r.Err != nil || seen[r.Revision] {
			t.Fatalf("bad answer %+v", r)
		}
		seen[r.Revision] = true
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	// service, first, then the 50 queued ones in one transaction.
	if want := []int{1, 1, n}; fmt.Sprint(log.sizes) != fmt.Sprint(want) {
		t.Fatalf("records per commit %v, want %v", log.sizes, want)
	}
}

func TestCommitPerCommandCommitsEachAlone(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{CommitPerCommand: true})
	createService(t, e)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tryMustDo(e, createTask("t")); err != nil {
				t.Error(err)
			}
		}()
	}
	waitGroup(t, &wg, "20 concurrent commands to be answered")
	for _, n := range log.sizes {
		if n != 1 {
			t.Fatalf("a commit held %d records: %v", n, log.sizes)
		}
	}
}

func TestSubscriberGetsEveryEventInOrder(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{})
	sub := e.Subscribe(true)
	ctx := ctxWait(t)
	d, err := sub.Next(ctx)
	if err != nil || d.Snapshot == nil || d.Snapshot.Revision != 0 {
		t.Fatalf("first delivery: %+v, %v", d, err)
	}
	createService(t, e)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := tryMustDo(e, createTask("t")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	waitGroup(t, &wg, "8 writers of 25 commands each")
	want := uint64(1)
	for want <= 201 {
		d, err := sub.Next(ctx)
		if err != nil || d.Snapshot != nil {
			t.Fatalf("delivery at %d: %+v %v", want, d, err)
		}
		for _, p := range d.Events {
			if p.Revision != want {
				t.Fatalf("got revision %d, want %d", p.Revision, want)
			}
			ev, err := wire.DecodeEvent(p.Frame)
			if err != nil || ev.Revision != want {
				t.Fatalf("frame of %d decodes to %+v, %v", want, ev, err)
			}
			want++
		}
	}
}

func TestFailedCommitRollsBackAndDegrades(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{})
	createService(t, e)
	taskRev := mustDo(t, e, createTask("keep"))
	task := seqIDOf(t, e, taskRev)
	before := state(t, e)
	sub := e.Resume(e.Revision(), true)

	log.setFail(errors.New("injected: disk on fire"))
	// One batch holding an accepted command and one refused only because of
	// the first: both must come back STORAGE_UNAVAILABLE, since the first
	// never happened.
	release := pause(t, e)
	results := make(chan Result, 3)
	first := world.Command{Kind: world.CmdCompleteTask, Task: task}
	for _, c := range []world.Command{first, first, createTask("lost")} {
		if err := e.Submit(Request{Command: c, Done: func(r Result) { results <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	for i := 0; i < 3; i++ {
		r := recv(t, results, fmt.Sprintf("answer %d of the failed batch", i+1))
		if r.Err == nil || r.Err.Code != world.CodeStorageUnavailable {
			t.Fatalf("answer %d: %+v, want STORAGE_UNAVAILABLE", i, r)
		}
	}
	if h := e.Health(); !h.Degraded || h.Reason == "" {
		t.Fatalf("health %+v, want degraded with a reason", h)
	}
	if after := state(t, e); !equalState(before, after) {
		t.Fatalf("world changed by a failed commit:\n%+v\n%+v", before, after)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if d, err := sub.Next(ctx); err == nil {
		t.Fatalf("a failed batch was published: %+v", d)
	}

	// The disk comes back: the next write succeeds and clears the state.
	log.setFail(nil)
	rev := mustDo(t, e, first)
	if rev != taskRev+1 {
		t.Fatalf("revision after recovery %d, want %d (no gap)", rev, taskRev+1)
	}
	if h := e.Health(); h.Degraded {
		t.Fatalf("still degraded after a successful write: %+v", h)
	}
	d, err := sub.Next(ctxWait(t))
	if err != nil || len(d.Events) != 1 || d.Events[0].Revision != rev {
		t.Fatalf("after recovery got %+v, %v", d, err)
	}
}

// A failed fsync can leave a batch's records in the page cache, where the
// file reads them back, though they may never reach the disk. The engine
// must not build on them: it writes a fresh file from the world in memory
// at the last acknowledged revision, switches to it, and only then writes
// again. The failed batch is gone for good (its commands were told to
// retry); what was acknowledged is all there, after a restart too.
func TestFailedFsyncWritesAFreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	log := &testLog{Store: openStore(t, path)}
	e := openEngine(t, log, Options{NewID: seqIDs()})
	createService(t, e)
	for i := range 5 {
		mustDo(t, e, createTask(fmt.Sprint("kept ", i)))
	}
	origin := Origin{Client: world.ID{0xc1}, Request: 7}
	retried := doReq(t, e, Request{Command: createTask("sent once"), Origin: origin})
	if retried.Err != nil {
		t.Fatal(retried.Err)
	}
	acked := e.Revision()
	want := state(t, e)
	before, _ := os.Stat(path)

	log.mu.Lock()
	log.fail, log.written = errors.New("injected: fsync: input/output error"), true
	log.mu.Unlock()
	if res := do(t, e, createTask("lost")); res.Err == nil || res.Err.Code != world.CodeStorageUnavailable {
		t.Fatalf("command in the failed batch: %+v", res)
	}
	if got := log.Store.LastRevision(); got != acked+1 {
		t.Fatalf("the injected fault did not reach the file (store at %d)", got)
	}
	// While the disk fails, no fresh file can be written: still refused.
	if res := do(t, e, createTask("lost too")); res.Err == nil || res.Err.Code != world.CodeStorageUnavailable {
		t.Fatalf("command while the disk fails: %+v", res)
	}

	log.setFail(nil)
	rev := mustDo(t, e, createTask("after"))
	if rev != acked+1 {
		t.Fatalf("first command after recovery at revision %d, want %d", rev, acked+1)
	}
	if n := log.rewritten(); n != 1 {
		t.Fatalf("%d fresh files written, want 1", n)
	}
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Fatal("the save file was not replaced")
	}
	if h := e.Health(); h.Degraded {
		t.Fatalf("degraded after recovery: %+v", h)
	}

	// A restart on the file finds the acknowledged world, and "after",
	// not "lost".
	e.Close()
	log.Store.Close()
	st2 := openStore(t, path)
	e2 := openEngine(t, st2, Options{})
	if e2.Revision() != rev {
		t.Fatalf("restarted at %d, want %d", e2.Revision(), rev)
	}
	got := state(t, e2)
	titles := map[string]bool{}
	for _, task := range got.Tasks {
		titles[task.Title] = true
	}
	if titles["lost"] || titles["lost too"] || !titles["after"] || len(got.Tasks) != len(want.Tasks)+1 {
		t.Fatalf("after the restart: %v", titles)
	}
	// The fresh file carried the tail of the log, with the commands'
	// origins: a retry of a command acknowledged before the failure is
	// recognised, and a client resuming from before it gets the events.
	res := doReq(t, e2, Request{Command: createTask("sent once"), Origin: origin})
	if !res.Duplicate || res.Revision != retried.Revision {
		t.Fatalf("retry after the restart: %+v, want a duplicate of %d", res, retried.Revision)
	}
	d, err := e2.Resume(2, true).Next(ctxWait(t))
	if err != nil || d.Snapshot != nil || len(d.Events) != int(rev-2) || d.Events[0].Revision != 3 {
		t.Fatalf("resume from revision 2 after the restart: %d events, snapshot %v, %v", len(d.Events), d.Snapshot != nil, err)
	}
	e2.Close()
	if v, err := Verify(st2); err != nil || v.Revision != rev || v.FirstRevision != 1 {
		t.Fatalf("the fresh file verifies: %+v %v", v, err)
	}
}

// Without a command, the engine tries a fresh file every RetryEvery, so a
// degraded server becomes ready again by itself.
func TestDegradedEngineRecoversWithoutCommands(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{RetryEvery: 10 * time.Millisecond})
	createService(t, e)
	log.setFail(errors.New("injected: disk on fire"))
	if res := do(t, e, createTask("lost")); res.Err == nil {
		t.Fatal("accepted while the disk fails")
	}
	if !e.Health().Degraded {
		t.Fatal("not degraded")
	}
	log.setFail(nil)
	for deadline := time.Now().Add(10 * time.Second); e.Health().Degraded; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still degraded 10 s after the disk came back")
		}
	}
	if log.rewritten() != 1 {
		t.Fatalf("%d fresh files", log.rewritten())
	}
}

// A snapshot that fails to save makes the file suspect too: the next batch
// first writes a fresh file, and nothing is refused if that works.
func TestFailedSnapshotWritesAFreshFile(t *testing.T) {
	log := &snapshotFailLog{testLog: testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}}
	e := openEngine(t, log, Options{SnapshotEvery: 3})
	createService(t, e)
	for i := range 2 {
		mustDo(t, e, createTask(fmt.Sprint("t", i)))
	} // revision 3: a snapshot is due, and fails
	for deadline := time.Now().Add(10 * time.Second); !e.snapshotFailed.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot was tried")
		}
	}
	rev := mustDo(t, e, createTask("next"))
	if log.rewritten() != 1 {
		t.Fatalf("%d fresh files after a failed snapshot, want 1", log.rewritten())
	}
	if snap, _, _ := log.LatestSnapshot(context.Background()); snap != rev-1 {
		t.Fatalf("the fresh file's snapshot is at %d, want %d", snap, rev-1)
	}
}

// A save file deleted or replaced under the running engine is a failed
// write: found at the next commit (whose commands are refused) or by the
// periodic check, it makes the engine degraded, with the reason in words;
// the next batch first writes a fresh file from memory at the path, and a
// restart on the path finds every acknowledged command.
func TestVanishedSaveFileIsWrittenAgain(t *testing.T) {
	for _, tc := range []struct {
		name               string
		replaced, periodic bool
	}{
		{"deleted_found_at_commit", false, false},
		{"replaced_found_at_commit", true, false},
		{"deleted_found_by_the_check", false, true},
		{"replaced_found_by_the_check", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "save")
			st := openStore(t, path)
			// No retry without a command, so the degraded state holds
			// until the test sends one.
			opts := Options{NewID: seqIDs(), RetryEvery: time.Hour, CheckEvery: time.Hour}
			if tc.periodic {
				opts.CheckEvery = 5 * time.Millisecond
			}
			e := openEngine(t, st, opts)
			createService(t, e)
			for i := range 5 {
				mustDo(t, e, createTask(fmt.Sprint("kept ", i)))
			}
			acked := e.Revision()
			want := state(t, e)

			if tc.replaced {
				other := openStore(t, filepath.Join(dir, "other"))
				other.Close()
				if err := os.Rename(filepath.Join(dir, "other"), path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if tc.periodic {
				eventually(t, "the engine to find the save file gone", func() bool { return e.Health().Degraded })
			} else if res := do(t, e, createTask("lost")); res.Err == nil || res.Err.Code != world.CodeStorageUnavailable {
				t.Fatalf("a command committed to a file gone: %+v, want STORAGE_UNAVAILABLE", res)
			}
			h := e.Health()
			what := map[bool]string{false: "was deleted", true: "was replaced by another file"}[tc.replaced]
			if !h.Degraded || !strings.Contains(h.Reason, "its save file "+what+" under the running server") || strings.Contains(h.Reason, path) {
				t.Fatalf("health %+v, want degraded: its save file %s (and no path, which is for the log)", h, what)
			}
			if e.Revision() != acked {
				t.Fatalf("revision %d while the file is gone, want %d", e.Revision(), acked)
			}

			rev := mustDo(t, e, createTask("after"))
			if rev != acked+1 {
				t.Fatalf("first command after the fresh file at revision %d, want %d", rev, acked+1)
			}
			if h := e.Health(); h.Degraded {
				t.Fatalf("still degraded after the fresh file: %+v", h)
			}
			if err := st.CheckFile(context.Background()); err != nil {
				t.Fatalf("the fresh file is not in place: %v", err)
			}
			e.Close()
			st.Close()

			e2 := openEngine(t, openStore(t, path), Options{})
			got := state(t, e2)
			titles := map[string]bool{}
			for _, task := range got.Tasks {
				titles[task.Title] = true
			}
			if e2.Revision() != rev || titles["lost"] || !titles["after"] || len(got.Tasks) != len(want.Tasks)+1 {
				t.Fatalf("restarted at %d with %v, want %d: every acknowledged task and after", e2.Revision(), titles, rev)
			}
		})
	}
}

// eventually polls cond until it holds, and fails the test naming what it
// waited for when it does not within 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

type snapshotFailLog struct{ testLog }

func (l *snapshotFailLog) SaveSnapshot(context.Context, uint64, []byte) error {
	return errors.New("injected: snapshot write failed")
}

func TestResume(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "save")), Options{TailSize: 16})
	createService(t, e)
	for i := 0; i < 40; i++ {
		mustDo(t, e, createTask("t"))
	}
	ctx := ctxWait(t)
	t.Run("from_the_tail", func(t *testing.T) {
		sub := e.Resume(30, true)
		var revs []uint64
		for len(revs) < 11 {
			d, err := sub.Next(ctx)
			if err != nil || d.Snapshot != nil {
				t.Fatalf("%+v %v", d, err)
			}
			for _, p := range d.Events {
				revs = append(revs, p.Revision)
			}
		}
		if fmt.Sprint(revs) != fmt.Sprint([]uint64{31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41}) {
			t.Fatalf("resumed with %v", revs)
		}
	})
	t.Run("too_old_gets_a_snapshot", func(t *testing.T) {
		sub := e.Resume(3, true)
		d, err := sub.Next(ctx)
		if err != nil || d.Snapshot == nil || d.Snapshot.Revision != 41 {
			t.Fatalf("%+v %v", d, err)
		}
		st, err := wire.DecodeSnapshot(d.Snapshot.Frame)
		if err != nil || len(st.Tasks) != 40 {
			t.Fatalf("snapshot holds %d tasks, %v", len(st.Tasks), err)
		}
	})
	t.Run("from_the_future_gets_a_snapshot", func(t *testing.T) {
		d, err := e.Resume(1000, true).Next(ctx)
		if err != nil || d.Snapshot == nil || d.Snapshot.Revision != 41 {
			t.Fatalf("%+v %v", d, err)
		}
	})
	t.Run("snapshot_is_cached_per_revision", func(t *testing.T) {
		a, _ := e.Snapshot(ctx, true)
		b, _ := e.Snapshot(ctx, true)
		if a != b {
			t.Fatal("two snapshots of one revision were encoded twice")
		}
		mustDo(t, e, createTask("t"))
		c, _ := e.Snapshot(ctx, true)
		if c == a || c.Revision != a.Revision+1 {
			t.Fatalf("stale snapshot after a change: %d", c.Revision)
		}
	})
}

func TestRetryIsAnsweredNotReapplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	st := openStore(t, path)
	e := openEngine(t, st, Options{})
	createService(t, e)
	origin := Origin{Client: world.ID{0xc1}, Request: 7}
	r1 := doReq(t, e, Request{Command: createTask("once"), Origin: origin})
	if r1.Err != nil {
		t.Fatal(r1)
	}
	r2 := doReq(t, e, Request{Command: createTask("once"), Origin: origin})
	if !r2.Duplicate || r2.Revision != r1.Revision || e.Revision() != r1.Revision {
		t.Fatalf("retry answered %+v at revision %d; first was %+v", r2, e.Revision(), r1)
	}
	// The same after a restart: the pair is in the log.
	e.Close()
	e = openEngine(t, st, Options{})
	r3 := doReq(t, e, Request{Command: createTask("once"), Origin: origin})
	if !r3.Duplicate || r3.Revision != r1.Revision {
		t.Fatalf("retry after restart answered %+v", r3)
	}
}

func TestReopenRestoresTheWorld(t *testing.T) {
	for _, every := range []uint64{1000000, 7} {
		t.Run(fmt.Sprintf("snapshot_every_%d", every), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "save")
			st := openStore(t, path)
			e := openEngine(t, st, Options{SnapshotEvery: every, KeepLog: 5, NewID: seqIDs()})
			createService(t, e)
			for i := 0; i < 30; i++ {
				rev := mustDo(t, e, createTask(fmt.Sprint("task ", i)))
				if i%3 == 0 {
					mustDo(t, e, world.Command{Kind: world.CmdMoveTask, Task: seqIDOf(t, e, rev), Slot: world.Slot{Date: 20001, Start: 600, Duration: 60}})
				}
			}
			mustDo(t, e, world.Command{Kind: world.CmdSetGrid, Grid: 15})
			before := state(t, e)
			e.Close()
			st.Close()

			st = openStore(t, path)
			e = openEngine(t, st, Options{SnapshotEvery: every, KeepLog: 5})
			if after := state(t, e); !equalState(before, after) {
				t.Fatalf("world after reopen differs:\n%+v\n%+v", before, after)
			}
		})
	}
}

func TestCloseAnswersQueuedCommands(t *testing.T) {
	e, err := Open(openStore(t, filepath.Join(t.TempDir(), "save")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	createService(t, e)
	var answered atomic.Int32
	var queued int32
	for i := 0; i < 100; i++ {
		if e.Submit(Request{Command: createTask("t"), Done: func(Result) { answered.Add(1) }}) == nil {
			queued++
		}
	}
	e.Close()
	if answered.Load() != queued {
		t.Fatalf("%d of %d queued commands answered", answered.Load(), queued)
	}
	if err := e.Submit(Request{Command: createTask("late")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
}

func TestFullQueueIsRefusedNotBlocked(t *testing.T) {
	log := &testLog{Store: openStore(t, filepath.Join(t.TempDir(), "save"))}
	e := openEngine(t, log, Options{QueueSize: 4})
	createService(t, e)
	log.mu.Lock()
	log.gate, log.entered = make(chan struct{}), make(chan struct{}, 1)
	log.mu.Unlock()
	e.Submit(Request{Command: createTask("held")})
	recv(t, log.entered, "the held command to reach the commit")
	var refused int
	for i := 0; i < 10; i++ {
		if err := e.Submit(Request{Command: createTask("t")}); errors.Is(err, ErrOverloaded) {
			refused++
		}
	}
	log.mu.Lock()
	close(log.gate)
	log.gate = nil
	log.mu.Unlock()
	if refused != 6 {
		t.Fatalf("%d of 10 refused with a queue of 4", refused)
	}
}

// pause holds the engine's goroutine until the returned func is called, so
// that commands submitted meanwhile form one batch.
func pause(t testing.TB, e *Engine) (release func()) {
	t.Helper()
	entered, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // a test that fails while paused must not hold the engine for ever
	go e.Read(context.Background(), func(*world.World) { close(entered); <-held })
	recv(t, entered, "the engine to run the pausing read")
	return release
}

// seqIDOf returns the id of the task created at rev.
func seqIDOf(t testing.TB, e *Engine, rev uint64) world.ID {
	t.Helper()
	var id world.ID
	e.Read(ctxWait(t), func(w *world.World) {
		for _, task := range w.Tasks() {
			if task.Created == rev {
				id = task.ID
			}
		}
	})
	if id.IsZero() {
		t.Fatalf("no task created at revision %d", rev)
	}
	return id
}

func state(t testing.TB, e *Engine) world.State {
	var st world.State
	if err := e.Read(ctxWait(t), func(w *world.World) { st = w.State() }); err != nil {
		t.Fatal(err)
	}
	return st
}

func equalState(a, b world.State) bool {
	wa, err1 := world.FromState(a)
	wb, err2 := world.FromState(b)
	return err1 == nil && err2 == nil && world.Equal(wa, wb)
}

// A command's event is in the feed before the command is answered, so a
// connection that writes what the feed holds before each answer always
// shows the event first.
func TestEventIsPublishedBeforeTheAnswer(t *testing.T) {
	e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "t.db")), Options{NewID: seqIDs()})
	createService(t, e)
	published := make(chan bool, 1)
	err := e.Submit(Request{Command: createTask("first"), Done: func(res Result) {
		e.feed.mu.Lock()
		published <- e.feed.last >= res.Revision && res.Revision > 0
		e.feed.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !recv(t, published, "the answer to the command") {
		t.Fatal("the command was answered before its event was published")
	}
}

func TestStageTimings(t *testing.T) {
	for _, off := range []bool{false, true} {
		e := openEngine(t, openStore(t, filepath.Join(t.TempDir(), "t.db")), Options{NewID: seqIDs(), NoTimings: off})
		batches := make(chan BatchStats, 16)
		e.OnBatch(func(b BatchStats) { batches <- b })
		createService(t, e)
		res := do(t, e, createTask("timed"))
		refused := do(t, e, world.Command{Kind: world.CmdCompleteTask, Task: seqID(999)})
		if off {
			if res.Timing != (Timing{}) || len(batches) != 0 {
				t.Fatalf("NoTimings: timing %+v, %d batches reported", res.Timing, len(batches))
			}
			continue
		}
		if res.Timing.Queue <= 0 || res.Timing.Apply <= 0 || res.Timing.Encode <= 0 || res.Timing.Commit <= 0 || res.Timing.Batch != 1 {
			t.Fatalf("accepted command's timing %+v", res.Timing)
		}
		if refused.Err == nil || refused.Timing.Apply <= 0 || refused.Timing.Encode != 0 {
			t.Fatalf("refused command's timing %+v (%v)", refused.Timing, refused.Err)
		}
		// Three batches: the service, the task, the refused command.
		for i := range 3 {
			b := recv(t, batches, fmt.Sprintf("batch %d's report", i+1))
			if b.Commands != 1 || (i < 2 && b.Commit <= 0) || (i < 2) != (b.Events == 1) {
				t.Fatalf("batch %d: %+v", i, b)
			}
		}
	}
}
