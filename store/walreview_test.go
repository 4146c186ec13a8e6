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
	// Four at a time: the cost is the file system's syncs, not the CPU.
	const parts = 4
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
