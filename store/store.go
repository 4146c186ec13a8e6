// Package store is txxt's save file: one bbolt database holding the event
// log, the newest world snapshots, and the small tables the server keeps
// (users, sessions, settings, profiles).
//
// Layout (bucket: key → value; integers big-endian in keys so that bbolt's
// byte order is revision order, little-endian in values like the wire):
//
//	meta:      "magic" → "txxt-save"; "version" → u32 format version; "created" → RFC 3339 time
//	log:       revision u64 → crc32c u32 · time i64 (unix ns) · actor 16 · client 16 · request u32 · frame
//	snapshots: revision u64 → crc32c u32 · frame
//	users, sessions, settings, profiles: string → bytes (owned by the server)
//	teams, members, invites, deployment: string → bytes (owned by the server;
//	           used in a data directory's accounts file, absent from older files)
//
// Every log record and snapshot carries a CRC-32C (Castagnoli) of the rest
// of its value: bbolt checksums only its meta pages, and a flipped bit in a
// record must be found, not replayed. The store treats frames as opaque.
//
// A Store is safe for concurrent use; bbolt serialises writers.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"txxt/world"
)

// FormatVersion is the layout version this code writes and reads.
const FormatVersion = 1

const magic = "txxt-save"

var (
	bucketMeta      = []byte("meta")
	bucketLog       = []byte("log")
	bucketSnapshots = []byte("snapshots")
	tableNames      = []string{"users", "sessions", "settings", "profiles"}
	// laterTables came after format 1's first files, so an older file may
	// lack them: they are created by their first Put, and a missing one
	// reads as empty.
	laterTables = []string{"teams", "members", "invites", "deployment"}
)

// Errors wrapped by the store's errors, for callers to act on.
var (
	ErrNotSaveFile = errors.New("not a txxt save file")
	ErrDamaged     = errors.New("save file damaged")
	ErrVersion     = errors.New("save file written by a newer txxt")
	ErrGap         = errors.New("records do not continue the log")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one log entry: the event frame committed at Revision and where
// the command came from.
type Record struct {
	Revision uint64
	Time     int64    // unix nanoseconds, when the engine applied it
	Actor    world.ID // the user who sent the command
	Client   world.ID // the client's id and its request id: the retry key
	Request  uint32
	Frame    []byte // the encoded event
}

// record value: crc 4 · time 8 · actor 16 · client 16 · request 4 · frame
const recordHeader = 4 + 8 + 16 + 16 + 4

// Options tune Open.
type Options struct {
	// NoSync skips fsync on commit. Only for building benchmark fixtures:
	// a crash loses what it wrote.
	NoSync bool
	// Timeout is how long Open waits for another process's lock on the
	// file (default 1s).
	Timeout time.Duration
	// Logger hears what the store does on its own: a file found in the
	// save file's place moved aside by Rewrite (default: discard).
	Logger *slog.Logger
}

// Store is an open save file.
type Store struct {
	// mu guards db: every transaction holds it for reading; Rewrite, which
	// replaces the file, holds it for writing.
	mu      sync.RWMutex
	db      *bolt.DB
	file    os.FileInfo // the identity (device, inode) of the file db has open; guarded by mu
	opts    Options
	path    string
	created bool
	last    atomic.Uint64 // last revision in the log; updated after each commit
	first   atomic.Uint64 // first revision still in the log (0: empty)
}

// Open opens the save file at path, creating it if it does not exist. An
// existing file that is not a txxt save file, is damaged, or was written by
// a newer format is refused and left untouched.
func Open(path string, opts Options) (s *Store, err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	created := false
	switch fi, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist):
		created = true
	case err != nil:
		return nil, err
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory: %w", path, ErrNotSaveFile)
	case fi.Size() == 0:
		// bbolt would quietly initialise an empty file; an existing
		// empty file is more likely a mistake than a new save file.
		return nil, fmt.Errorf("%s is empty: %w", path, ErrNotSaveFile)
	}
	if !created {
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	}
	// bbolt panics on some damaged files, and reading a damaged memory
	// map faults; a damaged file must be an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%s: %v: %w", path, r, ErrDamaged)
		}
	}()
	db, file, err := openBolt(path, opts)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another process (is a txxt server running on it?)", path)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, fmt.Errorf("%s: %v: %w", path, err, ErrDamaged)
		}
		return nil, err
	}
	s = &Store{db: db, file: file, opts: opts, path: path, created: created}
	if created {
		err = s.initialise()
	} else if err = s.verify(); err == nil {
		var sum Summary
		if sum, err = s.check(); err == nil {
			err = s.setRange(sum)
		}
	}
	if err != nil {
		db.Close()
		if created {
			os.Remove(path)
		}
		return nil, err
	}
	return s, nil
}

