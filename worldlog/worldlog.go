// Package worldlog is the contract between a world's single writer (the
// engine) and the durable log it writes to: the backend seam. The engine
// imports only this package; each backend (the local save file in store,
// the in-memory Memory here, a distributed log later) implements Log, and
// every one of them passes the same behaviour suite, logtest.Run.
//
// A world's log is a sequence of records keyed by revision, each the
// previous plus one, and the newest snapshots of the world, each with the
// revision it ends at. Boot is the newest snapshot, then the records after
// it; a reconnecting client's resume reads the log's tail.
//
// One writer at a time: a backend that lets another writer take the world
// (a second node) refuses the old writer's appends with ErrFenced, and
// stores nothing of them. The fence, not the writer's good behaviour, is
// what keeps a deposed writer's batch out of the log.
package worldlog

import (
	"context"
	"errors"

	"txxt/world"
)

// Errors a Log returns, for the writer to act on.
var (
	// ErrGap: the records do not continue the log (the first is not
	// Head+1, or one is not the previous plus one). Nothing was written.
	// It is the writer's bug, not the storage's.
	ErrGap = errors.New("records do not continue the log")

	// ErrFenced: another writer owns this world now. Nothing of the call
	// was written, and nothing this writer writes will be: it must step
	// down (stop writing, close the world here, let its clients reconnect
	// to the new owner), never retry and never rewrite.
	ErrFenced = errors.New("another writer owns this world")

	// ErrOutcomeUnknown comes with ErrFenced when the writer lost the
	// world with the call on its way (an owner cut off from its log, its
	// lease ended before the answer came): the call may have been
	// written, or not. The log knows, and so does the next owner, which
	// replays it: a command retried there with its ids is answered from
	// its retry table when it was written, applied when it was not. The
	// writer steps down as for ErrFenced, and must not tell its clients
	// that nothing was changed.
	//
	// It also comes alone, from a writer that still owns the world: a
	// write whose answer never came (a timeout), or whose log's head could
	// not be read after it failed. The writer treats it as any failed
	// write (it rolls back, and reads the head before it writes again: a
	// head past the batch says it was written, and the writer steps
	// down), but tells its clients that the change may have been saved.
	ErrOutcomeUnknown = errors.New("the write's outcome is unknown")
)

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

// Log is what the engine needs of a world's durable log. Every call takes
// a context: a backend across a network gives up when it ends (a local
// file checks it before it starts, as a commit cannot be interrupted).
// Calls are safe for concurrent use; the engine appends from one goroutine
// and saves snapshots from another.
type Log interface {
	// Append makes recs durable, all or none: when it returns nil they
	// survive a crash. They must continue the log: the first at Head+1,
	// each the previous plus one (ErrGap otherwise). ErrFenced when
	// another writer owns the world. On any other error Head is
	// unchanged and the records must be taken as not written, though
	// they may have reached the storage: before it writes again, the
	// writer rewrites a File, or reads Head to learn which it was.
	Append(ctx context.Context, recs []Record) error

	// Head is the revision the next Append follows: the newest record's,
	// or the newest snapshot's when no record follows it (0 for a new
	// world).
	Head(ctx context.Context) (uint64, error)

	// Records calls fn for every record still in the log with a revision
	// after after, in revision order (each the previous plus one), and
	// stops at fn's first error, which it returns. Records compacted away
	// are skipped: the first one fn sees may be past after+1. The Frame
	// given to fn is valid only during the call: copy it to keep it.
	Records(ctx context.Context, after uint64, fn func(Record) error) error

	// LatestSnapshot returns the newest snapshot, the world encoded at
	// rev (0, nil, nil when there is none). The frame is the caller's.
	LatestSnapshot(ctx context.Context) (rev uint64, frame []byte, err error)

	// SaveSnapshot stores frame as the world at rev (at most Head). The
	// log keeps at least the newest one; older ones may be dropped.
	SaveSnapshot(ctx context.Context, rev uint64, frame []byte) error

	// Compact deletes the records up to keepAfter, but never past the
	// newest snapshot (boot needs the records after it) and never the
	// newest record (it holds Head). A backend that stores a batch as one
	// unit may keep a batch whole that ends past the limit; one that
	// keeps the past (the save file) cuts only back to a snapshot it
	// keeps, so that every revision it holds can be rebuilt.
	Compact(ctx context.Context, keepAfter uint64) error
}

// Follower is what a Log adds that other nodes can follow: a node that
// serves a world it does not own keeps its copy of the world and its feed
// of events up to date by following the log, never by listening to the
// writer. Only what is durable is followed: a record reaches a follower
// once an Append of it could have returned nil, and a record the fence
// refused never does.
type Follower interface {
	// Follow calls fn for every durable record after after, in revision
	// order (each the previous plus one), then for each record made
	// durable later, as it is, until ctx ends (it returns ctx's error)
	// or fn returns an error (it returns that one). Records compacted
	// away are skipped: the first record fn sees may be past after+1,
	// and then the follower needs a snapshot first. The Frame given to fn
	// is valid only during the call: copy it to keep it. Any other error
	// (the backend lost its way to the log) ends the call; the caller may
	// follow again from the last record it saw.
	Follow(ctx context.Context, after uint64, fn func(Record) error) error
}

// File is what a Log kept in one local file adds, and only such a log has
// it (the engine finds it by a type assertion). After a failed fsync a
// file may read back what never reached the disk, and a file may be
// deleted or replaced under the running process: so the writer of a File
// never builds on it after a failed write, but has it rewritten from its
// memory. A log without File resolves a failed write by reading its Head.
type File interface {
	Log

	// Rewrite replaces the file with a fresh one holding snapshot as the
	// world at rev and tail (the newest records, ending at rev; may be
	// empty) as its log, and switches to it.
	Rewrite(ctx context.Context, rev uint64, snapshot []byte, tail []Record) error

	// CheckFile returns an error when the file at the log's path is no
	// longer the file it writes to (deleted, or another put in its
	// place); Append checks the same after its commit.
	CheckFile(ctx context.Context) error
}
