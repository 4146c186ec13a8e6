package store

import (
	"encoding/binary"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole file, as of one moment, to
// f: a read transaction's view, so commits go on meanwhile, taken after
// the write-ahead file's records are copied in. The copy gets a
// write-ahead id of its own (wal.go), so that put back in the file's
// place it never replays what a crash of this one left. It returns the
// copy's size and the last revision it holds.
func (s *Store) Backup(f *os.File) (size int64, rev uint64, err error) {
	if err := s.checkpoint(); err != nil {
		return 0, 0, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		// As setRange: the log's last record, else the newest snapshot.
		for _, b := range [][]byte{bucketLog, bucketSnapshots} {
			if k, _ := tx.Bucket(b).Cursor().Last(); len(k) == 8 {
				rev = binary.BigEndian.Uint64(k)
				break
			}
		}
		size, err = tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = reid(f.Name())
	}
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil {
			size = fi.Size()
		}
	}
	return size, rev, err
}
