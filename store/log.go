package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"txxt/worldlog"
)

// Record is one log entry (see worldlog.Record).
type Record = worldlog.Record

// record value: crc 4 · time 8 · actor 16 · client 16 · request 4 · frame
const recordHeader = 4 + 8 + 16 + 16 + 4

// Append makes recs durable: in the write-ahead file, one write and one
// fdatasync (see wal.go), or with NoWAL in one bbolt transaction (an
// fsync of data and one of meta). The records must continue the log: the
// first at LastRevision+1, each the previous plus one. After the write it
// checks that the files are still at their paths (CheckFile): a write to
// a file that was deleted or replaced is durable only until the process
// exits, so it is an error too. On error LastRevision is unchanged and
// the records must be taken as not written (they may have reached the
// file, or a file no longer at the path).
func (s *Store) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err // before the commit: once bbolt starts one, it finishes it
	}
	if !s.opts.NoWAL {
		s.walMu.Lock()
		defer s.walMu.Unlock()
		if s.closed {
			return fmt.Errorf("append to %s: %w", s.path, berrors.ErrDatabaseNotOpen)
		}
	}
	last := s.last.Load()
	for i := range recs {
		if recs[i].Revision != last+1+uint64(i) {
			return fmt.Errorf("append revision %d after %d: %w", recs[i].Revision, last+uint64(i), ErrGap)
		}
	}
	var err error
	var own []byte
	if s.opts.NoWAL {
		s.mu.RLock()
		err = s.db.Update(func(tx *bolt.Tx) error { return putRecords(tx, recs) })
		if err == nil {
			err = s.checkFile() // as below, in the same hold of mu: no Rewrite between
		}
		s.mu.RUnlock()
	} else {
		// Not under cpMu: a checkpoint holds it while it commits, off
		// the acknowledgement's path.
		if err = s.checkpointErr(); err == nil {
			own, err = s.writeWAL(recs)
		}
		if err == nil {
			// After the write, not before: a file deleted before the
			// write returned is found here, before anyone is told it is
			// durable. (walMu, held, keeps Rewrite out.)
			s.mu.RLock()
			err = s.checkFile()
			s.mu.RUnlock()
		}
	}
	if err != nil {
		return fmt.Errorf("append revisions %d to %d: %w", recs[0].Revision, recs[len(recs)-1].Revision, err)
	}
	s.first.CompareAndSwap(0, recs[0].Revision)
	if s.opts.NoWAL {
		s.bolted.Store(recs[len(recs)-1].Revision)
	} else {
		s.addTail(recs, own)
	}
	s.last.Store(recs[len(recs)-1].Revision)
	return nil
}

// putRecords writes recs into the log bucket of tx.
func putRecords(tx *bolt.Tx, recs []Record) error {
	b := tx.Bucket(bucketLog)
	b.FillPercent = 1 // keys only grow: pack pages full
	for i := range recs {
		if err := b.Put(revKey(recs[i].Revision), encodeRecord(&recs[i])); err != nil {
			return err
		}
	}
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
func (s *Store) Records(ctx context.Context, after uint64, fn func(Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The tail first, then the file: a checkpoint between the two moves
	// records from the one to the other, never out of both.
	tail := s.tailAfter(after)
	seen := after
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		k, v := c.Seek(revKey(after + 1))
		return eachRecord(c, k, v, func(r Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			seen = r.Revision
			return fn(r)
		})
	})
	if err != nil {
		return err
	}
	for _, r := range tail {
		if r.Revision <= seen {
			continue
		}
		if seen != after && r.Revision != seen+1 {
			return fmt.Errorf("log jumps from revision %d to %d: %w", seen, r.Revision, ErrDamaged)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		seen = r.Revision
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Head is LastRevision, as worldlog.Log has it: the file's is always at hand.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.last.Load(), nil
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

// RecordsBefore calls fn for every record with a revision before before,
// newest first, checking each one's checksum, until fn returns an error
// (returned) or ErrStop (which ends the walk with nil). The Frame given
// to fn is valid only during the call.
func (s *Store) RecordsBefore(before uint64, fn func(Record) error) error {
	// The tail first (its newest), then the file, as Records.
	tail := s.tailAfter(0)
	for len(tail) > 0 && tail[len(tail)-1].Revision >= before {
		tail = tail[:len(tail)-1]
	}
	for i := len(tail) - 1; i >= 0; i-- {
		if err := fn(tail[i]); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	if len(tail) > 0 {
		before = tail[0].Revision
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		var k, v []byte
		if k, _ = c.Seek(revKey(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		want := uint64(0)
		if len(tail) > 0 {
			want = before - 1
		}
		for ; k != nil; k, v = c.Prev() {
			if len(k) != 8 {
				return fmt.Errorf("log key of %d bytes: %w", len(k), ErrDamaged)
			}
			rev := binary.BigEndian.Uint64(k)
			if want != 0 && rev != want {
				return fmt.Errorf("log jumps from revision %d to %d: %w", rev, want+1, ErrDamaged)
			}
			want = rev - 1
			r, err := decodeRecord(rev, v)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// ErrStop ends a walk of RecordsBefore early, without an error.
var ErrStop = errors.New("stop")

// Record returns the log record at rev (ok false when the log does not
// hold it); its Frame is a copy.
func (s *Store) Record(rev uint64) (r Record, ok bool, err error) {
	tail := s.tailAfter(rev - min(rev, 1))
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLog).Get(revKey(rev))
		if v == nil {
			return nil
		}
		r, err = decodeRecord(rev, v)
		r.Frame = bytes.Clone(r.Frame)
		ok = err == nil
		return err
	})
	if err == nil && !ok && len(tail) > 0 && tail[0].Revision == rev {
		r, ok = tail[0], true
		r.Frame = bytes.Clone(r.Frame)
	}
	return r, ok, err
}
