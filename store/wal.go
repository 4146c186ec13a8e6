package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The write-ahead file, PATH.wal beside the save file at PATH.
//
// A bbolt commit is two fdatasyncs: its pages, then its meta page. A batch
// written over blocks a file has already allocated is one. So Append makes
// a batch durable in the write-ahead file, and a checkpoint copies the
// batches written since the last one into the save file's log bucket,
// many to one bbolt commit, off the acknowledgement's path (every
// checkpointDelay, or sooner once checkpointBytes wait). Until then the
// store keeps them in memory (its tail) for the readers.
//
// Layout: a header of walHeaderSize bytes,
//
//	"txxt-wal" · version u32 · crc32c u32 of bytes 8-12 and 16-64 · id 16 · base u64 · 24 zero bytes
//
// then entries, each
//
//	length u32 of what follows the crc · crc32c u32 of it · revision u64 · time i64 · actor 16 · client 16 · request u32 · frame
//
// id is the save file's (meta "walid"): a write-ahead file of another
// file, or of an earlier copy of this one (a fresh file from Rewrite, a
// backup's copy, both get ids of their own), is not replayed but moved
// aside. base is the save file's last revision when the write-ahead file
// was made: the first entry is base+1, each the one before plus one.
// The file is made whole (allocated, header written, fsynced) beside its
// place and renamed into it, so the file at PATH.wal always has a sound
// header, and bytes after its last entry are zeros or what a batch left
// that was never acknowledged: an entry of length 0, one cut short, one
// failing its checksum or one not continuing the one before ends it.
//
// The file exists from the first Append until Close, which checkpoints
// and removes it: a stopped server's directory holds save files only.
// Open replays one a crash left into the save file, then removes it.
const (
	walHeaderSize = 64
	walEntryHead  = 4 + 4 + 8 // length, crc, revision
	walVersion    = 1
	walMagic      = "txxt-wal"
	// DefaultWALSize is the write-ahead file's allocation: at about 200
	// bytes an entry, some 5,000 commands before it is made anew.
	DefaultWALSize  = 1 << 20
	checkpointDelay = 500 * time.Millisecond
	checkpointBytes = 256 << 10
)

// WALPath is the path of the write-ahead file of the save file at path.
func WALPath(path string) string { return path + ".wal" }

// walFile is the open write-ahead file. Append's (walMu).
type walFile struct {
	f    *os.File
	off  int64 // where the next entry goes
	size int64 // bytes allocated
}

func walHeader(id [16]byte, base uint64) []byte {
	h := make([]byte, walHeaderSize)
	copy(h, walMagic)
	binary.LittleEndian.PutUint32(h[8:], walVersion)
	copy(h[16:], id[:])
	binary.LittleEndian.PutUint64(h[32:], base)
	binary.LittleEndian.PutUint32(h[12:], headerCRC(h))
	return h
}

// headerCRC is the CRC-32C of a header's version and of everything after
// its own 4 bytes.
func headerCRC(h []byte) uint32 {
	return crc32.Update(crc32.Checksum(h[8:12], castagnoli), castagnoli, h[16:walHeaderSize])
}

// walBodyFixed is an entry's bytes after its length and crc, but for the
// frame: revision · time · actor · client · request.
const walBodyFixed = 8 + 8 + 16 + 16 + 4

// entrySize is the size of an entry holding frame.
func entrySize(frame []byte) int { return 8 + walBodyFixed + len(frame) }

