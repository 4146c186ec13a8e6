package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"txxt/tables"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func records(from, to uint64) []Record {
	var out []Record
	for r := from; r <= to; r++ {
		rec := Record{Revision: r, Time: int64(r) * 1000, Request: uint32(r), Frame: []byte(fmt.Sprintf("frame-%d", r))}
		rec.Actor[0], rec.Client[0] = byte(r), byte(r+1)
		out = append(out, rec)
	}
	return out
}

func readAll(t *testing.T, s *Store, after uint64) []Record {
	t.Helper()
	var out []Record
	if err := s.Records(context.Background(), after, func(r Record) error {
		r.Frame = bytes.Clone(r.Frame)
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Revision != y.Revision || x.Time != y.Time || x.Actor != y.Actor || x.Client != y.Client ||
			x.Request != y.Request || !bytes.Equal(x.Frame, y.Frame) {
			return false
		}
	}
	return true
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Created() {
		t.Error("a new file is not Created")
	}
	if err := s.Append(context.Background(), records(1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), records(4, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(context.Background(), 5, []byte("snapshot-5")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	if s.Created() {
		t.Error("an existing file is Created")
	}
	if s.LastRevision() != 10 || s.FirstRevision() != 1 {
		t.Errorf("revisions %d..%d", s.FirstRevision(), s.LastRevision())
	}
	if got := readAll(t, s, 0); !equalRecords(got, records(1, 10)) {
		t.Errorf("records differ after reopen: %+v", got)
	}
	if got := readAll(t, s, 7); !equalRecords(got, records(8, 10)) {
		t.Errorf("Records(7) = %+v", got)
	}
	rev, frame, err := s.LatestSnapshot(context.Background())
	if err != nil || rev != 5 || string(frame) != "snapshot-5" {
		t.Errorf("snapshot %d %q %v", rev, frame, err)
	}
}

func TestAppendRefusesGaps(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "save"))
	if err := s.Append(context.Background(), records(2, 3)); !errors.Is(err, ErrGap) {
		t.Errorf("first append at 2: %v", err)
	}
	s.Append(context.Background(), records(1, 3))
	for _, recs := range [][]Record{records(3, 4), records(5, 6), {records(4, 4)[0], records(6, 6)[0]}} {
		if err := s.Append(context.Background(), recs); !errors.Is(err, ErrGap) {
			t.Errorf("append %d..: %v", recs[0].Revision, err)
		}
	}
	if s.LastRevision() != 3 || len(readAll(t, s, 0)) != 3 {
		t.Error("a refused append changed the log")
	}
}

func TestRecordsStopsOnError(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "save"))
	s.Append(context.Background(), records(1, 10))
	stop := errors.New("stop")
	n := 0
	err := s.Records(context.Background(), 0, func(Record) error {
		if n++; n == 4 {
			return stop
		}
		return nil
	})
	if err != stop || n != 4 {
		t.Errorf("err %v after %d records", err, n)
	}
}

// corrupt changes the file behind the store's back, through bbolt.
func corrupt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s, _ := Open(path, Options{})
	s.Append(context.Background(), records(1, 5))
	s.SaveSnapshot(context.Background(), 5, []byte("snap"))
	s.Close()
	corrupt(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		v := bytes.Clone(b.Get(revKey(3)))
		v[len(v)-1] ^= 0x01
		if err := b.Put(revKey(3), v); err != nil {
			return err
		}
		sb := tx.Bucket(bucketSnapshots)
		sv := bytes.Clone(sb.Get(revKey(5)))
		sv[5] ^= 0x80
		return sb.Put(revKey(5), sv)
	})
	// Open reads every record, so it refuses the file at once.
	if _, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "record 3") {
		t.Errorf("open with a flipped bit in record 3: %v", err)
	}
	// Readers of a file damaged after it was opened find it too.
	s = open(t, path+".2")
	s.Append(context.Background(), records(1, 5))
	s.SaveSnapshot(context.Background(), 5, []byte("snap"))
	s.checkpoint() // the records into the file, from the write-ahead file
	err := s.update(func(tx *bolt.Tx) error {
		v := bytes.Clone(tx.Bucket(bucketLog).Get(revKey(3)))
		v[len(v)-1] ^= 0x01
		if err := tx.Bucket(bucketLog).Put(revKey(3), v); err != nil {
			return err
		}
		sv := bytes.Clone(tx.Bucket(bucketSnapshots).Get(revKey(5)))
		sv[5] ^= 0x80
		return tx.Bucket(bucketSnapshots).Put(revKey(5), sv)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Records(context.Background(), 0, func(Record) error { return nil })
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "record 3") {
		t.Errorf("flipped bit in record 3: %v", err)
	}
	if _, _, err := s.LatestSnapshot(context.Background()); !errors.Is(err, ErrDamaged) {
		t.Errorf("flipped bit in the snapshot: %v", err)
	}
	if _, err := s.Check(); !errors.Is(err, ErrDamaged) {
		t.Errorf("Check: %v", err)
	}
}

