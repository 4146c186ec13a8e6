package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// compactChunk bounds one compaction transaction, so deleting a long log
// does not hold the writer lock (and grow a transaction) without bound.
const compactChunk = 10000

// Compact deletes the log's records up to keepAfter, but never past the
// newest snapshot (those records are still needed to boot), never the
// last record (it holds LastRevision), and only up to a snapshot: the
// kept log always continues a kept snapshot, so every revision it holds
// can be rebuilt (SnapshotBefore, then the log). The snapshots the log no
// longer continues go with it, but for the two newest.
func (s *Store) Compact(ctx context.Context, keepAfter uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Only the save file's own records: the tail goes into it first.
	if err := s.checkpoint(); err != nil {
		return err
	}
	snapRev, _, err := s.SnapshotBefore(min(keepAfter, s.bolted.Load()-1))
	if err != nil {
		return err
	}
	limit := snapRev
	for {
		first := s.first.Load()
		if first == 0 || first > limit {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err // between chunks: what is deleted stays deleted
		}
		end := min(limit, first+compactChunk-1)
		// Before the records go, not after: a reader that takes the log
		// to start at FirstRevision (RevisionAt, the history's window)
		// never looks for one deleted under it.
		s.first.Store(end + 1)
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
			s.first.Store(first)
			return fmt.Errorf("compact log to revision %d: %w", end, err)
		}
		if end == limit {
			err := s.update(func(tx *bolt.Tx) error { return pruneSnapshots(tx.Bucket(bucketSnapshots), end+1) })
			if err != nil {
				return fmt.Errorf("compact snapshots before revision %d: %w", end, err)
			}
		}
	}
}