// openBolt opens the bbolt file at path and returns the identity of the
// file it opened, taken from bbolt's own descriptor (not from the path,
// which another process may change at any moment).
func openBolt(path string, opts Options) (*bolt.DB, os.FileInfo, error) {
	var opened *os.File
	open := func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, mode)
		if opened == nil { // the first call is bolt.Open's; later ones are not the db's file
			opened = f
		}
		return f, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType, OpenFile: open})
	if err != nil {
		return nil, nil, err
	}
	fi, err := opened.Stat()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, fi, nil
}

// FileGoneError says that the file at the store's path is no longer the
// file the store has open: it was deleted, or another file was put in its
// place. What the store writes then goes to a file nobody will find after
// the process exits, so the writer must stop acknowledging and write a
// fresh file (Rewrite).
type FileGoneError struct {
	Path     string
	Replaced bool // another file is at Path; false: nothing is
}

func (e *FileGoneError) Error() string {
	if e.Replaced {
		return "the save file at " + e.Path + " was replaced by another file under the running server"
	}
	return "the save file at " + e.Path + " was deleted under the running server"
}

// CheckFile reports whether the file at the store's path is still the file
// the store has open (same device and inode): a *FileGoneError when it was
// deleted or replaced, another error when the path cannot be looked at.
// It costs one stat. Append checks it after every commit; a writer calls
// it now and then to notice a file gone while nothing is written.
func (s *Store) CheckFile() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkFile()
}

// checkFile is CheckFile with mu held.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileGoneError{Path: s.path}
	case err != nil:
		return fmt.Errorf("check that the save file is still at %s: %w", s.path, err)
	case !os.SameFile(fi, s.file):
		return &FileGoneError{Path: s.path, Replaced: true}
	}
	return nil
}

// view and update run fn in a read or a write transaction on the current file.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.Update(fn)
}

// checkHeader refuses a file that is not a bbolt database, or one cut
// short, before bbolt sees it: bbolt would map whatever it is and may
// panic reading it (holding the file's lock, in this process, until exit).
// It reads bbolt's two meta pages as bbolt does: page header (16 bytes),
// then magic u32 · version u32 · page size u32 · flags u32 · root bucket
// (pgid u64 · sequence u64) · freelist pgid u64 · high-water pgid u64 ·
// txid u64 · FNV-64a checksum u64 of the 64 bytes before it, all in the
// machine's byte order. The valid meta with the higher txid is the file's.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	meta := func(off int64) (pageSize uint32, pages, txid uint64, ok bool) {
		var b [80]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0, 0, 0, false
		}
		if binary.LittleEndian.Uint32(b[16:]) != 0xED0CDAED {
			return 0, 0, 0, false
		}
		h := fnv.New64a()
		h.Write(b[16:72])
		if h.Sum64() != binary.LittleEndian.Uint64(b[72:]) {
			return 0, 0, 0, false
		}
		return binary.LittleEndian.Uint32(b[24:]), binary.LittleEndian.Uint64(b[56:]), binary.LittleEndian.Uint64(b[64:]), true
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 16); err != nil {
		return fmt.Errorf("%s is too short to be a save file: %w", path, ErrNotSaveFile)
	}
	size0, pages0, tx0, ok0 := meta(0)
	if !ok0 && binary.LittleEndian.Uint32(magic[:]) != 0xED0CDAED {
		return fmt.Errorf("%s: %w", path, ErrNotSaveFile)
	}
	second := int64(size0)
	if !ok0 {
		second = int64(os.Getpagesize())
	}
	size1, pages1, tx1, ok1 := meta(second)
	var pageSize uint32
	var pages uint64
	switch {
	case ok0 && (!ok1 || tx0 >= tx1):
		pageSize, pages = size0, pages0
	case ok1:
		pageSize, pages = size1, pages1
	default:
		return fmt.Errorf("%s: both of its meta pages are damaged: %w", path, ErrDamaged)
	}
	if need := int64(pages) * int64(pageSize); fi.Size() < need {
		return fmt.Errorf("%s is %d bytes but its pages need %d: truncated: %w", path, fi.Size(), need, ErrDamaged)
	}
	return nil
}