// One flipped byte anywhere in a save file: Open refuses the file, or
// everything it holds reads back as it was written. Never a panic, never
// a different record. Each page gets a flip in its header and one in its
// body.
func TestFlippedByteInEveryPage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	s, _ := Open(good, Options{})
	for r := uint64(1); r <= 3000; r += 100 {
		s.Append(context.Background(), records(r, r+99))
	}
	s.SaveSnapshot(context.Background(), 1000, bytes.Repeat([]byte("snapshot at 1000 "), 500))
	s.SaveSnapshot(context.Background(), 3000, bytes.Repeat([]byte("snapshot at 3000 "), 500))
	s.Put(context.Background(), "users", "alice", []byte("hash"))
	want := readAll(t, s, 0)
	s.Close()
	raw, _ := os.ReadFile(good)
	const page = 4096
	refused, same := 0, 0
	for off := 0; off < len(raw); off += page / 2 {
		flip := off + 8 // in a page header: its count or flags; in a body: data
		if off%page != 0 {
			flip = off + 123
		}
		bad := bytes.Clone(raw)
		bad[flip] ^= 0x5a
		path := filepath.Join(dir, fmt.Sprint("flip-", flip))
		os.WriteFile(path, bad, 0o600)
		s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
		if err != nil {
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNotSaveFile) {
				t.Errorf("byte %d: refused without saying the file is damaged: %v", flip, err)
			}
			refused++
			os.Remove(path)
			continue
		}
		got := readAll(t, s, 0)
		rev, frame, err := s.LatestSnapshot(context.Background())
		s.Close()
		os.Remove(path)
		if err != nil || rev != 3000 || !bytes.HasPrefix(frame, []byte("snapshot at 3000 ")) || !equalRecords(got, want) {
			t.Errorf("byte %d: opened, and reads back differently (snapshot %d %v)", flip, rev, err)
		}
		same++
	}
	t.Logf("%d flips: %d refused, %d read back intact", refused+same, refused, same)
}

