package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// walOpen opens a store whose checkpoints happen only when a test (or a
// reader, a full write-ahead file, Close) makes them.
func walOpen(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	opts.noCheckpoints = true
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// crashCopy copies the files of the open store s, as a crash of its
// process would leave them on disk (what was written is in the page
// cache, which outlives the process), into a directory of their own, and
// returns the copy's path.
func crashCopy(t *testing.T, s *Store) string {
	t.Helper()
	dir := t.TempDir()
	to := filepath.Join(dir, filepath.Base(s.path))
	for _, p := range []string{s.path, WALPath(s.path)} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func boltRecords(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketLog).Stats().KeyN
		return nil
	})
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// An acknowledged batch is in the write-ahead file, not yet in the save
// file; a crash then loses nothing: the next Open copies it in and
// removes the write-ahead file. A clean Close leaves the save file alone.
func TestWALCrashKeepsWhatWasAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s := walOpen(t, path, Options{})
	if exists(WALPath(path)) {
		t.Fatal("a write-ahead file before the first Append")
	}
	ctx := context.Background()
	if err := s.Append(ctx, records(1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, records(4, 10)); err != nil {
		t.Fatal(err)
	}
	if n := boltRecords(t, s); n != 0 {
		t.Fatalf("%d records in the save file before a checkpoint", n)
	}
	if !equalRecords(readAll(t, s, 0), records(1, 10)) {
		t.Fatal("the records in the tail do not read back")
	}
	crashed := crashCopy(t, s)

	c, err := Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c, 0); !equalRecords(got, records(1, 10)) || c.LastRevision() != 10 || c.FirstRevision() != 1 {
		t.Fatalf("after the crash: %d records, last %d, first %d", len(got), c.LastRevision(), c.FirstRevision())
	}
	if exists(WALPath(crashed)) {
		t.Error("the replayed write-ahead file is still there")
	}
	if err := c.Append(ctx, records(11, 12)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(WALPath(crashed)) {
		t.Error("Close left the write-ahead file")
	}
	c = open(t, crashed)
	if n := boltRecords(t, c); n != 12 {
		t.Fatalf("after Close: %d records in the save file, want 12", n)
	}
}

// What a crash leaves after the last acknowledged entry is never
// replayed: a batch cut short, a batch whose entry fails its checksum,
// an entry of the revision after it written in an earlier round, zeros.
func TestWALTornTail(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tail func(next []byte) []byte
	}{
		{"cut short", func(next []byte) []byte { return next[:len(next)-3] }},
		{"a flipped bit", func(next []byte) []byte { n := bytes.Clone(next); n[len(n)-1] ^= 1; return n }},
		{"a length past the end", func(next []byte) []byte { n := bytes.Clone(next); n[0], n[1], n[2] = 0xff, 0xff, 0x0f; return n }},
		{"the revision after the next", func([]byte) []byte { r := records(7, 7)[0]; return appendEntry(nil, &r) }},
		{"an earlier round's", func([]byte) []byte { r := records(3, 3)[0]; return appendEntry(nil, &r) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "save")
			s := walOpen(t, path, Options{})
			if err := s.Append(ctx, records(1, 5)); err != nil {
				t.Fatal(err)
			}
			crashed := crashCopy(t, s)
			// The unacknowledged batch 6: its bytes, then torn as the case
			// has it, where the next entry goes.
			r := records(6, 6)[0]
			f, err := os.OpenFile(WALPath(crashed), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tc.tail(appendEntry(nil, &r)), s.wal.off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			c := open(t, crashed)
			if got := readAll(t, c, 0); !equalRecords(got, records(1, 5)) {
				t.Fatalf("after the crash: %d records, last %d", len(got), c.LastRevision())
			}
			// And the next run's records follow the acknowledged ones.
			if err := c.Append(ctx, records(6, 8)); err != nil {
				t.Fatal(err)
			}
			again := crashCopy(t, c)
			if got := readAll(t, open(t, again), 0); !equalRecords(got, records(1, 8)) {
				t.Fatalf("after a second crash: %d records", len(got))
			}
		})
	}
}

