// Package tables is the contract between the server and where its small
// tables live: the deployment's accounts (users, sessions, teams,
// members, invites, the setup token) and each team's settings, saved
// views and calendar feeds. The server imports only this package; each
// backend (the local save file in store, the in-memory Memory here, NATS
// JetStream key-value buckets in jetstream) implements Tables, and every
// one of them passes the same behaviour suite, tabletest.Run.
//
// A Tables is one scope: a set of named tables whose keys sort in byte
// order and whose updates may span several tables atomically. Several
// processes may share one (nodes of a deployment on JetStream), so a
// read-modify-write goes through Update, which compares and sets: an
// update that read something another writer changed before it committed
// writes nothing and fails with ErrConflict, and Do runs it again on fresh
// reads. Nobody's change is overwritten silently.
package tables

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Limits every backend holds to, so that what works on one works on all:
// a JetStream key travels in a subject (escaped, it may triple) and a
// value in one message; an atomic update is one batch of messages.
const (
	MaxKey   = 512       // bytes of a key
	MaxValue = 512 << 10 // bytes of a value
	MaxKeys  = 1000      // keys one Update reads or writes
	MaxTable = 32        // bytes of a table's name
)

// Errors a Tables returns, for the caller to act on.
var (
	// ErrConflict: something the update read changed before it could
	// commit (another writer won the race). Nothing of it was written.
	ErrConflict = errors.New("another writer changed what this update read")

	// ErrKey: a key that is empty or longer than MaxKey bytes.
	ErrKey = fmt.Errorf("a key is 1 to %d bytes", MaxKey)

	// ErrTable: a table name the backend does not hold (names are 1 to
	// MaxTable lower-case letters; the save file holds a fixed set).
	ErrTable = errors.New("no such table")

	// ErrTooLarge: a value over MaxValue bytes, or an update that reads or
	// writes more than MaxKeys keys. Nothing was written.
	ErrTooLarge = fmt.Errorf("a value is at most %d bytes and an update touches at most %d keys", MaxValue, MaxKeys)
)

// Tables is one scope's tables. Every call takes a context: a backend
// across a network gives up when it ends (a local file checks it before
// it starts). Calls are safe for concurrent use, also from several
// processes sharing one backend.
type Tables interface {
	// Get returns a copy of the value at key in table, or nil when there
	// is none. A stored empty value is an empty, non-nil slice.
	Get(ctx context.Context, table, key string) ([]byte, error)

	// Range calls fn, in key order, for each key of table that starts
	// with prefix and sorts after prefix+after (after empty: from the
	// first), until fn returns false. Each value is the key's as of some
	// moment during the call; a network backend gives no snapshot of a
	// whole table. val is valid only during fn, and fn must not call the
	// tables. To page, pass the last key seen (less the prefix) as after.
	Range(ctx context.Context, table, prefix, after string, fn func(key string, val []byte) bool) error

	// Put stores val at key, whatever was there: for a key nobody else
	// writes (a new random id). A change that depends on what is there
	// goes through Update.
	Put(ctx context.Context, table, key string, val []byte) error

	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, table, key string) error

	// Update runs fn once, then commits its writes, all or none, if
	// every key fn read (present or absent) still holds what fn read;
	// otherwise it writes nothing and returns ErrConflict. fn runs
	// outside any lock and may call the tables itself, but it may run
	// again (Do), so its only effects are through tx. When fn returns an
	// error, nothing is written and Update returns that error. An update
	// that writes nothing commits nothing and checks nothing. On any
	// other error the writes may or may not have landed.
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is one Update's reads and writes. Reads see the update's own
// writes; writes land when the update commits.
type Tx interface {
	// Get returns a copy of the value at key in table, or nil, and
	// remembers what it saw for the commit's check.
	Get(table, key string) ([]byte, error)
	// Put stores val at key when the update commits.
	Put(table, key string, val []byte) error
	// Delete removes key when the update commits.
	Delete(table, key string) error
}

// MaxAttempts is how many times Do runs an update that keeps losing races
// before it gives up with ErrConflict.
const MaxAttempts = 16

