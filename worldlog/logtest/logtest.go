// Package logtest is the behaviour suite every worldlog.Log backend
// passes: one suite, run by each backend's tests over its own
// constructor, so the in-memory log, the save file and any later backend
// are held to the same sentences.
package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"txxt/worldlog"
)

// Backend opens the logs the suite runs on.
type Backend struct {
	// New returns the log of a new, empty world, open for writing. The
	// backend cleans it up when the test ends.
	New func(t *testing.T) worldlog.Log

	// Reopen closes l and opens the same world's log again, as a restart
	// of its process would.
	Reopen func(t *testing.T, l worldlog.Log) worldlog.Log

	// Takeover opens a second writer of l's world while l stays open, as
	// a node taking the world over would. A backend that refuses a
	// second writer outright (a file another process holds locked)
	// returns an error, and then l must go on writing as before.
	Takeover func(t *testing.T, l worldlog.Log) (worldlog.Log, error)

	// Follow opens a handle on l's world that follows it without writing
	// it, as a node that does not own the world would. Nil: the backend
	// cannot be followed (the follow cases are skipped).
	Follow func(t *testing.T, l worldlog.Log) worldlog.Follower

	// CutsToSnapshots says the backend's Compact cuts the log back only
	// to a snapshot it keeps (the newest at or before keepAfter, and
	// before the newest record), so that every revision the log holds can
	// be rebuilt from a snapshot: the save file, which keeps the past.
	CutsToSnapshots bool
}

// Run runs the suite, one subtest per behaviour.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"a_new_log_is_empty", newLogIsEmpty},
		{"appended_records_read_back_in_order", appendAndRead},
		{"records_after_a_revision", readRanges},
		{"records_stop_at_the_first_error", readStopsAtError},
		{"an_append_that_does_not_continue_is_refused", gap},
		{"appended_frames_are_copied", framesCopied},
		{"snapshots_keep_their_revision", snapshots},
		{"compaction_keeps_the_newest_snapshot_and_record", compaction},
		{"a_reopen_sees_what_was_acknowledged", reopen},
		{"an_ended_context_writes_nothing", endedContext},
		{"a_second_writer_fences_the_first", fenced},
		{"a_follower_sees_every_record_then_each_new_one", followAll},
		{"a_follower_starts_after_a_revision", followAfter},
		{"a_follower_stops_at_its_context_or_fn_error", followStops},
		{"a_follower_skips_what_was_compacted", followCompacted},
		{"nothing_the_fence_refused_is_ever_followed", followFenced},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

var ctx = context.Background()

// records returns the records from..to (inclusive), each with a frame and
// an origin of its own.
func records(from, to uint64) []worldlog.Record {
	var out []worldlog.Record
	for rev := from; rev <= to; rev++ {
		r := worldlog.Record{Revision: rev, Time: int64(rev) * 1000, Request: uint32(rev), Frame: []byte(fmt.Sprintf("event %d", rev))}
		r.Actor[0], r.Client[0], r.Client[15] = 1, 2, byte(rev)
		out = append(out, r)
	}
	return out
}

func mustAppend(t *testing.T, l worldlog.Log, recs []worldlog.Record) {
	t.Helper()
	if err := l.Append(ctx, recs); err != nil {
		t.Fatalf("append %d to %d: %v", recs[0].Revision, recs[len(recs)-1].Revision, err)
	}
}