// appendEntry encodes r at the end of b.
func appendEntry(b []byte, r *Record) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0) // length, below
	b = binary.LittleEndian.AppendUint32(b, 0) // crc, below
	b = binary.LittleEndian.AppendUint64(b, r.Revision)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Time))
	b = append(b, r.Actor[:]...)
	b = append(b, r.Client[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Request)
	b = append(b, r.Frame...)
	body := b[start+8:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b
}

// scanWAL returns the entries of a write-ahead file's bytes b (header
// checked) that continue its base, its id and base, and where the last
// of those entries ends. The frames point into b.
func scanWAL(b []byte) (id [16]byte, base uint64, recs []Record, end int, err error) {
	if len(b) < walHeaderSize || string(b[:8]) != walMagic {
		return id, 0, nil, 0, fmt.Errorf("no write-ahead file header: %w", ErrDamaged)
	}
	if binary.LittleEndian.Uint32(b[12:]) != headerCRC(b) {
		return id, 0, nil, 0, fmt.Errorf("write-ahead file header fails its checksum: %w", ErrDamaged)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v > walVersion {
		return id, 0, nil, 0, fmt.Errorf("write-ahead file format %d, this txxt reads up to %d: %w", v, walVersion, ErrVersion)
	}
	copy(id[:], b[16:])
	base = binary.LittleEndian.Uint64(b[32:])
	end = walHeaderSize
	for off, want := walHeaderSize, base+1; off+walEntryHead <= len(b); want++ {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n < walBodyFixed || off+8+n > len(b) {
			break
		}
		body := b[off+8 : off+8+n]
		if binary.LittleEndian.Uint32(b[off+4:]) != crc32.Checksum(body, castagnoli) || binary.LittleEndian.Uint64(body) != want {
			break
		}
		r := Record{Revision: want, Time: int64(binary.LittleEndian.Uint64(body[8:])), Request: binary.LittleEndian.Uint32(body[48:]), Frame: body[walBodyFixed:]}
		copy(r.Actor[:], body[16:])
		copy(r.Client[:], body[32:])
		recs = append(recs, r)
		off += 8 + n
		end = off
	}
	return id, base, recs, end, nil
}

// walID returns the save file's write-ahead id, giving an older file
// without one an id of its own.
func (s *Store) walID() ([16]byte, error) {
	var id [16]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		copy(id[:], tx.Bucket(bucketMeta).Get([]byte("walid")))
		return nil
	})
	if err != nil || id != ([16]byte{}) {
		return id, err
	}
	id = newWALID()
	return id, s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("walid"), id[:]) })
}

func newWALID() (id [16]byte) {
	rand.Read(id[:])
	return id
}

// replayWAL copies what a write-ahead file left at the save file's side
// (a crash: Close removes it) into the save file, and removes it. One of
// another file, or of an older copy of this one, is moved aside to
// PATH.wal.stale-TIME, never destroyed. A damaged header is refused.
// Bytes other than zeros after the last entry it reads are a batch a
// crash cut short (never acknowledged) or an entry damaged on disk with
// acknowledged ones after it: the two cannot be told apart, so the file
// is moved aside to PATH.wal.unread-TIME with a warning, not removed.
func (s *Store) replayWAL() error {
	path := WALPath(s.path)
	// A fresh write-ahead file a crash left before it was renamed in
	// never held an entry.
	os.Remove(path + ".new")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	id, base, recs, end, err := scanWAL(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	last := s.last.Load()
	if id != s.id || base > last {
		aside := asidePath(path, "stale")
		why := "it belongs to another save file"
		if id == s.id {
			why = fmt.Sprintf("it continues revision %d and the save file ends at %d", base, last)
		}
		s.opts.Logger.Warn("moved a write-ahead file that is not this save file's aside", "path", path, "to", aside, "why", why)
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("move %s aside: %w", path, err)
		}
		return syncDir(filepath.Dir(path))
	}
	for len(recs) > 0 && recs[0].Revision <= last {
		recs = recs[1:]
	}
	if len(recs) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error { return putRecords(tx, recs) })
		if err != nil {
			return fmt.Errorf("replay %s into the save file: %w", path, err)
		}
		s.first.CompareAndSwap(0, recs[0].Revision)
		s.last.Store(recs[len(recs)-1].Revision)
		s.bolted.Store(recs[len(recs)-1].Revision)
		s.opts.Logger.Info("replayed the write-ahead file a crash left", "path", path, "records", len(recs), "to", recs[len(recs)-1].Revision)
	}
	if bytes.ContainsFunc(b[end:], func(r rune) bool { return r != 0 }) {
		aside := asidePath(path, "unread")
		s.opts.Logger.Warn("the write-ahead file a crash left holds bytes after its last sound entry that cannot be read: a batch cut short, never acknowledged, or damage; moved it aside",
			"path", path, "to", aside, "revision", s.last.Load(), "unread_from", end, "size", len(b))
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("move %s aside: %w", path, err)
		}
	} else if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// newWAL makes a fresh write-ahead file continuing base, at least need