// A write-ahead file that is not this save file's is never replayed into
// it, and never destroyed: another file's, or this file's from beyond its
// end (the save file was put back from an older copy by hand), moves
// aside with a warning. A backup's copy has an id of its own, so put in
// the file's place beside a write-ahead file a crash left, it stays as it
// was backed up. A damaged header is refused.
func TestWALNotThisFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := walOpen(t, filepath.Join(dir, "a"), Options{})
	b := walOpen(t, filepath.Join(dir, "b"), Options{})
	a.Append(ctx, records(1, 4))
	b.Append(ctx, records(1, 6))
	crashedA, crashedB := crashCopy(t, a), crashCopy(t, b)
	if err := os.Rename(WALPath(crashedB), WALPath(crashedA)); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	c, err := Open(crashedA, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if c.LastRevision() != 0 || !strings.Contains(logged.String(), "another save file") {
		t.Errorf("another file's write-ahead file: last %d, log %q", c.LastRevision(), logged.String())
	}
	if aside, _ := filepath.Glob(WALPath(crashedA) + ".stale-*"); len(aside) != 1 {
		t.Errorf("moved aside: %v", aside)
	}
	c.Close()

	// A backup at revision 4; then 5 and 6, and a crash.
	backup, err := os.Create(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	if _, rev, err := a.Backup(backup); err != nil || rev != 4 {
		t.Fatalf("backup: revision %d, %v", rev, err)
	}
	backup.Close()
	a.Append(ctx, records(5, 6))
	crashed := crashCopy(t, a)
	raw, _ := os.ReadFile(backup.Name())
	os.WriteFile(crashed, raw, 0o600)
	c, err = Open(crashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c, 0); !equalRecords(got, records(1, 4)) {
		t.Errorf("the backup put back beside a crash's write-ahead file holds %d records", len(got))
	}
	c.Close()

	// This file's own write-ahead file, beside an older copy of it.
	a.Append(ctx, records(7, 7))
	a.checkpoint()
	old := crashCopy(t, a)
	a.Append(ctx, records(8, 8))
	a.wal.off = a.wal.size // the next batch makes the file anew, at base 8
	a.Append(ctx, records(9, 9))
	newer := crashCopy(t, a)
	os.Rename(WALPath(newer), WALPath(old))
	logged.Reset()
	c, err = Open(old, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if c.LastRevision() != 7 || !strings.Contains(logged.String(), "continues revision 8") {
		t.Errorf("a write-ahead file from beyond the save file: last %d, log %q", c.LastRevision(), logged.String())
	}
	c.Close()

	// A damaged header.
	a.Append(ctx, records(10, 10))
	damaged := crashCopy(t, a)
	f, _ := os.OpenFile(WALPath(damaged), os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, 20)
	f.Close()
	if _, err := Open(damaged, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), ".wal") {
		t.Errorf("a damaged write-ahead header: %v", err)
	}
}

// The readers see the tail's records as the file's: Records, Record,
// RecordsBefore, and the history's window and search, before and after
// a checkpoint.
func TestWALReaders(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{})
	s.Append(ctx, records(1, 5))
	s.checkpoint()
	s.Append(ctx, records(6, 9))
	if n := boltRecords(t, s); n != 5 {
		t.Fatalf("%d records in the save file, want 5", n)
	}
	if got := readAll(t, s, 3); !equalRecords(got, records(4, 9)) {
		t.Fatalf("Records after 3: %d", len(got))
	}
	for _, rev := range []uint64{2, 7} {
		r, ok, err := s.Record(rev)
		if err != nil || !ok || !equalRecords([]Record{r}, records(rev, rev)) {
			t.Fatalf("Record(%d): %v %v", rev, ok, err)
		}
	}
	var back []uint64
	s.RecordsBefore(8, func(r Record) error { back = append(back, r.Revision); return nil })
	if len(back) != 7 || back[0] != 7 || back[6] != 1 {
		t.Fatalf("RecordsBefore(8): %v", back)
	}
	if from, last, err := s.HistoryWindow(ctx); err != nil || from != 0 || last != 9 {
		t.Fatalf("HistoryWindow: %d, %d, %v", from, last, err)
	}
	if rev, ok, err := s.RevisionAt(ctx, 8500); err != nil || !ok || rev != 8 {
		t.Fatalf("RevisionAt: %d %v %v", rev, ok, err)
	}
	if n := boltRecords(t, s); n != 9 {
		t.Fatalf("after RevisionAt's checkpoint: %d records in the save file, want 9", n)
	}
}

// A batch that does not fit makes the write-ahead file anew, after a
// checkpoint; a crash at any point finds every acknowledged record.
func TestWALFull(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{WALSize: 4096})
	var first os.FileInfo
	for rev := uint64(1); rev <= 200; rev += 2 {
		if err := s.Append(ctx, records(rev, rev+1)); err != nil {
			t.Fatal(err)
		}
		info := *s.walInfo.Load()
		if first == nil {
			first = info
		}
		if rev%20 == 1 {
			if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(1, rev+1)) {
				t.Fatalf("a crash after %d: %d records", rev+1, len(got))
			}
		}
	}
	if os.SameFile(first, *s.walInfo.Load()) {
		t.Fatal("the write-ahead file was never made anew")
	}
	if fi, _ := os.Stat(WALPath(s.path)); fi.Size() != 4096 {
		t.Errorf("the write-ahead file is %d bytes, want 4096", fi.Size())
	}
	// A batch bigger than the file gets a file its size.
	big := records(201, 260)
	for i := range big {
		big[i].Frame = bytes.Repeat([]byte{byte(i)}, 200)
	}
	if err := s.Append(ctx, big); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 200); !equalRecords(got, big) {
		t.Fatalf("the big batch after a crash: %d records", len(got))
	}
}