// read returns copies of the records after after.
func read(t *testing.T, l worldlog.Log, after uint64) []worldlog.Record {
	t.Helper()
	var out []worldlog.Record
	err := l.Records(ctx, after, func(r worldlog.Record) error {
		r.Frame = bytes.Clone(r.Frame)
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("records after %d: %v", after, err)
	}
	return out
}

func head(t *testing.T, l worldlog.Log) uint64 {
	t.Helper()
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return h
}

// expect checks that l holds exactly the records from..to, as records
// made them, and that its head is want.
func expect(t *testing.T, l worldlog.Log, from, to, want uint64) {
	t.Helper()
	got := read(t, l, 0)
	var wantRecs []worldlog.Record
	if to >= from {
		wantRecs = records(from, to)
	}
	if len(got) != len(wantRecs) {
		t.Fatalf("log holds %d records (%s), want %d to %d", len(got), span(got), from, to)
	}
	for i := range got {
		if !equal(got[i], wantRecs[i]) {
			t.Fatalf("record %d reads back as %+v, want %+v", wantRecs[i].Revision, got[i], wantRecs[i])
		}
	}
	if h := head(t, l); h != want {
		t.Fatalf("head %d, want %d", h, want)
	}
}

func equal(a, b worldlog.Record) bool {
	return a.Revision == b.Revision && a.Time == b.Time && a.Actor == b.Actor && a.Client == b.Client &&
		a.Request == b.Request && bytes.Equal(a.Frame, b.Frame)
}

func span(recs []worldlog.Record) string {
	if len(recs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d to %d", recs[0].Revision, recs[len(recs)-1].Revision)
}

func newLogIsEmpty(t *testing.T, b Backend) {
	l := b.New(t)
	expect(t, l, 1, 0, 0)
	rev, frame, err := l.LatestSnapshot(ctx)
	if rev != 0 || frame != nil || err != nil {
		t.Fatalf("latest snapshot of a new log: %d, %q, %v", rev, frame, err)
	}
	if err := l.Append(ctx, nil); err != nil {
		t.Fatalf("an empty append: %v", err)
	}
	expect(t, l, 1, 0, 0)
}

func appendAndRead(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 3)) // a batch
	mustAppend(t, l, records(4, 4)) // a lone command
	mustAppend(t, l, records(5, 9))
	expect(t, l, 1, 9, 9)
}

func readRanges(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 9))
	for _, c := range []struct {
		after    uint64
		from, to uint64
	}{{0, 1, 9}, {1, 2, 9}, {5, 6, 9}, {8, 9, 9}, {9, 1, 0}, {100, 1, 0}} {
		got := read(t, l, c.after)
		want := uint64(0)
		if c.to >= c.from {
			want = c.to - c.from + 1
		}
		if uint64(len(got)) != want || (want > 0 && (got[0].Revision != c.from || got[len(got)-1].Revision != c.to)) {
			t.Errorf("records after %d: %s, want %d to %d", c.after, span(got), c.from, c.to)
		}
	}
}

func readStopsAtError(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 9))
	stop := errors.New("enough")
	n := 0
	err := l.Records(ctx, 0, func(r worldlog.Record) error {
		if n++; r.Revision == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("records stopped after %d calls with %v, want 3 and fn's error", n, err)
	}
}

func gap(t *testing.T, b Backend) {
	l := b.New(t)
	for _, c := range []struct {
		name string
		recs []worldlog.Record
	}{
		{"first_past_head_plus_one", records(2, 3)},
		{"a_hole_inside_the_batch", append(records(1, 1), records(3, 3)...)},
	} {
		if err := l.Append(ctx, c.recs); !errors.Is(err, worldlog.ErrGap) {
			t.Errorf("%s: append %s: %v, want ErrGap", c.name, span(c.recs), err)
		}
	}
	expect(t, l, 1, 0, 0)
	mustAppend(t, l, records(1, 2))
	for _, recs := range [][]worldlog.Record{records(2, 3), records(1, 1), records(4, 4)} {
		if err := l.Append(ctx, recs); !errors.Is(err, worldlog.ErrGap) {
			t.Errorf("append %s after 2: %v, want ErrGap", span(recs), err)
		}
	}
	expect(t, l, 1, 2, 2)
	mustAppend(t, l, records(3, 3))
	expect(t, l, 1, 3, 3)
}

func framesCopied(t *testing.T, b Backend) {
	l := b.New(t)
	recs := records(1, 2)
	mustAppend(t, l, recs)
	recs[0].Frame[0], recs[1].Frame[0] = 'X', 'X'
	expect(t, l, 1, 2, 2)
}