// bytes of entries long, beside its place, and renames it into place.
func (s *Store) newWAL(base uint64, need int) (*walFile, error) {
	path := WALPath(s.path)
	tmp := path + ".new"
	size := max(int64(s.opts.WALSize), int64(walHeaderSize+need))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make a write-ahead file: %w", err)
	}
	fail := func(err error) (*walFile, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("make a write-ahead file: %w", err)
	}
	// Blocks allocated and written (with zeros) now are written again
	// later without changing the file's size, its allocation or its
	// extents' state: an fdatasync then writes the data and no metadata.
	// Allocated alone is not enough on ext4, which keeps fallocate's
	// blocks "unwritten" and journals their first write. allocate first
	// makes a full disk fail here, in one call.
	if err := allocate(f, size); err != nil {
		return fail(err)
	}
	if err := zero(f, size); err != nil {
		return fail(err)
	}
	if _, err := f.WriteAt(walHeader(s.id, base), 0); err != nil {
		return fail(err)
	}
	if !s.opts.NoSync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	// Never over another's: with the save file deleted or replaced
	// under this store, the write-ahead file at the path may be a second
	// server's, holding what it acknowledged. walMu held: s.file is
	// stable (Rewrite holds walMu too).
	if err := s.checkSaveFile(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.walInfo.Store(&info)
	return &walFile{f: f, off: walHeaderSize, size: size}, nil
}

// writeWAL makes recs durable in the write-ahead file, making the file
// anew when they do not fit (after a checkpoint: everything it held is in
// the save file then). It returns the bytes written, which the tail's
// records point into. walMu held, mu not.
func (s *Store) writeWAL(recs []Record) ([]byte, error) {
	n := 0
	for i := range recs {
		n += entrySize(recs[i].Frame)
	}
	// A buffer of the batch's own: the tail keeps it (addTail).
	buf := make([]byte, 0, n)
	for i := range recs {
		buf = appendEntry(buf, &recs[i])
	}
	if s.wal == nil || s.wal.off+int64(len(buf)) > s.wal.size {
		if s.wal != nil {
			if err := s.checkpoint(); err != nil {
				return nil, err
			}
		}
		w, err := s.newWAL(s.last.Load(), len(buf))
		if err != nil {
			return nil, err
		}
		if s.wal != nil {
			s.wal.f.Close()
		}
		s.wal = w
	}
	if _, err := s.wal.f.WriteAt(buf, s.wal.off); err != nil {
		return nil, err
	}
	if !s.opts.NoSync {
		if err := datasync(s.wal.f); err != nil {
			return nil, err
		}
	}
	s.wal.off += int64(len(buf))
	return buf, nil
}

// checkWAL is checkFile for the write-ahead file. mu held.
func (s *Store) checkWAL() error {
	info := s.walInfo.Load()
	if info == nil {
		return nil
	}
	path := WALPath(s.path)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileGoneError{Path: path}
	case err != nil:
		return fmt.Errorf("check that the write-ahead file is still at %s: %w", path, err)
	case !os.SameFile(fi, *info):
		return &FileGoneError{Path: path, Replaced: true}
	}
	return nil
}