func (s *Store) initialise() error { return s.db.Update(createBuckets) }

// createBuckets lays out a new file: its identity and every bucket, empty.
func createBuckets(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], FormatVersion)
	meta.Put([]byte("magic"), []byte(magic))
	meta.Put([]byte("version"), v[:])
	meta.Put([]byte("created"), []byte(time.Now().UTC().Format(time.RFC3339)))
	for _, name := range append(append([]string{string(bucketLog), string(bucketSnapshots)}, tableNames...), laterTables...) {
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}

// verify checks an existing file's identity: its magic, a format version
// this code reads, and every bucket. check then reads the rest.
func (s *Store) verify() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || string(meta.Get([]byte("magic"))) != magic {
			return fmt.Errorf("%s: %w", s.path, ErrNotSaveFile)
		}
		v := meta.Get([]byte("version"))
		if len(v) != 4 {
			return fmt.Errorf("%s: no format version: %w", s.path, ErrDamaged)
		}
		if ver := binary.LittleEndian.Uint32(v); ver > FormatVersion {
			return fmt.Errorf("%s has format %d, this txxt reads up to %d: %w", s.path, ver, FormatVersion, ErrVersion)
		}
		for _, name := range append([]string{string(bucketLog), string(bucketSnapshots)}, tableNames...) {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("%s: bucket %s missing: %w", s.path, name, ErrDamaged)
			}
		}
		return nil
	})
}

// setRange sets the log's first and last revisions from what check found.
// A file written by Rewrite may hold a snapshot and no log (a Rewrite given
// no tail): the log then continues from the snapshot.
func (s *Store) setRange(sum Summary) error {
	var snap uint64
	if n := len(sum.Snapshots); n > 0 {
		snap = sum.Snapshots[n-1]
	}
	if sum.Records == 0 {
		s.first.Store(0)
		s.last.Store(snap)
		return nil
	}
	if sum.LastRevision < snap {
		return fmt.Errorf("%s: log ends at revision %d, before the snapshot at %d: %w", s.path, sum.LastRevision, snap, ErrDamaged)
	}
	s.first.Store(sum.FirstRevision)
	s.last.Store(sum.LastRevision)
	return nil
}

// Summary is what Check found in a sound file.
type Summary struct {
	FirstRevision, LastRevision uint64   // the log's (0, 0 when it is empty)
	Records                     int      // log records
	Snapshots                   []uint64 // snapshot revisions, oldest first
	Tables                      map[string]int
	Pages                       int // bbolt pages the file holds
}

// Check reads everything the file holds: every page reachable from its
// buckets, every log record and snapshot against its checksum, and the
// log's continuity. Open does the same before it returns, so a damaged
// file is refused at start rather than found by a reader later.
func (s *Store) Check() (sum Summary, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.check()
}