func TestSnapshotsKeepTwo(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "save"))
	for _, rev := range []uint64{10, 20, 30} {
		if err := s.SaveSnapshot(context.Background(), rev, []byte(fmt.Sprint("s", rev))); err != nil {
			t.Fatal(err)
		}
	}
	var revs []uint64
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, _ []byte) error {
			revs = append(revs, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if fmt.Sprint(revs) != "[20 30]" {
		t.Errorf("snapshots kept: %v", revs)
	}
	if rev, frame, _ := s.LatestSnapshot(context.Background()); rev != 30 || string(frame) != "s30" {
		t.Errorf("latest %d %q", rev, frame)
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s := open(t, path)
	s.Append(context.Background(), records(1, 100))
	// Without a snapshot nothing may go: boot needs the whole log.
	s.Compact(context.Background(), 50)
	if s.FirstRevision() != 1 {
		t.Errorf("compacted without a snapshot: first %d", s.FirstRevision())
	}
	s.SaveSnapshot(context.Background(), 60, []byte("snap"))
	if err := s.Compact(context.Background(), 80); err != nil { // limited by the snapshot
		t.Fatal(err)
	}
	if s.FirstRevision() != 61 || s.LastRevision() != 100 {
		t.Errorf("after compact: %d..%d", s.FirstRevision(), s.LastRevision())
	}
	if got := readAll(t, s, 0); !equalRecords(got, records(61, 100)) {
		t.Errorf("records after compact: %d of them", len(got))
	}
	// The last record always stays: it holds LastRevision.
	s.SaveSnapshot(context.Background(), 99, []byte("snap"))
	s.SaveSnapshot(context.Background(), 100, []byte("snap"))
	s.Compact(context.Background(), 1000)
	if s.FirstRevision() != 100 || s.LastRevision() != 100 {
		t.Errorf("after full compact: %d..%d", s.FirstRevision(), s.LastRevision())
	}
	s.Close()
	s = open(t, path)
	if s.FirstRevision() != 100 || s.LastRevision() != 100 {
		t.Errorf("after reopen: %d..%d", s.FirstRevision(), s.LastRevision())
	}
	if err := s.Append(context.Background(), records(101, 101)); err != nil {
		t.Errorf("append after compaction: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	s, _ := Open(good, Options{})
	s.Append(context.Background(), records(1, 50))
	s.Close()
	raw, _ := os.ReadFile(good)

	foreign := filepath.Join(dir, "foreign.db")
	db, _ := bolt.Open(foreign, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	db.Close()

	gap := filepath.Join(dir, "gap")
	os.WriteFile(gap, raw, 0o600)
	corrupt(t, gap, func(tx *bolt.Tx) error { return tx.Bucket(bucketLog).Delete(revKey(20)) })

	newer := filepath.Join(dir, "newer")
	os.WriteFile(newer, raw, 0o600)
	corrupt(t, newer, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("version"), []byte{9, 0, 0, 0})
	})

	tests := []struct {
		name    string
		content []byte // written to the file unless nil
		path    string
		want    error
	}{
		{"text file", []byte(strings.Repeat("not a database\n", 4096)), "", ErrNotSaveFile},
		{"empty file", []byte{}, "", ErrNotSaveFile},
		{"short file", []byte("txxt"), "", ErrNotSaveFile},
		{"truncated save file", raw[:len(raw)/2], "", ErrDamaged},
		{"another program's bbolt file", nil, foreign, ErrNotSaveFile},
		{"log with a hole", nil, gap, ErrDamaged},
		{"newer format", nil, newer, ErrVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
				os.WriteFile(path, tc.content, 0o600)
			}
			before, _ := os.ReadFile(path)
			s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("a refused file was modified")
			}
		})
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	open(t, path)
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second open: %v", err)
	}
}

func TestTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s, _ := Open(path, Options{})
	ctx := context.Background()
	s.Put(ctx, "users", "alice", []byte("a"))
	s.Put(ctx, "users", "bob", []byte("b"))
	s.Put(ctx, "users", "carol", []byte("c"))
	s.Delete(ctx, "users", "bob")
	s.Delete(ctx, "users", "nobody")
	s.Put(ctx, "settings", "grid", []byte("15"))
	s.Close()

	s = open(t, path)
	var keys []string
	tables.ForEach(ctx, s, "users", func(k string, v []byte) error {
		keys = append(keys, k+"="+string(v))
		return nil
	})
	if fmt.Sprint(keys) != "[alice=a carol=c]" {
		t.Errorf("users %v", keys)
	}
	if v, err := s.Get(ctx, "settings", "grid"); err != nil || string(v) != "15" {
		t.Errorf("settings %q %v", v, err)
	}
	if v, err := s.Get(ctx, "profiles", "none"); err != nil || v != nil {
		t.Errorf("missing key: %q %v", v, err)
	}
	if _, err := s.Get(ctx, "widgets", "k"); !errors.Is(err, tables.ErrTable) {
		t.Errorf("a table the file does not hold: %v, want ErrTable", err)
	}
}

