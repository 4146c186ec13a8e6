package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// SaveSnapshot stores the encoded world at rev, with the write-ahead
// file's records (a checkpoint). It keeps the two newest
// snapshots (the older one is a fallback, should the newest prove damaged)
// and every snapshot the log continues (at or after FirstRevision-1):
// those are what the plan as it stood at an earlier revision is rebuilt
// from (see SnapshotBefore), and what Compact cuts the log back to.
func (s *Store) SaveSnapshot(ctx context.Context, rev uint64, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v := snapshotValue(frame)
	// In the commit that copies the tail in: the save file's log always
	// reaches its newest snapshot.
	err := s.checkpointWith(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if err := b.Put(revKey(rev), v); err != nil {
			return err
		}
		return pruneSnapshots(b, s.first.Load())
	})
	if err != nil {
		return fmt.Errorf("save snapshot at revision %d: %w", rev, err)
	}
	return nil
}

// pruneSnapshots deletes the snapshots older than the two newest that the
// log, starting at first (0: empty), does not continue.
func pruneSnapshots(b *bolt.Bucket, first uint64) error {
	var old [][]byte
	c := b.Cursor()
	n := 0
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		n++
		if n > 2 && (first == 0 || binary.BigEndian.Uint64(k)+1 < first) {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// SnapshotBefore returns the newest snapshot at or before rev (0, nil, nil
// when there is none), checksum verified; the frame is a copy.
func (s *Store) SnapshotBefore(rev uint64) (at uint64, frame []byte, err error) {
	err = s.ReadSnapshotBefore(rev, func(r uint64, f []byte) error {
		at, frame = r, bytes.Clone(f)
		return nil
	})
	return at, frame, err
}

// ReadSnapshotBefore calls fn with the newest snapshot at or before rev,
// checksum verified, and returns fn's error; fn is not called when there
// is none. The frame is valid only during the call (it points into the
// file's memory map): a reader of a few tasks of a big snapshot copies
// nothing.
func (s *Store) ReadSnapshotBefore(rev uint64, fn func(at uint64, frame []byte) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSnapshots).Cursor()
		var k, v []byte
		if k, _ = c.Seek(revKey(rev + 1)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil {
			return nil
		}
		at := binary.BigEndian.Uint64(k)
		f, err := snapshotFrame(at, v)
		if err != nil {
			return err
		}
		return fn(at, f)
	})
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
func (s *Store) LatestSnapshot(ctx context.Context) (rev uint64, frame []byte, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
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