func (s *Store) check() (sum Summary, err error) {
	// A damaged page can make bbolt panic or read past the mapped file.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v: %w", s.path, r, ErrDamaged)
		}
	}()
	sum.Tables = map[string]int{}
	err = s.db.View(func(tx *bolt.Tx) error {
		sum.Pages = int(tx.Size() / int64(s.db.Info().PageSize))
		c := tx.Bucket(bucketLog).Cursor()
		k, v := c.First()
		err := eachRecord(c, k, v, func(r Record) error {
			if sum.Records == 0 {
				sum.FirstRevision = r.Revision
			}
			sum.LastRevision = r.Revision
			sum.Records++
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		c = tx.Bucket(bucketSnapshots).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%s: snapshot key of %d bytes: %w", s.path, len(k), ErrDamaged)
			}
			rev := binary.BigEndian.Uint64(k)
			if _, err := snapshotFrame(rev, v); err != nil {
				return fmt.Errorf("%s: %w", s.path, err)
			}
			sum.Snapshots = append(sum.Snapshots, rev)
		}
		for _, name := range append(append([]string{string(bucketMeta)}, tableNames...), laterTables...) {
			b := tx.Bucket([]byte(name))
			if b == nil {
				continue // a later table this file never had
			}
			n := 0
			b.ForEach(func(_, _ []byte) error { n++; return nil })
			if name != string(bucketMeta) {
				sum.Tables[name] = n
			}
		}
		return nil
	})
	return sum, err
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Created reports whether Open created the file.
func (s *Store) Created() bool { return s.created }

// Size is the file's size in bytes.
func (s *Store) Size() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// LastRevision is the revision of the newest record, or of the newest
// snapshot when the log is empty (0 for a new file): the next Append
// starts after it.
func (s *Store) LastRevision() uint64 { return s.last.Load() }

// FirstRevision is the revision of the oldest record still in the log (0
// for an empty log).
func (s *Store) FirstRevision() uint64 { return s.first.Load() }

func revKey(rev uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], rev)
	return k[:]
}

// Append makes recs durable in one transaction (one commit, one fsync of
// data and one of meta, as bbolt commits). The records must continue the
// log: the first at LastRevision+1, each the previous plus one. After the
// commit it checks that the file is still at the store's path
// (CheckFile): a commit to a file that was deleted or replaced is durable
// only until the process exits, so it is an error too. On error
// LastRevision is unchanged and the records must be taken as not written
// (they may have reached the file, or a file no longer at the path).
func (s *Store) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	last := s.last.Load()
	for i := range recs {
		if recs[i].Revision != last+1+uint64(i) {
			return fmt.Errorf("append revision %d after %d: %w", recs[i].Revision, last+uint64(i), ErrGap)
		}
	}
	s.mu.RLock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		b.FillPercent = 1 // keys only grow: pack pages full
		for i := range recs {
			if err := b.Put(revKey(recs[i].Revision), encodeRecord(&recs[i])); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		// After the commit, not before: a file deleted before the commit
		// returned is found here, before anyone is told it is durable.
		err = s.checkFile()
	}
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("append revisions %d to %d: %w", recs[0].Revision, recs[len(recs)-1].Revision, err)
	}
	s.first.CompareAndSwap(0, recs[0].Revision)
	s.last.Store(recs[len(recs)-1].Revision)
	return nil
}

func encodeRecord(r *Record) []byte {
	v := make([]byte, recordHeader+len(r.Frame))
	binary.LittleEndian.PutUint64(v[4:], uint64(r.Time))
	copy(v[12:], r.Actor[:])
	copy(v[28:], r.Client[:])
	binary.LittleEndian.PutUint32(v[44:], r.Request)
	copy(v[recordHeader:], r.Frame)
	binary.LittleEndian.PutUint32(v, crc32.Checksum(v[4:], castagnoli))
	return v
}

func decodeRecord(rev uint64, v []byte) (Record, error) {
	if len(v) < recordHeader || binary.LittleEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return Record{}, fmt.Errorf("log record %d fails its checksum: %w", rev, ErrDamaged)
	}
	r := Record{Revision: rev, Time: int64(binary.LittleEndian.Uint64(v[4:])), Request: binary.LittleEndian.Uint32(v[44:])}
	copy(r.Actor[:], v[12:])
	copy(r.Client[:], v[28:])
	r.Frame = v[recordHeader:]
	return r, nil
}

