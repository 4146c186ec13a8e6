package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The save file keeps the past: its log is compacted only back to a
// snapshot it keeps, and it keeps every snapshot the log continues (see
// SaveSnapshot and Compact), so every revision it holds can be rebuilt.
// These methods are what the history (engine.History) reads.

// HistoryWindow returns the revisions whose records the file holds:
// from+1 to last (from == last when it holds none). from is the revision
// before the oldest record: 0 when the log was never compacted.
func (s *Store) HistoryWindow(ctx context.Context) (from, last uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	first, last := s.first.Load(), s.last.Load()
	if first == 0 {
		return last, last, nil
	}
	return first - 1, last, nil
}

// RecordsBetween calls fn for every record from revision from to to, both
// included, in order, checking each one's checksum and the log's
// continuity, and stops at fn's first error, which it returns. The Frame
// given to fn is valid only during the call.
func (s *Store) RecordsBetween(ctx context.Context, from, to uint64, fn func(Record) error) error {
	if from > to {
		return nil
	}
	err := s.Records(ctx, from-min(from, 1), func(r Record) error {
		if r.Revision > to {
			return ErrStop
		}
		return fn(r)
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// SnapshotAtOrBefore is ReadSnapshotBefore with a context.
func (s *Store) SnapshotAtOrBefore(ctx context.Context, rev uint64, fn func(at uint64, frame []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.ReadSnapshotBefore(rev, fn)
}

// RevisionAt returns the newest revision whose record was made at or
// before at (unix nanoseconds), by a binary search over the log: the
// engine's clock rises with the revision (a step back of the system clock
// at worst misplaces a moment by that step). ok is false when the oldest
// record was made after at, or the log holds none.
func (s *Store) RevisionAt(ctx context.Context, at int64) (rev uint64, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if err := s.checkpoint(); err != nil {
		return 0, false, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		timeOf := func(rev uint64) (int64, error) {
			v := b.Get(revKey(rev))
			if v == nil {
				return 0, fmt.Errorf("log record %d missing: %w", rev, ErrDamaged)
			}
			r, err := decodeRecord(rev, v)
			return r.Time, err
		}
		// The bounds of this transaction's log, not the store's counters:
		// a checkpoint or a compaction committed between the two moves
		// them past what this view holds.
		c := b.Cursor()
		fk, _ := c.First()
		lk, _ := c.Last()
		switch {
		case fk == nil:
			return nil // no records
		case len(fk) != 8:
			return fmt.Errorf("log key of %d bytes: %w", len(fk), ErrDamaged)
		case len(lk) != 8:
			return fmt.Errorf("log key of %d bytes: %w", len(lk), ErrDamaged)
		}
		first, last := binary.BigEndian.Uint64(fk), binary.BigEndian.Uint64(lk)
		t, err := timeOf(first)
		if err != nil || t > at {
			return err
		}
		lo, hi := first, last
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			t, err := timeOf(mid)
			if err != nil {
				return err
			}
			if t <= at {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		rev, ok = lo, true
		return nil
	})
	return rev, ok, err
}