// Rewrite replaces the file with one holding the given snapshot, an empty
// log continuing after it, and the tables; the store goes on on the new
// file, and a reopen finds the same.
func TestRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	s := open(t, path)
	if err := s.Append(context.Background(), records(1, 50)); err != nil {
		t.Fatal(err)
	}
	s.Put(context.Background(), "users", "alice", []byte("hash"))
	s.Put(context.Background(), "settings", "grid", []byte("15"))
	before, _ := os.Stat(path)

	// Tables are read and written while the file is replaced.
	done := make(chan error)
	go func() {
		var err error
		for i := 0; i < 200 && err == nil; i++ {
			err = s.Put(context.Background(), "sessions", fmt.Sprint("s", i), []byte("x"))
		}
		done <- err
	}()
	if err := s.Rewrite(context.Background(), 48, []byte("world at 48"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a table write during Rewrite: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10 s for the table writes during Rewrite to end")
	}
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Fatal("the file was not replaced")
	}
	if _, err := os.Stat(path + ".fresh"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file is left behind: %v", err)
	}
	check := func(s *Store) {
		t.Helper()
		if s.LastRevision() != 48 || s.FirstRevision() != 0 || len(readAll(t, s, 0)) != 0 {
			t.Fatalf("last %d first %d, %d records", s.LastRevision(), s.FirstRevision(), len(readAll(t, s, 0)))
		}
		if rev, frame, err := s.LatestSnapshot(context.Background()); rev != 48 || string(frame) != "world at 48" || err != nil {
			t.Fatalf("snapshot %d %q %v", rev, frame, err)
		}
		if v, _ := s.Get(context.Background(), "users", "alice"); string(v) != "hash" {
			t.Fatalf("users lost: %q", v)
		}
		if v, _ := s.Get(context.Background(), "settings", "grid"); string(v) != "15" {
			t.Fatalf("settings lost: %q", v)
		}
	}
	check(s)
	if err := s.Append(context.Background(), records(50, 50)); !errors.Is(err, ErrGap) {
		t.Fatalf("append after the snapshot's revision+1: %v", err)
	}
	if err := s.Append(context.Background(), records(49, 60)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, path)
	if s2.LastRevision() != 60 || s2.FirstRevision() != 49 {
		t.Fatalf("reopened: last %d first %d", s2.LastRevision(), s2.FirstRevision())
	}
	if err := s2.Compact(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	s2.Close()

	// A rewritten file with no record after it opens at the snapshot.
	s3 := open(t, path)
	if err := s3.Rewrite(context.Background(), 60, []byte("world at 60"), records(55, 60)); err != nil {
		t.Fatal(err)
	}
	s3.Close()
	s4 := open(t, path)
	if s4.LastRevision() != 60 || s4.FirstRevision() != 55 || !equalRecords(readAll(t, s4, 0), records(55, 60)) {
		t.Fatalf("reopened a fresh file with a tail: last %d first %d", s4.LastRevision(), s4.FirstRevision())
	}
	if err := s4.Rewrite(context.Background(), 60, []byte("w"), records(50, 58)); !errors.Is(err, ErrGap) {
		t.Fatalf("a tail that does not end at the snapshot: %v", err)
	}
}

// A Rewrite that cannot write leaves the store as it was.
func TestRewriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "save")
	s := open(t, path)
	if err := s.Append(context.Background(), records(1, 5)); err != nil {
		t.Fatal(err)
	}
	// A directory where the fresh file would go makes its creation fail.
	if err := os.Mkdir(path+".fresh", 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path+".fresh", "x"), nil, 0o600)
	if err := s.Rewrite(context.Background(), 5, []byte("w"), nil); err == nil {
		t.Fatal("Rewrite succeeded without a place to write")
	}
	if s.LastRevision() != 5 || len(readAll(t, s, 0)) != 5 {
		t.Fatal("a failed Rewrite changed the store")
	}
	if err := s.Append(context.Background(), records(6, 6)); err != nil {
		t.Fatalf("the store is unusable after a failed Rewrite: %v", err)
	}
}