// A write-ahead file deleted or replaced under the running store is found
// after the next write, as the save file is; Rewrite writes a fresh save
// file and the next Append a fresh write-ahead file, and what the old one
// held beyond the rewrite's revision (a batch whose write failed, though
// it reached the file) never comes back.
func TestWALGoneAndRewrite(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{})
	s.Append(ctx, records(1, 5))
	os.Remove(WALPath(s.path))
	var gone *FileGoneError
	if err := s.Append(ctx, records(6, 6)); !errors.As(err, &gone) || gone.Path != WALPath(s.path) || gone.Replaced {
		t.Fatalf("append after the write-ahead file was deleted: %v", err)
	}
	if err := s.CheckFile(ctx); !errors.As(err, &gone) {
		t.Fatalf("CheckFile: %v", err)
	}
	if err := s.Rewrite(ctx, 5, []byte("world at 5"), records(4, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckFile(ctx); err != nil {
		t.Fatal(err)
	}
	// Records 6 and 7 reach the write-ahead file; the writer is told the
	// write failed (say, its fsync) and rewrites at 5.
	if err := s.Append(ctx, records(6, 7)); err != nil {
		t.Fatal(err)
	}
	left := crashCopy(t, s) // the write-ahead file, as it was then
	if err := s.Rewrite(ctx, 5, []byte("world at 5"), records(4, 5)); err != nil {
		t.Fatal(err)
	}
	if exists(WALPath(s.path)) {
		t.Error("the write-ahead file outlived Rewrite")
	}
	if got := readAll(t, s, 0); !equalRecords(got, records(4, 5)) || s.LastRevision() != 5 {
		t.Fatalf("after Rewrite: %d records, last %d", len(got), s.LastRevision())
	}
	// A crash between the fresh file's rename and the removal of the old
	// write-ahead file: it is not the fresh file's.
	os.Rename(WALPath(left), WALPath(s.path))
	crashed := crashCopy(t, s)
	os.Remove(WALPath(s.path))
	c := open(t, crashed)
	if got := readAll(t, c, 0); !equalRecords(got, records(4, 5)) {
		t.Fatalf("after a crash beside the old write-ahead file: %d records, last %d", len(got), c.LastRevision())
	}
	if err := s.Append(ctx, records(6, 6)); err != nil {
		t.Fatal(err)
	}
	if !exists(WALPath(s.path)) {
		t.Fatal("no write-ahead file after the Append that followed Rewrite")
	}
}

// A failed checkpoint makes the save file suspect: the records stay
// durable in the write-ahead file, and Append refuses (the writer
// rewrites) until Rewrite.
func TestWALFailedCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{})
	s.Append(ctx, records(1, 3))
	failed := errors.New("input/output error")
	s.cpErr.Store(&failed)
	if err := s.Append(ctx, records(4, 4)); err == nil || !strings.Contains(err.Error(), "input/output") {
		t.Fatalf("append after a failed checkpoint: %v", err)
	}
	if got := readAll(t, open(t, crashCopy(t, s)), 0); !equalRecords(got, records(1, 3)) {
		t.Fatalf("after a crash: %d records", len(got))
	}
	if err := s.Rewrite(ctx, 3, []byte("world at 3"), records(1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, records(4, 4)); err != nil {
		t.Fatal(err)
	}
}

// The background checkpoint copies the tail in soon after a batch.
func TestWALCheckpointsByItself(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "save"))
	s.Append(context.Background(), records(1, 3))
	// The checkpoint commits, then lets go of the tail: both, in time.
	tail := func() int {
		s.tailMu.Lock()
		defer s.tailMu.Unlock()
		return len(s.tail)
	}
	deadline := time.Now().Add(time.Minute)
	for boltRecords(t, s) != 3 || tail() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for the background checkpoint to copy 3 records in and empty the tail: %d in the save file, %d in the tail", boltRecords(t, s), tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A flipped bit in the header's version is damage, not a newer format;
// a fresh write-ahead file a crash left before its rename is removed.
func TestWALHeaderVersionAndLeftover(t *testing.T) {
	ctx := context.Background()
	s := walOpen(t, filepath.Join(t.TempDir(), "save"), Options{})
	s.Append(ctx, records(1, 2))
	crashed := crashCopy(t, s)
	os.WriteFile(WALPath(crashed)+".new", []byte("half made"), 0o600)
	flipped := crashCopy(t, s)
	f, _ := os.OpenFile(WALPath(flipped), os.O_RDWR, 0)
	f.WriteAt([]byte{2}, 8)
	f.Close()
	if _, err := Open(flipped, Options{}); !errors.Is(err, ErrDamaged) || errors.Is(err, ErrVersion) {
		t.Errorf("a flipped version byte: %v", err)
	}
	c := open(t, crashed)
	if got := readAll(t, c, 0); !equalRecords(got, records(1, 2)) {
		t.Fatalf("%d records", len(got))
	}
	if exists(WALPath(crashed) + ".new") {
		t.Error("the leftover .new is still there")
	}
}
