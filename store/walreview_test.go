package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wrRecord is the record at rev with a frame of size bytes, the same
// every time it is made: a reader's result can be checked revision by
// revision.
func wrRecord(rev uint64, size int) Record {
	r := records(rev, rev)[0]
	r.Frame = bytes.Repeat([]byte{byte(rev), byte(rev >> 8)}, size/2+1)[:size]
	return r
}

func wrRecords(from, to uint64, size int) []Record {
	var out []Record
	for rev := from; rev <= to; rev++ {
		out = append(out, wrRecord(rev, size))
	}
	return out
}

// wrFiles writes a save file and a write-ahead file (nil: none) to dir
// as a crash would have left them, removing whatever an earlier round
// left there, and returns the save file's path.
func wrFiles(t *testing.T, dir string, save, wal []byte) string {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range left {
		os.Remove(p)
	}
	path := filepath.Join(dir, "save")
	if err := os.WriteFile(path, save, 0o600); err != nil {
		t.Fatal(err)
	}
	if wal != nil {
		if err := os.WriteFile(WALPath(path), wal, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func wrNonZero(b []byte) bool { return bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) }

// A crash at every byte: the write-ahead file a crash left, cut at every
// offset of what was written and with each of its bytes flipped, after
// batches that made it anew and one bigger than the file. Open gives
// exactly the records it can prove (every entry before the cut or the
// flip: the save file's own, then the entries whole and sound), never a
// record that was not written, refuses a damaged header, never panics;
// what it cannot read it keeps aside and says so, rather than remove;
// and the next Appends continue the log.
func TestWALCrashAtEveryByte(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{WALSize: 1024})
	var all []Record
	for _, b := range []struct {
		from, to uint64
		size     int
	}{
		{1, 3, 20},    // the first file, at base 0
		{4, 8, 100},   // does not fit: made anew, at base 3
		{9, 20, 100},  // bigger than the file: a file its size, at base 8
		{21, 22, 4},   // made anew at base 20: the file the crash leaves
		{23, 24, 10},  //
		{25, 25, 120}, //
	} {
		recs := wrRecords(b.from, b.to, b.size)
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	const base = 20
	if n := boltRecords(t, s); n != base {
		t.Fatalf("%d records in the save file, want %d", n, base)
	}
	saved, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(WALPath(s.path))
	if err != nil {
		t.Fatal(err)
	}
	// ends[i] is where the i-th entry after the base ends.
	ends := []int{walHeaderSize}
	for _, r := range all[base:] {
		ends = append(ends, ends[len(ends)-1]+len(appendEntry(nil, &r)))
	}
	written := ends[len(ends)-1]
	if int64(written) != s.wal.off || wrNonZero(wal[written:]) {
		t.Fatalf("the entries end at %d, the file's next entry goes at %d", written, s.wal.off)
	}
	// proven is how many records a file whose bytes are sound before at
	// holds: the save file's, then every entry ending at or before at.
	proven := func(at int) int {
		n := base
		for _, e := range ends[1:] {
			if e <= at {
				n++
			}
		}
		return n
	}

	// At every byte Open is tried; the next Appends, and a crash after
	// them, at every entry's end and every seventh byte.
	try := func(t *testing.T, dir string, name string, at int, b []byte, want int, keptAside bool) {
		t.Helper()
		var logged bytes.Buffer
		opts := Options{NoSync: true, WALSize: 1024, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
		path := wrFiles(t, dir, saved, b)
		c, err := Open(path, opts)
		if want < 0 {
			if err == nil {
				c.Close()
				t.Fatalf("%s: opened, want the damaged header refused", name)
			}
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), ".wal") {
				t.Fatalf("%s: %v, want the write-ahead file's header refused", name, err)
			}
			if got, _ := os.ReadFile(WALPath(path)); !bytes.Equal(got, b) {
				t.Fatalf("%s: the refused write-ahead file was changed", name)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.Close()
		if got := readAll(t, c, 0); !equalRecords(got, all[:want]) {
			t.Fatalf("%s: %d records, want the %d it can prove", name, len(got), want)
		}
		if exists(WALPath(path)) {
			t.Fatalf("%s: the write-ahead file is still there after Open", name)
		}
		aside, _ := filepath.Glob(WALPath(path) + ".unread-*")
		if keptAside {
			if len(aside) != 1 || !strings.Contains(logged.String(), "WARN") {
				t.Fatalf("%s: what it could not read: aside %v, log %q", name, aside, logged.String())
			}
			if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, b) {
				t.Fatalf("%s: the write-ahead file kept aside is not as the crash left it", name)
			}
		} else if len(aside) != 0 {
			t.Fatalf("%s: kept aside %v, though nothing followed the last entry", name, aside)
		}
		if at%7 != 0 && !slices.Contains(ends, at) {
			return
		}
		next := wrRecords(uint64(want)+1, uint64(want)+2, 40)
		if err := c.Append(ctx, next); err != nil {
			t.Fatalf("%s: the next Append: %v", name, err)
		}
		again := crashCopy(t, c)
		d, err := Open(again, opts)
		if err != nil {
			t.Fatalf("%s: after a crash after the next Append: %v", name, err)
		}
		defer d.Close()
		if got := readAll(t, d, 0); !equalRecords(got, append(all[:want:want], next...)) {
			t.Fatalf("%s: after the next Append and a crash: %d records, want %d", name, len(got), want+2)
		}
	}
	// Eight at a time: the cost is the file system's syncs, not the CPU.
	const parts = 8
	for part := range parts {
		t.Run(fmt.Sprint("part ", part), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for at := part; at <= written+8; at += parts {
				if at < walHeaderSize {
					try(t, dir, fmt.Sprintf("cut at %d", at), at, wal[:at], -1, false)
				} else {
					want := proven(at)
					try(t, dir, fmt.Sprintf("cut at %d", at), at, wal[:at], want, wrNonZero(wal[ends[want-base]:at]))
				}
				b := bytes.Clone(wal)
				b[at] ^= 0xff
				want := proven(at)
				if at < walHeaderSize {
					want = -1
				}
				try(t, dir, fmt.Sprintf("byte %d flipped", at), at, b, want, true)
			}
			if part == 0 {
				try(t, dir, "cut where it was allocated", 0, wal, len(all), false)
				b := bytes.Clone(wal)
				b[len(b)-1] = 1
				try(t, dir, "the file's last byte set", 0, b, len(all), true)
			}
		})
	}
}

// Append does not wait for a checkpoint: a checkpoint (a snapshot's
// commit, which can be megabytes and two fsyncs) holds cpMu while it
// commits, and the acknowledgement is one fdatasync of the write-ahead
// file, off the checkpoint's path.
func TestWALAppendDoesNotWaitForACheckpoint(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{})
	if err := s.Append(ctx, records(1, 3)); err != nil {
		t.Fatal(err)
	}
	s.cpMu.Lock() // a checkpoint committing
	done := make(chan error, 1)
	go func() { done <- s.Append(ctx, records(4, 6)) }()
	select {
	case err := <-done:
		s.cpMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		s.cpMu.Unlock()
		t.Fatal("Append waited 10 s for a checkpoint in progress")
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(1, 6)) {
		t.Fatalf("after a crash: %d records", len(got))
	}
}

