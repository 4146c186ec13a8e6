package store

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

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
	if err := s.checkpoint(); err != nil {
		return sum, err
	}
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