// Records calls fn for every record with a revision after after, in order,
// checking each one's checksum and the log's continuity. It stops at fn's
// first error and returns it. The Frame given to fn is valid only during
// the call (it points into the file's memory map): copy it to keep it.
func (s *Store) Records(after uint64, fn func(Record) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		k, v := c.Seek(revKey(after + 1))
		return eachRecord(c, k, v, fn)
	})
}

// eachRecord calls fn for the record at the cursor (k, v) and every one
// after it, checking each key, each record's checksum and the log's
// continuity.
func eachRecord(c *bolt.Cursor, k, v []byte, fn func(Record) error) error {
	want := uint64(0)
	for ; k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("log key of %d bytes: %w", len(k), ErrDamaged)
		}
		rev := binary.BigEndian.Uint64(k)
		if want != 0 && rev != want {
			return fmt.Errorf("log jumps from revision %d to %d: %w", want-1, rev, ErrDamaged)
		}
		want = rev + 1
		r, err := decodeRecord(rev, v)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// SaveSnapshot stores the encoded world at rev and keeps only the two
// newest snapshots (the older one is a fallback, should the newest prove
// damaged).
func (s *Store) SaveSnapshot(rev uint64, frame []byte) error {
	v := snapshotValue(frame)
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if err := b.Put(revKey(rev), v); err != nil {
			return err
		}
		var old [][]byte
		c := b.Cursor()
		n := 0
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if n++; n > 2 {
				old = append(old, bytes.Clone(k))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save snapshot at revision %d: %w", rev, err)
	}
	return nil
}

// snapshotFrame checks a stored snapshot's checksum and returns its frame
// (pointing into v).
func snapshotFrame(rev uint64, v []byte) ([]byte, error) {
	if len(v) < 4 || binary.LittleEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return nil, fmt.Errorf("snapshot at revision %d fails its checksum: %w", rev, ErrDamaged)
	}
	return v[4:], nil
}

func snapshotValue(frame []byte) []byte {
	v := make([]byte, 4+len(frame))
	copy(v[4:], frame)
	binary.LittleEndian.PutUint32(v, crc32.Checksum(frame, castagnoli))
	return v
}

// LatestSnapshot returns the newest snapshot (0, nil, nil when there is
// none), checksum verified; the frame is a copy.
func (s *Store) LatestSnapshot() (rev uint64, frame []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketSnapshots).Cursor().Last()
		if k == nil {
			return nil
		}
		rev = binary.BigEndian.Uint64(k)
		f, err := snapshotFrame(rev, v)
		frame = bytes.Clone(f)
		return err
	})
	return rev, frame, err
}

// Snapshot returns the snapshot stored at rev, checksum verified (nil, nil
// when there is none); the frame is a copy.
func (s *Store) Snapshot(rev uint64) (frame []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSnapshots).Get(revKey(rev))
		if v == nil {
			return nil
		}
		f, err := snapshotFrame(rev, v)
		frame = bytes.Clone(f)
		return err
	})
	return frame, err
}

// Backup writes a consistent copy of the whole file, as of one moment, to
// w: a read transaction's view, so commits go on meanwhile. It returns the
// copy's size and the last revision it holds.
func (s *Store) Backup(w io.Writer) (size int64, rev uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		// As setRange: the log's last record, else the newest snapshot.
		for _, b := range [][]byte{bucketLog, bucketSnapshots} {
			if k, _ := tx.Bucket(b).Cursor().Last(); len(k) == 8 {
				rev = binary.BigEndian.Uint64(k)
				break
			}
		}
		size, err = tx.WriteTo(w)
		return err
	})
	return size, rev, err
}

// compactChunk bounds one compaction transaction, so deleting a long log
// does not hold the writer lock (and grow a transaction) without bound.
const compactChunk = 10000

// Compact deletes the log's records up to keepAfter, but never past the
// newest snapshot (those records are still needed to boot) and never the
// last record (it holds LastRevision).
func (s *Store) Compact(keepAfter uint64) error {
	snapRev, _, err := s.LatestSnapshot()
	if err != nil {
		return err
	}
	limit := min(keepAfter, snapRev, s.last.Load()-1)
	for {
		first := s.first.Load()
		if first == 0 || first > limit {
			return nil
		}
		end := min(limit, first+compactChunk-1)
		err := s.update(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketLog).Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= end; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("compact log to revision %d: %w", end, err)
		}
		s.first.Store(end + 1)
	}
}