func snapshots(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 30))
	for _, rev := range []uint64{10, 20, 30} {
		if err := l.SaveSnapshot(ctx, rev, []byte(fmt.Sprintf("world at %d", rev))); err != nil {
			t.Fatalf("save snapshot at %d: %v", rev, err)
		}
		got, frame, err := l.LatestSnapshot(ctx)
		if err != nil || got != rev || string(frame) != fmt.Sprintf("world at %d", rev) {
			t.Fatalf("latest snapshot after saving %d: %d, %q, %v", rev, got, frame, err)
		}
		frame[0] = 'X' // the caller's copy
	}
	if _, frame, _ := l.LatestSnapshot(ctx); string(frame) != "world at 30" {
		t.Fatalf("a changed copy changed the snapshot: %q", frame)
	}
	expect(t, l, 1, 30, 30) // snapshots leave the log as it is
}

func compaction(t *testing.T, b Backend) {
	l := b.New(t)
	for rev := uint64(1); rev <= 100; rev++ {
		// One command a batch: a backend may keep a batch whole.
		mustAppend(t, l, records(rev, rev))
	}
	compact := func(keepAfter uint64) {
		t.Helper()
		if err := l.Compact(ctx, keepAfter); err != nil {
			t.Fatalf("compact to %d: %v", keepAfter, err)
		}
	}
	compact(50) // no snapshot yet: every record is needed to boot
	expect(t, l, 1, 100, 100)
	if err := l.SaveSnapshot(ctx, 60, []byte("world at 60")); err != nil {
		t.Fatal(err)
	}
	// first is where the log starts after compacting to keepAfter: just
	// after it, or, for a backend that cuts only to a snapshot, just
	// after the newest snapshot at or before it.
	first := func(keepAfter, toSnapshot uint64) uint64 {
		if b.CutsToSnapshots {
			return toSnapshot + 1
		}
		return keepAfter + 1
	}
	compact(40)
	from := first(40, 0)
	expect(t, l, from, 100, 100)
	if got := read(t, l, 10); len(got) == 0 || got[0].Revision != max(from, 11) {
		t.Fatalf("records after 10, compacted to 40: %s, want %d to 100", span(got), max(from, 11))
	}
	compact(80) // not past the snapshot
	expect(t, l, 61, 100, 100)
	if err := l.SaveSnapshot(ctx, 100, []byte("world at 100")); err != nil {
		t.Fatal(err)
	}
	compact(1000) // never the newest record
	from = first(99, 60)
	expect(t, l, from, 100, 100)
	mustAppend(t, l, records(101, 101))
	expect(t, l, from, 101, 101)
}

func reopen(t *testing.T, b Backend) {
	l := b.New(t)
	for rev := uint64(1); rev <= 50; rev += 10 {
		mustAppend(t, l, records(rev, rev+9))
	}
	if err := l.SaveSnapshot(ctx, 45, []byte("world at 45")); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, records(60, 60)); !errors.Is(err, worldlog.ErrGap) {
		t.Fatalf("append after a gap: %v", err)
	}
	from := uint64(21)
	if b.CutsToSnapshots {
		from = 1 // no snapshot at or before 20
	}
	l = b.Reopen(t, l)
	expect(t, l, from, 50, 50)
	if rev, frame, err := l.LatestSnapshot(ctx); rev != 45 || string(frame) != "world at 45" || err != nil {
		t.Fatalf("latest snapshot after a reopen: %d, %q, %v", rev, frame, err)
	}
	if err := l.Append(ctx, records(52, 52)); !errors.Is(err, worldlog.ErrGap) {
		t.Fatalf("append past the head after a reopen: %v, want ErrGap", err)
	}
	mustAppend(t, l, records(51, 52))
	l = b.Reopen(t, l)
	expect(t, l, from, 52, 52)
}

