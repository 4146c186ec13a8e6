// Package store is txxt's save file: one bbolt database holding the event
// log, the newest world snapshots, and the small tables the server keeps
// (users, sessions, settings, profiles).
//
// Layout (bucket: key → value; integers big-endian in keys so that bbolt's
// byte order is revision order, little-endian in values like the wire):
//
//	meta:      "magic" → "txxt-save"; "version" → u32 format version; "created" → RFC 3339 time;
//	           "walid" → 16 random bytes, the id its write-ahead file carries (wal.go)
//	log:       revision u64 → crc32c u32 · time i64 (unix ns) · actor 16 · client 16 · request u32 · frame
//	snapshots: revision u64 → crc32c u32 · frame
//	users, sessions, settings, profiles: string → bytes (owned by the server)
//	teams, members, invites, deployment: string → bytes (owned by the server;
//	           used in a data directory's accounts file, absent from older files)
//	feeds:     string → bytes (owned by the server: a team's calendar feeds;
//	           absent from older files)
//
// Every log record and snapshot carries a CRC-32C (Castagnoli) of the rest
// of its value: bbolt checksums only its meta pages, and a flipped bit in a
// record must be found, not replayed. The store treats frames as opaque.
//
// A batch is made durable first in the write-ahead file beside the save
// file (PATH.wal, one fdatasync), and copied into the log bucket by a
// checkpoint soon after (see wal.go); a stopped store's is empty and gone.
//
// A Store is a worldlog.File: the engine's log, kept in one local file
// (two while it runs). It is safe for concurrent use; bbolt serialises
// writers.
package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"txxt/worldlog"
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
	laterTables = []string{"teams", "members", "invites", "deployment", "feeds", "usersessions"}
)

// Errors wrapped by the store's errors, for callers to act on.
var (
	ErrNotSaveFile = errors.New("not a txxt save file")
	ErrDamaged     = errors.New("save file damaged")
	ErrVersion     = errors.New("save file written by a newer txxt")
	// ErrGap is the contract's: records that do not continue the log.
	ErrGap = worldlog.ErrGap
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	// NoWAL commits every batch to the save file itself, two fdatasyncs
	// (as before the write-ahead file): for comparing the two.
	NoWAL bool
	// WALSize is the write-ahead file's allocation (default
	// DefaultWALSize); a batch that does not fit makes it anew.
	WALSize int

	noCheckpoints bool              // tests: only Close, the readers and a full file checkpoint
	testStep      func(step string) // tests: called at the steps of a checkpoint and of Rewrite (Store.step)
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
	id      [16]byte      // the write-ahead id (meta "walid"); guarded by mu

	// The write-ahead file (wal.go). Lock order: walMu, cpMu, mu, tailMu.
	walMu     sync.Mutex                  // Append's and Rewrite's: wal
	wal       *walFile                    // nil until the first Append
	closed    bool                        // by Close: Append refuses
	walInfo   atomic.Pointer[os.FileInfo] // wal's identity, for CheckFile (nil: none)
	cpMu      sync.Mutex                  // one checkpoint at a time: moving the tail into the file; cpErr's writers
	cpErr     atomic.Pointer[error]       // a failed checkpoint: the file is suspect until Rewrite (Append reads it without cpMu, which a checkpoint holds while it commits)
	tailMu    sync.Mutex
	tail      []Record      // durable in the write-ahead file, not yet in the save file, oldest first
	tailBytes int           // their size as entries
	bolted    atomic.Uint64 // the save file's own last revision (last once the tail is in it)

	cpWake, cpFull, cpStop, cpDone chan struct{} // the checkpointer's (nil with NoWAL)
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

// Close copies the write-ahead file's records into the save file, removes
// it, and closes the file.
func (s *Store) Close() error {
	err := s.closeWAL()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
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

// The Store is the engine's log, and the one that can be rewritten.
var _ worldlog.File = (*Store)(nil)
