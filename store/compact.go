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
// newest snapshot (those records are still needed to boot) and never the
// last record (it holds LastRevision).
func (s *Store) Compact(ctx context.Context, keepAfter uint64) error {
	snapRev, _, err := s.LatestSnapshot(ctx)
	if err != nil {
		return err
	}
	limit := min(keepAfter, snapRev, s.last.Load()-1)
	for {
		first := s.first.Load()
		if first == 0 || first > limit {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err // between chunks: what is deleted stays deleted
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