// Do runs Update until it commits without a conflict, at most MaxAttempts
// times, waiting a little (random, growing) between attempts so that
// writers racing on one key spread out. fn may run several times: its
// only effects must be through tx.
func Do(ctx context.Context, t Tables, fn func(tx Tx) error) error {
	wait := 100 * time.Microsecond
	for attempt := 1; ; attempt++ {
		err := t.Update(ctx, fn)
		if !errors.Is(err, ErrConflict) || attempt == MaxAttempts {
			return err
		}
		timer := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// ForEach calls fn for every key of table in order, and stops at fn's
// first error, which it returns. val is valid only during fn, and fn must
// not call the tables.
func ForEach(ctx context.Context, t Tables, table string, fn func(key string, val []byte) error) error {
	var ferr error
	err := t.Range(ctx, table, "", "", func(k string, v []byte) bool {
		ferr = fn(k, v)
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// CheckKey returns ErrKey for a key no backend stores.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKey {
		return fmt.Errorf("%w, not %d", ErrKey, len(key))
	}
	return nil
}

// CheckTable returns ErrTable for a name that cannot be a table's.
func CheckTable(table string) error {
	if table == "" || len(table) > MaxTable {
		return fmt.Errorf("%w: %q", ErrTable, table)
	}
	for _, c := range []byte(table) {
		if c < 'a' || c > 'z' {
			return fmt.Errorf("%w: %q (a table's name is lower-case letters)", ErrTable, table)
		}
	}
	return nil
}

// CheckValue returns ErrTooLarge for a value over MaxValue bytes.
func CheckValue(val []byte) error {
	if len(val) > MaxValue {
		return fmt.Errorf("%w: a value of %d bytes", ErrTooLarge, len(val))
	}
	return nil
}

// Read is what an update saw at one key: for a backend's commit check.
type Read struct {
	Table, Key string
	Present    bool
	Value      []byte // as read (nil when absent)
	Revision   uint64 // the backend's version of the key, when it has one
}

// Write is one change an update makes.
type Write struct {
	Table, Key string
	Delete     bool
	Value      []byte
}

// Txn gathers one update's reads and writes for a backend: it implements
// Tx over a read function, and the backend's commit checks Reads and
// applies Writes. Writes to one key keep the first one's place and the
// last one's content.
type Txn struct {
	Reads  []Read
	Writes []Write

	get    func(table, key string) (Read, error)
	reads  map[tkey]int // index in Reads
	writes map[tkey]int // index in Writes
}

type tkey struct{ table, key string }

// NewTxn returns an empty update whose reads go through get, which
// returns what the backend holds at table/key.
func NewTxn(get func(table, key string) (Read, error)) *Txn {
	return &Txn{get: get, reads: map[tkey]int{}, writes: map[tkey]int{}}
}

func (x *Txn) touch(k tkey) error {
	_, r := x.reads[k]
	_, w := x.writes[k]
	if !r && !w && len(x.reads)+len(x.writes) >= MaxKeys {
		return fmt.Errorf("%w: this update touches more than %d keys", ErrTooLarge, MaxKeys)
	}
	return nil
}

// Get implements Tx.
func (x *Txn) Get(table, key string) ([]byte, error) {
	if err := check(table, key); err != nil {
		return nil, err
	}
	k := tkey{table, key}
	if i, ok := x.writes[k]; ok {
		w := x.Writes[i]
		if w.Delete {
			return nil, nil
		}
		return clone(w.Value), nil
	}
	if i, ok := x.reads[k]; ok {
		return clone(x.Reads[i].Value), nil
	}
	if err := x.touch(k); err != nil {
		return nil, err
	}
	r, err := x.get(table, key)
	if err != nil {
		return nil, err
	}
	r.Table, r.Key = table, key
	if r.Present && r.Value == nil {
		r.Value = []byte{}
	}
	x.reads[k] = len(x.Reads)
	x.Reads = append(x.Reads, r)
	return clone(r.Value), nil
}

// Put implements Tx.
func (x *Txn) Put(table, key string, val []byte) error {
	if err := check(table, key); err != nil {
		return err
	}
	if err := CheckValue(val); err != nil {
		return err
	}
	return x.write(Write{Table: table, Key: key, Value: clone(val)})
}

// Delete implements Tx.
func (x *Txn) Delete(table, key string) error {
	if err := check(table, key); err != nil {
		return err
	}
	return x.write(Write{Table: table, Key: key, Delete: true})
}

func (x *Txn) write(w Write) error {
	if w.Value == nil && !w.Delete {
		w.Value = []byte{}
	}
	k := tkey{w.Table, w.Key}
	if i, ok := x.writes[k]; ok {
		x.Writes[i] = w
		return nil
	}
	if err := x.touch(k); err != nil {
		return err
	}
	x.writes[k] = len(x.Writes)
	x.Writes = append(x.Writes, w)
	return nil
}

// Written reports whether the update writes table/key.
func (x *Txn) Written(table, key string) bool {
	_, ok := x.writes[tkey{table, key}]
	return ok
}

func check(table, key string) error {
	if err := CheckTable(table); err != nil {
		return err
	}
	return CheckKey(key)
}

// clone copies b, keeping nil nil and empty empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
