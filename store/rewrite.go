package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Rewrite replaces the save file with a fresh one that holds snapshot as the
// world at rev, tail as its log (the newest records, ending at rev; may be
// empty), and the server's tables. It is how a store whose write failed is
// trusted again: after a failed fsync, Linux may have marked unwritten
// pages clean while keeping their new content, so what the old file reads
// back is not what is on disk. It is also how a store whose file was
// deleted or replaced under it (CheckFile) gets a file at its path again.
// The world (snapshot) comes from the caller's memory, not from the file;
// the tables are copied as the open file reads them, since they hold what
// the server last wrote.
//
// The fresh file is written beside the old one, committed (fsynced), and
// renamed over it; the directory is fsynced, and only then does the store
// switch to it. Another file found at the path (not the store's own) is
// never destroyed: it is moved aside to PATH.replaced-TIME first, and when
// another process holds it locked (a second server started on the path),
// Rewrite leaves everything as it is and says so. On error the store is
// unchanged and the old file in place, unless the rename was done and
// reopening failed: then the error says so and a later Rewrite starts
// again.
func (s *Store) Rewrite(ctx context.Context, rev uint64, snapshot []byte, tail []Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range tail {
		if want := rev - uint64(len(tail)-1-i); tail[i].Revision != want {
			return fmt.Errorf("fresh save file: tail record %d where %d belongs: %w", tail[i].Revision, want, ErrGap)
		}
	}
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	foreign, err := s.lockForeign()
	if err != nil {
		return err
	}
	if foreign != nil {
		defer foreign.Close() // holds its lock until the fresh file is in place
	}
	tmp := s.path + ".fresh"
	if err := s.writeFresh(tmp, rev, snapshot, tail); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write a fresh save file: %w", err)
	}
	s.step("fresh")
	if foreign != nil {
		aside := asidePath(s.path, "replaced")
		if err := os.Rename(s.path, aside); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("move the file found at %s aside: %w", s.path, err)
		}
		s.opts.Logger.Warn("moved the file found in the save file's place aside", "path", s.path, "to", aside)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put the fresh save file in place: %w", err)
	}
	s.step("renamed")
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("sync the save file's directory: %w", err)
	}
	db, file, err := openBolt(s.path, s.opts)
	if err != nil {
		return fmt.Errorf("open the fresh save file: %w", err)
	}
	old := s.db
	s.db, s.file = db, file
	old.Close()
	first := uint64(0) // never 0 in passing, to a reader of FirstRevision
	if len(tail) > 0 {
		first = tail[0].Revision
	}
	s.first.Store(first)
	s.last.Store(rev)
	s.bolted.Store(rev)
	s.step("switched")
	s.dropWAL()
	return nil
}

// dropWAL forgets the write-ahead file after Rewrite: everything it held
// that counts is in the fresh file, which has an id of its own, so the
// file is removed (or, if another file is in its place, moved aside); the
// next Append makes a new one. walMu, cpMu and mu held.
func (s *Store) dropWAL() {
	s.db.View(func(tx *bolt.Tx) error {
		copy(s.id[:], tx.Bucket(bucketMeta).Get([]byte("walid")))
		return nil
	})
	s.tailMu.Lock()
	s.tail, s.tailBytes = nil, 0
	s.tailMu.Unlock()
	s.cpErr.Store(nil)
	if s.wal == nil {
		return
	}
	path := WALPath(s.path)
	if fi, err := os.Stat(path); err == nil && !os.SameFile(fi, *s.walInfo.Load()) {
		aside := asidePath(path, "replaced")
		if os.Rename(path, aside) == nil {
			s.opts.Logger.Warn("moved the file found in the write-ahead file's place aside", "path", path, "to", aside)
		}
	} else {
		os.Remove(path) // if it stays (a failing disk), Open finds its id stale
	}
	syncDir(filepath.Dir(path))
	s.step("dropped")
	s.wal.f.Close()
	s.wal = nil
	s.walInfo.Store(nil)
}

// lockForeign returns the file at the store's path, opened and locked,
// when it is another file than the store's own (nil when it is the
// store's, or when there is none). It refuses one that another process
// holds locked: bbolt locks the file it has open, so that is a server
// running on it. mu held.
func (s *Store) lockForeign() (*os.File, error) {
	err := s.checkSaveFile()
	var gone *FileGoneError
	switch {
	case err == nil:
		return nil, nil
	case !errors.As(err, &gone):
		return nil, err
	case !gone.Replaced:
		return nil, nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w, and it cannot be opened: %w", gone, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w, and another process holds that file locked (is a second txxt server running on it?), so it is left as it is: %w", gone, err)
	}
	return f, nil
}

func (s *Store) writeFresh(path string, rev uint64, snapshot []byte, tail []Record) error {
	os.Remove(path) // a leftover of an earlier attempt
	db, _, err := openBolt(path, s.opts)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSnapshots).Put(revKey(rev), snapshotValue(snapshot)); err != nil {
			return err
		}
		if err := putRecords(tx, tail); err != nil {
			return err
		}
		return s.db.View(func(old *bolt.Tx) error {
			for _, name := range append(tableNames, laterTables...) {
				to, from := tx.Bucket([]byte(name)), old.Bucket([]byte(name))
				if from == nil {
					continue // a later table the old file never had
				}
				// bbolt keeps what Put is given until the commit: copy it
				// out of the old file's memory map.
				err := from.ForEach(func(k, v []byte) error { return to.Put(bytes.Clone(k), bytes.Clone(v)) })
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// asidePath is where a file found at path is moved aside to, never
// destroyed: PATH.WHY-TIME.
func asidePath(path, why string) string {
	return path + "." + why + "-" + time.Now().UTC().Format("20060102T150405.000000000Z")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