// A batch acknowledged while a background checkpoint commits is copied
// in by the next one, half a second later, not left in the tail until
// 256 KiB more arrive: it found the tail not empty and woke nobody.
func TestWALCheckpointerWakesForWhatCameDuringOne(t *testing.T) {
	ctx := context.Background()
	var s *Store
	var once atomic.Bool
	during := make(chan error, 1)
	opts := Options{testStep: func(step string) {
		if step == "copied" && once.CompareAndSwap(false, true) {
			during <- s.Append(ctx, records(4, 5)) // on the checkpointer's goroutine, after its commit
		}
	}}
	s, err := Open(filepath.Join(t.TempDir(), "save"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Append(ctx, records(1, 3)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-during:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for the background checkpoint of revisions 1 to 3")
	}
	deadline := time.Now().Add(time.Minute)
	for boltRecords(t, s) != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for the checkpointer to copy in the batch acknowledged during its last checkpoint: %d records in the save file", boltRecords(t, s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wrAt is the record at rev that TestWALReadersWhileAppending writes:
// its frame's size, 10 to 309 bytes, depends on rev alone.
func wrAt(rev uint64) Record { return wrRecord(rev, int(10+rev*37%300)) }

func wrAts(from, to uint64) []Record {
	var out []Record
	for rev := from; rev <= to; rev++ {
		out = append(out, wrAt(rev))
	}
	return out
}

func wrWorld(rev uint64) []byte { return []byte(fmt.Sprintf("world at %d", rev)) }

// wrSame reports whether r is the record wrAt writes at its revision.
func wrSame(r Record) bool { return equalRecords([]Record{r}, []Record{wrAt(r.Revision)}) }

// Readers see a contiguous, correct run of records while one goroutine
// appends (the checkpointer running, a write-ahead file of 2 KiB made
// anew every few batches, some batches bigger than it) and now and then
// rewrites the file, as the engine does after a failed write; another
// saves snapshots and compacts behind them, as engine/feed.go does (the
// engine never runs those two and Rewrite at once); and others read with
// every reader, check the file, and back it up and open the copy.
func TestWALReadersWhileAppending(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "save"), Options{NoSync: true, WALSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const total = 1500
	var saving sync.Mutex // the engine's: a snapshot and compaction, or a Rewrite
	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the engine's goroutine
		defer wg.Done()
		defer close(stop)
		for i, rev := 0, uint64(0); rev < total; i++ {
			n := min(uint64(1+i%9), total-rev)
			if err := s.Append(ctx, wrAts(rev+1, rev+n)); err != nil {
				t.Errorf("append %d to %d: %v", rev+1, rev+n, err)
				return
			}
			rev += n
			if i%97 == 96 {
				saving.Lock()
				err := s.Rewrite(ctx, rev, wrWorld(rev), wrAts(rev-9, rev))
				saving.Unlock()
				if err != nil {
					t.Errorf("rewrite at %d: %v", rev, err)
					return
				}
			}
		}
	}()
	run("snapshot and compact", func() error {
		saving.Lock()
		defer saving.Unlock()
		rev := s.LastRevision()
		if err := s.SaveSnapshot(ctx, rev, wrWorld(rev)); err != nil {
			return err
		}
		if rev > 100 {
			return s.Compact(ctx, rev-100)
		}
		return nil
	})
	var seed atomic.Uint64
	pick := func(n uint64) uint64 { return (seed.Add(0x9e3779b97f4a7c15) >> 11) % (n + 1) } // 0..n
	// contiguous checks a reader's records: each the one written at its
	// revision, each the one before plus one (step 1, or -1 newest first).
	contiguous := func(got []Record, step int) error {
		for i, r := range got {
			if !wrSame(r) {
				return fmt.Errorf("revision %d is not the record written there", r.Revision)
			}
			if i > 0 && int64(r.Revision)-int64(got[i-1].Revision) != int64(step) {
				return fmt.Errorf("revision %d follows %d", r.Revision, got[i-1].Revision)
			}
		}
		return nil
	}
	collect := func(got *[]Record) func(Record) error {
		return func(r Record) error {
			r.Frame = bytes.Clone(r.Frame)
			*got = append(*got, r)
			return nil
		}
	}
	for range 2 {
		run("Records", func() error {
			last := s.LastRevision()
			after := pick(last)
			var got []Record
			if err := s.Records(ctx, after, collect(&got)); err != nil {
				return err
			}
			first := s.FirstRevision()
			if err := contiguous(got, 1); err != nil {
				return fmt.Errorf("after %d: %w", after, err)
			}
			switch {
			case after == last:
			case len(got) == 0 || got[len(got)-1].Revision < last:
				return fmt.Errorf("after %d: %d records, the log was at %d before the call", after, len(got), last)
			case after+1 >= first && got[0].Revision != after+1:
				return fmt.Errorf("after %d: the first is %d, the log holds from %d", after, got[0].Revision, first)
			}
			return nil
		})
		run("RecordsBefore", func() error {
			last := s.LastRevision()
			before := 1 + pick(last)
			var got []Record
			if err := s.RecordsBefore(before, collect(&got)); err != nil {
				return err
			}
			if err := contiguous(got, -1); err != nil {
				return fmt.Errorf("before %d: %w", before, err)
			}
			if first := s.FirstRevision(); before-1 >= first && first > 0 && (len(got) == 0 || got[0].Revision != before-1) {
				return fmt.Errorf("before %d: %d records, the log holds from %d", before, len(got), first)
			}
			return nil
		})
	}
	run("Record and RecordsBetween", func() error {
		last := s.LastRevision()
		if last == 0 {
			return nil
		}
		rev := 1 + pick(last-min(last, 1))
		r, ok, err := s.Record(rev)
		if err != nil {
			return err
		}
		if ok && !wrSame(r) {
			return fmt.Errorf("Record(%d) is not the record written there", rev)
		}
		if first := s.FirstRevision(); !ok && first > 0 && rev >= first && rev <= last {
			return fmt.Errorf("Record(%d): not found, the log holds %d to %d", rev, first, last)
		}
		var got []Record
		if err := s.RecordsBetween(ctx, rev, min(rev+20, last), collect(&got)); err != nil {
			return err
		}
		if err := contiguous(got, 1); err != nil {
			return fmt.Errorf("between %d and %d: %w", rev, rev+20, err)
		}
		if first := s.FirstRevision(); rev >= first && first > 0 && (len(got) == 0 || got[0].Revision != rev || got[len(got)-1].Revision != min(rev+20, last)) {
			return fmt.Errorf("between %d and %d: %d records", rev, min(rev+20, last), len(got))
		}
		return nil
	})
	run("RevisionAt and HistoryWindow", func() error {
		last := s.LastRevision()
		if last == 0 {
			return nil
		}
		rev := 1 + pick(last-min(last, 1))
		got, ok, err := s.RevisionAt(ctx, int64(rev)*1000+500)
		if err != nil {
			return err
		}
		if first := s.FirstRevision(); ok && got != rev || !ok && rev >= first && first > 0 {
			return fmt.Errorf("RevisionAt(the time of %d): %d %v, the log holds from %d", rev, got, ok, first)
		}
		from, to, err := s.HistoryWindow(ctx)
		if err != nil || from > to || to < last {
			return fmt.Errorf("HistoryWindow: %d to %d, %v; the log was at %d", from, to, err, last)
		}
		return nil
	})
	run("Check and LatestSnapshot", func() error {
		if _, err := s.Check(); err != nil {
			return err
		}
		rev, frame, err := s.LatestSnapshot(ctx)
		if err != nil || rev > 0 && !bytes.Equal(frame, wrWorld(rev)) {
			return fmt.Errorf("LatestSnapshot: %d %q %v", rev, frame, err)
		}
		return nil
	})
	backups := t.TempDir()
	run("Backup", func() error {
		f, err := os.CreateTemp(backups, "copy")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, rev, err := s.Backup(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		c, err := Open(f.Name(), Options{NoSync: true})
		if err != nil {
			return fmt.Errorf("open the copy: %w", err)
		}
		defer c.Close()
		var got []Record
		if err := c.Records(ctx, 0, collect(&got)); err != nil {
			return fmt.Errorf("the copy: %w", err)
		}
		if err := contiguous(got, 1); err != nil {
			return fmt.Errorf("the copy: %w", err)
		}
		if c.LastRevision() != rev || rev > 0 && (len(got) == 0 || got[len(got)-1].Revision != rev) || c.id == s.walIDNow() {
			return fmt.Errorf("the copy at %d holds %d records, last %d", rev, len(got), c.LastRevision())
		}
		return nil
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("waited 3 minutes for the appends and the readers to end: a deadlock?")
	}
	if t.Failed() {
		return
	}
	if got := readAll(t, s, s.FirstRevision()-1); s.LastRevision() != total || contiguous(got, 1) != nil || got[len(got)-1].Revision != total {
		t.Fatalf("at the end: last %d, %d records", s.LastRevision(), len(got))
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); contiguous(got, 1) != nil || got[len(got)-1].Revision != total {
		t.Fatalf("after a crash at the end: %d records", len(got))
	}
}

// walIDNow is s's write-ahead id, read as Rewrite writes it (under mu).
func (s *Store) walIDNow() [16]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.id
}

// A crash at each step of Rewrite, and of a checkpoint: before the fresh
// file is in place, the old file and its write-ahead file (which holds
// the batch whose write the writer was told failed: it may have reached
// the file, as the contract says); from the rename on, the fresh file
// alone, the old write-ahead file moved aside, never replayed into it.
func TestWALCrashAtEveryStepOfRewrite(t *testing.T) {
	ctx := context.Background()
	var s *Store
	crashed := map[string]string{}
	opts := Options{testStep: func(step string) { crashed[step] = crashCopy(t, s) }}
	opts.noCheckpoints = true
	s, err := Open(filepath.Join(t.TempDir(), "save"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Append(ctx, records(1, 5))
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	s.Append(ctx, records(6, 8))  // acknowledged, in the tail
	s.Append(ctx, records(9, 10)) // reached the file, but the writer was told its write failed
	if err := s.Rewrite(ctx, 8, []byte("world at 8"), records(4, 8)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step  string
		want  []Record
		aside bool
	}{
		{"copied", records(1, 5), false},
		{"fresh", records(1, 10), false},
		{"renamed", records(4, 8), true},
		{"switched", records(4, 8), true},
		{"dropped", records(4, 8), false},
	} {
		path, ok := crashed[tc.step]
		if !ok {
			t.Fatalf("no step %q", tc.step)
		}
		c := open(t, path)
		if got := readAll(t, c, 0); !equalRecords(got, tc.want) {
			t.Errorf("a crash at %q: %d records, last %d", tc.step, len(got), c.LastRevision())
		}
		if aside, _ := filepath.Glob(WALPath(path) + ".stale-*"); len(aside) == 1 != tc.aside {
			t.Errorf("a crash at %q: moved aside %v", tc.step, aside)
		}
		if err := c.Append(ctx, records(c.LastRevision()+1, c.LastRevision()+1)); err != nil {
			t.Errorf("a crash at %q: the next Append: %v", tc.step, err)
		}
	}
	if err := s.Append(ctx, records(9, 9)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(4, 9)) {
		t.Fatalf("a crash after the Append after Rewrite: %d records", len(got))
	}
}

// A store whose save file was deleted under it, with a second store (a
// second server) on the path, never touches the second one's
// write-ahead file: not by making its own anew (the rename would put
// it over the other's, whose acknowledged batches then live only in an
// unlinked file), not by Close. What the first had acknowledged is
// moved aside by the second's Open, not destroyed.
func TestWALNeverOverAnotherStoresFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "save")
	a := walOpen(t, path, Options{WALSize: 4096})
	if err := a.Append(ctx, records(1, 3)); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	b := walOpen(t, path, Options{})
	theirs := wrRecords(1, 2, 50)
	if err := b.Append(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if aside, _ := filepath.Glob(WALPath(path) + ".stale-*"); len(aside) != 1 {
		t.Fatalf("the first store's write-ahead file, moved aside by the second's Open: %v", aside)
	}
	sameAsB := func(when string) {
		t.Helper()
		fi, err := os.Stat(WALPath(path))
		if err != nil || !os.SameFile(fi, *b.walInfo.Load()) {
			t.Fatalf("%s: the second store's write-ahead file is no longer at its path (%v)", when, err)
		}
		if got := readAll(t, open(t, crashCopy(t, b)), 0); !equalRecords(got, theirs) {
			t.Fatalf("%s: a crash of the second store: %d records", when, len(got))
		}
	}
	a.wal.off = a.wal.size // its next batch makes its write-ahead file anew
	var gone *FileGoneError
	if err := a.Append(ctx, records(4, 4)); !errors.As(err, &gone) {
		t.Fatalf("the first store's Append: %v, want its save file gone", err)
	}
	sameAsB("after the first store's Append")
	a.Close()
	sameAsB("after the first store's Close")
}

// A write-ahead file that cannot be made (its place taken by a
// directory, an allocation the file system refuses) fails the Append
// and changes nothing: nothing left behind, what was acknowledged before
// still there after a crash, and the Appends after it work once it can
// be made.
func TestWALCannotBeMade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "save")
	s := walOpen(t, path, Options{WALSize: 4096})
	blocked := func() {
		t.Helper()
		if err := os.Mkdir(WALPath(path)+".new", 0o700); err != nil {
			t.Fatal(err)
		}
	}
	blocked()
	if err := s.Append(ctx, records(1, 2)); err == nil || !strings.Contains(err.Error(), "write-ahead") || s.LastRevision() != 0 || len(readAll(t, s, 0)) != 0 {
		t.Fatalf("the first Append, its write-ahead file not made: %v, last %d", err, s.LastRevision())
	}
	os.Remove(WALPath(path) + ".new")
	if err := s.Append(ctx, records(1, 2)); err != nil {
		t.Fatal(err)
	}
	s.wal.off = s.wal.size // the next batch makes it anew
	blocked()
	if err := s.Append(ctx, records(3, 3)); err == nil || s.LastRevision() != 2 {
		t.Fatalf("an Append whose write-ahead file could not be made anew: %v, last %d", err, s.LastRevision())
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(1, 2)) {
		t.Fatalf("a crash then: %d records", len(got))
	}
	os.Remove(WALPath(path) + ".new")
	if err := s.Append(ctx, records(3, 4)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(1, 4)) {
		t.Fatalf("a crash after it could be made: %d records", len(got))
	}

	huge := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{WALSize: 1 << 62})
	if err := huge.Append(ctx, records(1, 1)); err == nil || huge.LastRevision() != 0 {
		t.Fatalf("an allocation of 4 EiB: %v", err)
	}
	if left, _ := filepath.Glob(huge.path + ".*"); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if err := huge.Close(); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint that fails for real (the save file's database closed
// under the store) keeps the write-ahead file: Close says so and leaves
// it, and the next Open replays every acknowledged batch.
func TestWALFailedCheckpointThenClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "save")
	s, err := Open(path, Options{noCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Append(ctx, records(1, 4))
	s.mu.Lock()
	s.db.Close()
	s.mu.Unlock()
	if err := s.checkpoint(); err == nil {
		t.Fatal("a checkpoint into a closed database succeeded")
	}
	if err := s.Append(ctx, records(5, 5)); err == nil {
		t.Fatal("an Append after a failed checkpoint succeeded")
	}
	if err := s.Close(); err == nil || !exists(WALPath(path)) {
		t.Fatalf("Close after a failed checkpoint: %v, the write-ahead file there: %v", err, exists(WALPath(path)))
	}
	if got := readAll(t, open(t, path), 0); !equalRecords(got, records(1, 4)) {
		t.Fatalf("reopened: %d records", len(got))
	}
}

// Close while one goroutine appends, the checkpointer runs, a small
// write-ahead file is made anew often and readers read: every batch
// acknowledged before it is in the save file after, the write-ahead file
// gone; Appends after it are refused, readers fail without a panic.
func TestWALCloseWhileAppending(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "save")
	s, err := Open(path, Options{NoSync: true, WALSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan uint64)
	go func() {
		rev := uint64(0)
		for s.Append(ctx, wrAts(rev+1, rev+3)) == nil {
			rev += 3
		}
		acked <- rev
	}()
	reads := make(chan struct{})
	go func() {
		defer close(reads)
		for s.Records(ctx, s.LastRevision()-min(s.LastRevision(), 5), func(Record) error { return nil }) == nil {
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for s.LastRevision() < 300 {
		if time.Now().After(deadline) {
			t.Fatal("waited a minute for 300 revisions")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var last uint64
	select {
	case last = <-acked:
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for the Append after Close to be refused")
	}
	select {
	case <-reads:
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for a read after Close to fail")
	}
	if exists(WALPath(path)) {
		t.Fatal("Close left the write-ahead file")
	}
	c := open(t, path)
	if got := readAll(t, c, 0); len(got) != int(last) || c.LastRevision() != last || !equalRecords(got, wrAts(1, last)) {
		t.Fatalf("reopened: %d records, last %d; %d were acknowledged", len(got), c.LastRevision(), last)
	}
}