// A save file deleted or replaced under an open store is found at the next
// commit and by CheckFile; Rewrite then puts a fresh file at the path, and
// never destroys the file it finds there: it moves it aside, or, when
// another store (a second server) holds that file, leaves it alone.
func TestFileGone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replaced bool
		locked   bool // the replacing file is held by another open store
	}{
		{"deleted", false, false},
		{"replaced", true, false},
		{"replaced_by_a_file_in_use", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "save")
			s := open(t, path)
			if err := s.Append(context.Background(), records(1, 5)); err != nil {
				t.Fatal(err)
			}
			if err := s.CheckFile(context.Background()); err != nil {
				t.Fatalf("CheckFile of a file in place: %v", err)
			}
			s.Put(context.Background(), "users", "alice", []byte("hash"))

			var other *Store
			if tc.replaced {
				otherPath := filepath.Join(dir, "other")
				other = open(t, otherPath)
				if err := other.Append(context.Background(), records(1, 2)); err != nil {
					t.Fatal(err)
				}
				if !tc.locked {
					other.Close()
				}
				if err := os.Rename(otherPath, path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}

			var gone *FileGoneError
			err := s.CheckFile(context.Background())
			if !errors.As(err, &gone) || gone.Replaced != tc.replaced || !strings.Contains(err.Error(), path) {
				t.Fatalf("CheckFile: %v, want a FileGoneError (replaced %v) naming %s", err, tc.replaced, path)
			}
			err = s.Append(context.Background(), records(6, 6))
			if !errors.As(err, &gone) || s.LastRevision() != 5 {
				t.Fatalf("Append to a file gone: %v, last revision %d (want a FileGoneError, 5)", err, s.LastRevision())
			}

			if tc.locked {
				err := s.Rewrite(context.Background(), 5, []byte("world at 5"), records(1, 5))
				if err == nil || !strings.Contains(err.Error(), "another process holds") {
					t.Fatalf("Rewrite over a file another store holds: %v", err)
				}
				if fi, _ := os.Stat(path); !os.SameFile(fi, other.file) {
					t.Fatal("Rewrite touched the file another store holds")
				}
				other.Close()
			}
			if err := s.Rewrite(context.Background(), 5, []byte("world at 5"), records(1, 5)); err != nil {
				t.Fatal(err)
			}
			if err := s.CheckFile(context.Background()); err != nil {
				t.Fatalf("CheckFile after Rewrite: %v", err)
			}
			if err := s.Append(context.Background(), records(6, 6)); err != nil {
				t.Fatalf("Append after Rewrite: %v", err)
			}
			aside, _ := filepath.Glob(path + ".replaced-*")
			if len(aside) != map[bool]int{false: 0, true: 1}[tc.replaced] {
				t.Fatalf("files moved aside: %v", aside)
			}
			if tc.replaced {
				// The file found in the save file's place is kept whole.
				o := open(t, aside[0])
				if o.LastRevision() != 2 {
					t.Fatalf("the file moved aside holds revision %d, want 2", o.LastRevision())
				}
			}
			s.Close()
			s2 := open(t, path)
			if s2.LastRevision() != 6 || !equalRecords(readAll(t, s2, 0), records(1, 6)) {
				t.Fatalf("reopened at %d", s2.LastRevision())
			}
			if v, _ := s2.Get(context.Background(), "users", "alice"); string(v) != "hash" {
				t.Fatalf("a table lost in the fresh file: %q", v)
			}
		})
	}
}

// The log is cut back only to a snapshot, and the snapshots it continues
// stay: every revision it holds can be rebuilt from one of them.
func TestCompactKeepsWhatThePastNeeds(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "save"))
	s.Append(context.Background(), records(1, 100))
	for _, rev := range []uint64{20, 40, 60, 80, 100} {
		s.SaveSnapshot(context.Background(), rev, []byte(fmt.Sprint("s", rev)))
	}
	if err := s.Compact(context.Background(), 50); err != nil { // to the snapshot at 40
		t.Fatal(err)
	}
	if s.FirstRevision() != 41 {
		t.Fatalf("first %d after Compact(50), want 41", s.FirstRevision())
	}
	var revs []uint64
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, _ []byte) error {
			revs = append(revs, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if fmt.Sprint(revs) != "[40 60 80 100]" {
		t.Errorf("snapshots kept: %v", revs)
	}
	for _, c := range []struct{ rev, want uint64 }{{39, 0}, {40, 40}, {59, 40}, {60, 60}, {1000, 100}} {
		at, frame, err := s.SnapshotBefore(c.rev)
		if err != nil || at != c.want || (at != 0 && string(frame) != fmt.Sprint("s", at)) {
			t.Errorf("SnapshotBefore(%d) = %d %q %v, want %d", c.rev, at, frame, err, c.want)
		}
	}
	var back []uint64
	err := s.RecordsBefore(45, func(r Record) error {
		back = append(back, r.Revision)
		return nil
	})
	if err != nil || fmt.Sprint(back) != "[44 43 42 41]" {
		t.Errorf("RecordsBefore(45): %v %v", back, err)
	}
	back = back[:0]
	err = s.RecordsBefore(1000, func(r Record) error {
		if back = append(back, r.Revision); len(back) == 2 {
			return ErrStop
		}
		return nil
	})
	if err != nil || fmt.Sprint(back) != "[100 99]" {
		t.Errorf("RecordsBefore(1000), stopped after 2: %v %v", back, err)
	}
	if r, ok, err := s.Record(50); !ok || err != nil || r.Revision != 50 {
		t.Errorf("Record(50): %v %v %v", r.Revision, ok, err)
	}
	if _, ok, _ := s.Record(10); ok {
		t.Error("Record(10) found a compacted record")
	}
}