// Rewrite replaces the save file with a fresh one that holds snapshot as the
// world at rev, tail as its log (the newest records, ending at rev; may be
// empty), and the server's tables. It is how a store whose write failed is
// trusted again: after a failed fsync, Linux may have marked unwritten
// pages clean while keeping their new content, so what the old file reads
// back is not what is on disk. It is also how a store whose file was
// deleted or replaced under it (CheckFile) gets a file at its path again.
// The world (snapshot) comes from the caller's memory, not from the file;
// the tables are copied as the open file reads them, since they hold what
// the server last wrote.
//
// The fresh file is written beside the old one, committed (fsynced), and
// renamed over it; the directory is fsynced, and only then does the store
// switch to it. Another file found at the path (not the store's own) is
// never destroyed: it is moved aside to PATH.replaced-TIME first, and when
// another process holds it locked (a second server started on the path),
// Rewrite leaves everything as it is and says so. On error the store is
// unchanged and the old file in place, unless the rename was done and
// reopening failed: then the error says so and a later Rewrite starts
// again.
func (s *Store) Rewrite(rev uint64, snapshot []byte, tail []Record) error {
	for i := range tail {
		if want := rev - uint64(len(tail)-1-i); tail[i].Revision != want {
			return fmt.Errorf("fresh save file: tail record %d where %d belongs: %w", tail[i].Revision, want, ErrGap)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	foreign, err := s.lockForeign()
	if err != nil {
		return err
	}
	if foreign != nil {
		defer foreign.Close() // holds its lock until the fresh file is in place
	}
	tmp := s.path + ".fresh"
	if err := s.writeFresh(tmp, rev, snapshot, tail); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write a fresh save file: %w", err)
	}
	if foreign != nil {
		aside := s.path + ".replaced-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := os.Rename(s.path, aside); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("move the file found at %s aside: %w", s.path, err)
		}
		s.opts.Logger.Warn("moved the file found in the save file's place aside", "path", s.path, "to", aside)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put the fresh save file in place: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("sync the save file's directory: %w", err)
	}
	db, file, err := openBolt(s.path, s.opts)
	if err != nil {
		return fmt.Errorf("open the fresh save file: %w", err)
	}
	old := s.db
	s.db, s.file = db, file
	old.Close()
	s.first.Store(0)
	if len(tail) > 0 {
		s.first.Store(tail[0].Revision)
	}
	s.last.Store(rev)
	return nil
}

// lockForeign returns the file at the store's path, opened and locked,
// when it is another file than the store's own (nil when it is the
// store's, or when there is none). It refuses one that another process
// holds locked: bbolt locks the file it has open, so that is a server
// running on it. mu held.
func (s *Store) lockForeign() (*os.File, error) {
	err := s.checkFile()
	var gone *FileGoneError
	switch {
	case err == nil:
		return nil, nil
	case !errors.As(err, &gone):
		return nil, err
	case !gone.Replaced:
		return nil, nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w, and it cannot be opened: %w", gone, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w, and another process holds that file locked (is a second txxt server running on it?), so it is left as it is: %w", gone, err)
	}
	return f, nil
}