func endedContext(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 2))
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Append(done, records(3, 3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with an ended context: %v, want context.Canceled", err)
	}
	if err := l.Records(done, 0, func(worldlog.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("records with an ended context: %v, want context.Canceled", err)
	}
	expect(t, l, 1, 2, 2)
}

func fenced(t *testing.T, b Backend) {
	first := b.New(t)
	mustAppend(t, first, records(1, 5))
	second, err := b.Takeover(t, first)
	if err != nil {
		// One writer is all this backend lets in: the first goes on.
		t.Logf("the backend refused a second writer: %v", err)
		mustAppend(t, first, records(6, 6))
		expect(t, first, 1, 6, 6)
		return
	}
	// The new writer starts where the old one was...
	expect(t, second, 1, 5, 5)
	// ...and from then on the old one's writes are refused, even one that
	// continues the log, before the new writer has written anything.
	if err := first.Append(ctx, records(6, 6)); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("the first writer's append after a takeover: %v, want ErrFenced", err)
	}
	expect(t, second, 1, 5, 5)
	mustAppend(t, second, records(6, 7))
	// The old writer goes on from what it knows, as a deposed engine does.
	if err := first.Append(ctx, records(6, 6)); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("the first writer's append after the second wrote: %v, want ErrFenced", err)
	}
	expect(t, second, 1, 7, 7)
	// The old writer still reads what the new one wrote.
	if got := read(t, first, 5); len(got) != 2 || got[0].Revision != 6 {
		t.Fatalf("the first writer reads %s after 5, want 6 to 7", span(got))
	}
}

// following is a Follow running on its own goroutine, its records copied
// into a channel the test reads.
type following struct {
	recs chan worldlog.Record
	seen uint64 // the newest revision the test has read
	stop context.CancelFunc
	done chan error
}