// addTail keeps recs, just made durable in the write-ahead file, for the
// readers until a checkpoint; their frames point into own.
func (s *Store) addTail(recs []Record, own []byte) {
	s.tailMu.Lock()
	wasEmpty := len(s.tail) == 0
	off := 0
	for _, r := range recs {
		n := entrySize(r.Frame)
		r.Frame = own[off+n-len(r.Frame) : off+n : off+n]
		off += n
		s.tail = append(s.tail, r)
	}
	s.tailBytes += len(own)
	full := s.tailBytes >= checkpointBytes
	s.tailMu.Unlock()
	switch {
	case full:
		poke(s.cpFull)
	case wasEmpty:
		poke(s.cpWake)
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// tailAfter returns the tail's records after rev (not a copy of the
// records' frames: a record in the tail never changes).
func (s *Store) tailAfter(rev uint64) []Record {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	i := 0
	for i < len(s.tail) && s.tail[i].Revision <= rev {
		i++
	}
	return s.tail[i:len(s.tail):len(s.tail)]
}

// checkpoint copies the tail into the save file's log bucket in one
// commit. On failure the save file is suspect: Append refuses until
// Rewrite writes a fresh one (the records stay durable in the
// write-ahead file meanwhile).
func (s *Store) checkpoint() error { return s.checkpointWith(nil) }

// checkpointWith is checkpoint, with more done in its commit: then
// (SaveSnapshot's) runs after the tail is in, and the commit is made
// even when the tail is empty.
func (s *Store) checkpointWith(then func(*bolt.Tx) error) error {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if err := s.checkpointErr(); err != nil {
		return err
	}
	s.tailMu.Lock()
	recs := s.tail
	s.tailMu.Unlock()
	if len(recs) == 0 && then == nil {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		if err := putRecords(tx, recs); err != nil {
			return err
		}
		if then != nil {
			return then(tx)
		}
		return nil
	})
	if err != nil && len(recs) == 0 {
		return err // then's: the tail was not part of it
	}
	if err != nil {
		err = fmt.Errorf("copy revisions %d to %d into the save file: %w", recs[0].Revision, recs[len(recs)-1].Revision, err)
		s.cpErr.Store(&err)
		s.opts.Logger.Error("checkpoint", "err", err)
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	s.step("copied")
	s.bolted.Store(recs[len(recs)-1].Revision)
	s.tailMu.Lock()
	s.tail = append([]Record(nil), s.tail[len(recs):]...)
	s.tailBytes = 0
	for _, r := range s.tail {
		s.tailBytes += entrySize(r.Frame)
	}
	s.tailMu.Unlock()
	return nil
}

// checkpoints runs a checkpoint checkpointDelay after a record waits, or
// sooner once checkpointBytes do, until Close.
func (s *Store) checkpoints() {
	defer close(s.cpDone)
	for {
		select {
		case <-s.cpStop:
			return
		case <-s.cpWake:
		case <-s.cpFull:
		}
		t := time.NewTimer(checkpointDelay)
		select {
		case <-s.cpStop:
			t.Stop()
			return
		case <-t.C:
		case <-s.cpFull:
			t.Stop()
		}
		if s.checkpoint() == nil {
			// A batch acknowledged while the checkpoint committed found
			// the tail not empty and woke nobody: it is the next one's.
			s.tailMu.Lock()
			more := len(s.tail) > 0
			s.tailMu.Unlock()
			if more {
				poke(s.cpWake)
			}
		}
	}
}

// checkpointErr is the failed checkpoint's error (nil: none).
func (s *Store) checkpointErr() error {
	if p := s.cpErr.Load(); p != nil {
		return *p
	}
	return nil
}

// step tells a test where a checkpoint or Rewrite is (Options.testStep).
func (s *Store) step(name string) {
	if s.opts.testStep != nil {
		s.opts.testStep(name)
	}
}

// closeWAL checkpoints and removes the write-ahead file: what it held is
// in the save file. On a failed checkpoint the file stays, for the next
// Open to replay.
func (s *Store) closeWAL() error {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.closed = true
	if s.cpStop == nil {
		return nil // NoWAL, or closed
	}
	close(s.cpStop)
	<-s.cpDone
	s.cpStop = nil
	if s.wal == nil {
		return nil
	}
	if err := s.checkpoint(); err != nil {
		s.wal.f.Close()
		return err
	}
	s.wal.f.Close()
	s.wal = nil
	ours := s.walInfo.Swap(nil)
	// Only ours: another file at the path (a second server's, with the
	// save file deleted under this one) is left as it is.
	if fi, err := os.Stat(WALPath(s.path)); err != nil || ours == nil || !os.SameFile(fi, *ours) {
		return nil
	}
	if err := os.Remove(WALPath(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

// reid gives the save file copy at path a write-ahead id of its own, so
// that the write-ahead file of the file it was copied from is never
// replayed into it.
func reid(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	id := newWALID()
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("walid"), id[:]) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// zero writes zeros over f's first size bytes.
func zero(f *os.File, size int64) error {
	chunk := make([]byte, min(size, 256<<10))
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), size-off)], off); err != nil {
			return err
		}
	}
	return nil
}