func (s *Store) writeFresh(path string, rev uint64, snapshot []byte, tail []Record) error {
	os.Remove(path) // a leftover of an earlier attempt
	db, _, err := openBolt(path, s.opts)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSnapshots).Put(revKey(rev), snapshotValue(snapshot)); err != nil {
			return err
		}
		log := tx.Bucket(bucketLog)
		log.FillPercent = 1
		for i := range tail {
			if err := log.Put(revKey(tail[i].Revision), encodeRecord(&tail[i])); err != nil {
				return err
			}
		}
		return s.db.View(func(old *bolt.Tx) error {
			for _, name := range append(tableNames, laterTables...) {
				to, from := tx.Bucket([]byte(name)), old.Bucket([]byte(name))
				if from == nil {
					continue // a later table the old file never had
				}
				// bbolt keeps what Put is given until the commit: copy it
				// out of the old file's memory map.
				err := from.ForEach(func(k, v []byte) error { return to.Put(bytes.Clone(k), bytes.Clone(v)) })
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Table is one of the server's key-value tables. Each call is its own
// durable transaction; Tables runs several in one.
type Table struct {
	s    *Store
	name []byte
}

func tableName(name string) []byte {
	for _, n := range tableNames {
		if n == name {
			return []byte(name)
		}
	}
	for _, n := range laterTables {
		if n == name {
			return []byte(name)
		}
	}
	panic("store: no table " + name)
}

// Table returns the named table: "users", "sessions", "settings",
// "profiles", "teams", "members", "invites" or "deployment". Any other
// name panics: the set is fixed by the file format.
func (s *Store) Table(name string) *Table { return &Table{s: s, name: tableName(name)} }

// Get returns a copy of the value at key, or nil when there is none.
func (t *Table) Get(key string) ([]byte, error) {
	var out []byte
	err := t.s.view(func(tx *bolt.Tx) error {
		out = TableTx{tx}.Get(string(t.name), key)
		return nil
	})
	return out, err
}

// Put stores val at key.
func (t *Table) Put(key string, val []byte) error {
	return t.s.update(func(tx *bolt.Tx) error { return TableTx{tx}.Put(string(t.name), key, val) })
}

// Delete removes key; a missing key is not an error.
func (t *Table) Delete(key string) error {
	return t.s.update(func(tx *bolt.Tx) error { return TableTx{tx}.Delete(string(t.name), key) })
}

// ForEach calls fn for every key in order; val is valid only during fn,
// and fn must not call the store.
func (t *Table) ForEach(fn func(key string, val []byte) error) error {
	return t.s.view(func(tx *bolt.Tx) error { return TableTx{tx}.ForEach(string(t.name), fn) })
}

// TableTx is one transaction over the tables, for changes that must land
// together (an invitation spent and the account it made).
type TableTx struct{ tx *bolt.Tx }

// Tables runs fn in one durable transaction: every Put and Delete of fn
// lands, or none does (fn returned an error, or the commit failed).
func (s *Store) Tables(fn func(TableTx) error) error {
	return s.update(func(tx *bolt.Tx) error { return fn(TableTx{tx}) })
}

// Get returns a copy of the value at key in table, or nil.
func (t TableTx) Get(table, key string) []byte {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return nil
	}
	return bytes.Clone(b.Get([]byte(key)))
}

// Put stores val at key in table.
func (t TableTx) Put(table, key string, val []byte) error {
	b, err := t.tx.CreateBucketIfNotExists(tableName(table))
	if err != nil {
		return err
	}
	return b.Put([]byte(key), val)
}

// Delete removes key from table; a missing key is not an error.
func (t TableTx) Delete(table, key string) error {
	if b := t.tx.Bucket(tableName(table)); b != nil {
		return b.Delete([]byte(key))
	}
	return nil
}

// ForEach calls fn for every key of table in order; val is valid only
// during fn.
func (t TableTx) ForEach(table string, fn func(key string, val []byte) error) error {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// Range calls fn, in order, for each key of table that starts with prefix
// and comes after prefix+after (after empty: from the first), until fn
// returns false. It seeks to where it starts, so a page of a long table
// costs the page, not the table. val is valid only during fn.
func (t TableTx) Range(table, prefix, after string, fn func(key string, val []byte) bool) {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return
	}
	c := b.Cursor()
	start := []byte(prefix + after)
	k, v := c.Seek(start)
	if after != "" && k != nil && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
		if !fn(string(k), v) {
			return
		}
	}
}

// Range is TableTx.Range in a read transaction of its own.
func (t *Table) Range(prefix, after string, fn func(key string, val []byte) bool) error {
	return t.s.view(func(tx *bolt.Tx) error { TableTx{tx}.Range(string(t.name), prefix, after, fn); return nil })
}