// follow starts following l's world after after, through the backend's
// follower handle; the test ends it (and checks that it ended with its
// context) unless it was stopped before.
func follow(t *testing.T, b Backend, l worldlog.Log, after uint64) *following {
	t.Helper()
	if b.Follow == nil {
		t.Skip("the backend cannot be followed")
	}
	fl := b.Follow(t, l)
	ctx, cancel := context.WithCancel(ctx)
	f := &following{recs: make(chan worldlog.Record, 1024), seen: after, stop: cancel, done: make(chan error, 1)}
	go func() {
		f.done <- fl.Follow(ctx, after, func(r worldlog.Record) error {
			r.Frame = bytes.Clone(r.Frame)
			select {
			case f.recs <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		if err := f.end(); !errors.Is(err, context.Canceled) {
			t.Errorf("a follow ended by its context returned %v, want context.Canceled", err)
		}
	})
	return f
}

// end stops the follow and returns what it returned (nil when it was
// ended before).
func (f *following) end() error {
	if f.stop == nil {
		return context.Canceled
	}
	f.stop()
	f.stop = nil
	select {
	case err := <-f.done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("a follow went on 10s after its context ended")
	}
}

// next returns the next record followed, or fails the test when none
// comes within 10 seconds.
func (f *following) next(t *testing.T) worldlog.Record {
	t.Helper()
	select {
	case r := <-f.recs:
		f.seen = r.Revision
		return r
	case err := <-f.done:
		t.Fatalf("the follow ended after revision %d: %v", f.seen, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for the record after revision %d", f.seen)
	}
	return worldlog.Record{}
}

// expectFollowed checks that the next records followed are exactly want.
func (f *following) expect(t *testing.T, want []worldlog.Record) {
	t.Helper()
	for _, w := range want {
		if got := f.next(t); !equal(got, w) {
			t.Fatalf("followed %+v, want %+v", got, w)
		}
	}
}

// quiet checks that nothing more is followed for a moment: the only
// bounded wait of the suite that expects nothing, so it is short.
func (f *following) quiet(t *testing.T) {
	t.Helper()
	select {
	case r := <-f.recs:
		t.Fatalf("followed revision %d after %d, want nothing more", r.Revision, f.seen)
	case <-time.After(50 * time.Millisecond):
	}
}

func followAll(t *testing.T, b Backend) {
	l := b.New(t)
	f := follow(t, b, l, 0) // before the first record
	mustAppend(t, l, records(1, 3))
	f.expect(t, records(1, 3))
	mustAppend(t, l, records(4, 4))
	mustAppend(t, l, records(5, 9))
	f.expect(t, records(4, 9))
	f.quiet(t)
	// A second follower that starts late sees the same.
	g := follow(t, b, l, 0)
	g.expect(t, records(1, 9))
	mustAppend(t, l, records(10, 10))
	f.expect(t, records(10, 10))
	g.expect(t, records(10, 10))
}

func followAfter(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 3))
	mustAppend(t, l, records(4, 9))
	for _, after := range []uint64{2, 3, 5} { // at a batch's start, end and middle
		f := follow(t, b, l, after)
		f.expect(t, records(after+1, 9))
		f.quiet(t)
	}
	f := follow(t, b, l, 9) // at the head: only what comes next
	f.quiet(t)
	mustAppend(t, l, records(10, 11))
	f.expect(t, records(10, 11))
}

func followStops(t *testing.T, b Backend) {
	l := b.New(t)
	mustAppend(t, l, records(1, 5))
	if b.Follow == nil {
		t.Skip("the backend cannot be followed")
	}
	fl := b.Follow(t, l)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := fl.Follow(done, 0, func(worldlog.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("follow with an ended context: %v, want context.Canceled", err)
	}
	stop := errors.New("enough")
	n := 0
	err := fl.Follow(ctx, 0, func(r worldlog.Record) error {
		if n++; r.Revision == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("follow stopped after %d calls with %v, want 3 and fn's error", n, err)
	}
}

func followCompacted(t *testing.T, b Backend) {
	l := b.New(t)
	for rev := uint64(1); rev <= 100; rev++ {
		mustAppend(t, l, records(rev, rev))
	}
	// A snapshot at or before the limit, for a backend that cuts only
	// back to one (CutsToSnapshots).
	for _, rev := range []uint64{40, 60} {
		if err := l.SaveSnapshot(ctx, rev, []byte(fmt.Sprint("world at ", rev))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Compact(ctx, 50); err != nil {
		t.Fatal(err)
	}
	first := read(t, l, 0)[0].Revision
	if first <= 11 {
		t.Fatalf("compacted to 50, the log still starts at %d", first)
	}
	f := follow(t, b, l, 10)
	if r := f.next(t); r.Revision != first {
		t.Fatalf("a follower after 10 of a log compacted to start at %d begins at %d", first, r.Revision)
	}
	f.expect(t, records(first+1, 100))
	mustAppend(t, l, records(101, 101))
	f.expect(t, records(101, 101))
}

func followFenced(t *testing.T, b Backend) {
	first := b.New(t)
	mustAppend(t, first, records(1, 5))
	f := follow(t, b, first, 0)
	f.expect(t, records(1, 5))
	second, err := b.Takeover(t, first)
	if err != nil {
		t.Skipf("the backend refused a second writer: %v", err)
	}
	// The deposed writer goes on from what it knows (revision 6, twice);
	// its appends, which a core subscriber of the backend might have
	// seen, are refused and never followed; the new writer's, at the same
	// revisions, are.
	refused := records(6, 6)
	refused[0].Frame = []byte("refused 6")
	for _, rev := range []uint64{6, 8} {
		if err := first.Append(ctx, refused); !errors.Is(err, worldlog.ErrFenced) {
			t.Fatalf("the deposed writer's append at 6, the new one's head at %d: %v, want ErrFenced", rev-1, err)
		}
		mustAppend(t, second, records(rev, rev+1))
		f.expect(t, records(rev, rev+1))
	}
	f.quiet(t)
	// A follower that starts now sees the log as the new writer made it.
	g := follow(t, b, second, 0)
	g.expect(t, records(1, 9))
}
