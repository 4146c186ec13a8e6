package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

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
	s.bolted.Store(s.last.Load())
	if err == nil && !opts.NoWAL {
		err = s.startWAL()
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

// startWAL replays what a write-ahead file left, and starts the
// checkpointer.
func (s *Store) startWAL() (err error) {
	if s.opts.WALSize <= 0 {
		s.opts.WALSize = DefaultWALSize
	}
	if s.id, err = s.walID(); err != nil {
		return err
	}
	if err := s.replayWAL(); err != nil {
		return err
	}
	s.cpWake, s.cpFull = make(chan struct{}, 1), make(chan struct{}, 1)
	s.cpStop, s.cpDone = make(chan struct{}), make(chan struct{})
	if s.opts.noCheckpoints {
		close(s.cpDone)
	} else {
		go s.checkpoints()
	}
	return nil
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
func (s *Store) CheckFile(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkFile()
}

// checkFile is CheckFile with mu held.
func (s *Store) checkFile() error {
	if err := s.checkWAL(); err != nil {
		return err
	}
	return s.checkSaveFile()
}

// checkSaveFile is checkFile for the save file alone.
func (s *Store) checkSaveFile() error {
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
	id := newWALID()
	meta.Put([]byte("walid"), id[:])
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
