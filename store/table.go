package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"txxt/tables"
)

// The Store is tables.Tables too: its tables are buckets of the save
// file, in the same transactions as nothing else (the log's commits are
// the engine's). An Update reads each key in a read transaction of its
// own while fn runs (so fn holds no lock and may call the store), then
// checks every read and applies every write in one write transaction:
// bbolt has one writer at a time, so that transaction sees exactly what
// another writer committed before it.
var _ tables.Tables = (*Store)(nil)

// bucketOf returns the bucket name of a table the file holds, or ErrTable.
func bucketOf(table string) ([]byte, error) {
	for _, n := range tableNames {
		if n == table {
			return []byte(table), nil
		}
	}
	for _, n := range laterTables {
		if n == table {
			return []byte(table), nil
		}
	}
	if err := tables.CheckTable(table); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %q (a save file holds %s)", tables.ErrTable, table,
		strings.Join(append(append([]string(nil), tableNames...), laterTables...), ", "))
}

func checkTableKey(table, key string) ([]byte, error) {
	b, err := bucketOf(table)
	if err != nil {
		return nil, err
	}
	return b, tables.CheckKey(key)
}

// Get implements tables.Tables.
func (s *Store) Get(ctx context.Context, table, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := checkTableKey(table, key)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(name); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte{}, v...)
			}
		}
		return nil
	})
	return out, err
}

// Range implements tables.Tables, in one read transaction: it seeks to
// where it starts, so a page of a long table costs the page, not the
// table. fn must not call the store.
func (s *Store) Range(ctx context.Context, table, prefix, after string, fn func(key string, val []byte) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := bucketOf(table)
	if err != nil {
		return err
	}
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		start := []byte(prefix + after)
		k, v := c.Seek(start)
		if after != "" && k != nil && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			if !fn(string(k), v) {
				return nil
			}
		}
		return nil
	})
}

// Put implements tables.Tables.
func (s *Store) Put(ctx context.Context, table, key string, val []byte) error {
	return s.Update(ctx, func(tx tables.Tx) error { return tx.Put(table, key, val) })
}

// Delete implements tables.Tables.
func (s *Store) Delete(ctx context.Context, table, key string) error {
	return s.Update(ctx, func(tx tables.Tx) error { return tx.Delete(table, key) })
}

// Update implements tables.Tables: one durable transaction for the
// writes, which checks the reads first.
func (s *Store) Update(ctx context.Context, fn func(tables.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x := tables.NewTxn(func(table, key string) (tables.Read, error) {
		if _, err := bucketOf(table); err != nil {
			return tables.Read{}, err
		}
		v, err := s.Get(ctx, table, key)
		return tables.Read{Present: v != nil, Value: v}, err
	})
	if err := fn(x); err != nil {
		return err
	}
	if len(x.Writes) == 0 {
		return nil
	}
	for _, w := range x.Writes {
		if _, err := bucketOf(w.Table); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		for _, r := range x.Reads {
			var v []byte
			if b := tx.Bucket([]byte(r.Table)); b != nil {
				v = b.Get([]byte(r.Key))
			}
			if (v != nil) != r.Present || !bytes.Equal(v, r.Value) {
				return fmt.Errorf("%s/%s: %w", r.Table, r.Key, tables.ErrConflict)
			}
		}
		for _, w := range x.Writes {
			if w.Delete {
				if b := tx.Bucket([]byte(w.Table)); b != nil {
					if err := b.Delete([]byte(w.Key)); err != nil {
						return err
					}
				}
				continue
			}
			b, err := tx.CreateBucketIfNotExists([]byte(w.Table))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(w.Key), w.Value); err != nil {
				return err
			}
		}
		return nil
	})
}
