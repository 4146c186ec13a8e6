package store

import (
	"encoding/binary"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole file, as of one moment, to
// w: a read transaction's view, so commits go on meanwhile. It returns the
// copy's size and the last revision it holds.
func (s *Store) Backup(w io.Writer) (size int64, rev uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		// As setRange: the log's last record, else the newest snapshot.
		for _, b := range [][]byte{bucketLog, bucketSnapshots} {
			if k, _ := tx.Bucket(b).Cursor().Last(); len(k) == 8 {
				rev = binary.BigEndian.Uint64(k)
				break
			}
		}
		size, err = tx.WriteTo(w)
		return err
	})
	return size, rev, err
}
