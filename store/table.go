package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Table is one of the server's key-value tables. Each call is its own
// durable transaction; Tables runs several in one.
type Table struct {
	s    *Store
	name []byte
}

func tableName(name string) []byte {
	for _, n := range tableNames {
		if n == name {
			return []byte(name)
		}
	}
	for _, n := range laterTables {
		if n == name {
			return []byte(name)
		}
	}
	panic("store: no table " + name)
}

// Table returns the named table: "users", "sessions", "settings",
// "profiles", "teams", "members", "invites", "deployment" or "feeds". Any other
// name panics: the set is fixed by the file format.
func (s *Store) Table(name string) *Table { return &Table{s: s, name: tableName(name)} }

// Get returns a copy of the value at key, or nil when there is none.
func (t *Table) Get(key string) ([]byte, error) {
	var out []byte
	err := t.s.view(func(tx *bolt.Tx) error {
		out = TableTx{tx}.Get(string(t.name), key)
		return nil
	})
	return out, err
}

// Put stores val at key.
func (t *Table) Put(key string, val []byte) error {
	return t.s.update(func(tx *bolt.Tx) error { return TableTx{tx}.Put(string(t.name), key, val) })
}

// Delete removes key; a missing key is not an error.
func (t *Table) Delete(key string) error {
	return t.s.update(func(tx *bolt.Tx) error { return TableTx{tx}.Delete(string(t.name), key) })
}

// ForEach calls fn for every key in order; val is valid only during fn,
// and fn must not call the store.
func (t *Table) ForEach(fn func(key string, val []byte) error) error {
	return t.s.view(func(tx *bolt.Tx) error { return TableTx{tx}.ForEach(string(t.name), fn) })
}

// TableTx is one transaction over the tables, for changes that must land
// together (an invitation spent and the account it made).
type TableTx struct{ tx *bolt.Tx }

// Tables runs fn in one durable transaction: every Put and Delete of fn
// lands, or none does (fn returned an error, or the commit failed).
func (s *Store) Tables(fn func(TableTx) error) error {
	return s.update(func(tx *bolt.Tx) error { return fn(TableTx{tx}) })
}

// Get returns a copy of the value at key in table, or nil.
func (t TableTx) Get(table, key string) []byte {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return nil
	}
	return bytes.Clone(b.Get([]byte(key)))
}

// Put stores val at key in table.
func (t TableTx) Put(table, key string, val []byte) error {
	b, err := t.tx.CreateBucketIfNotExists(tableName(table))
	if err != nil {
		return err
	}
	return b.Put([]byte(key), val)
}

// Delete removes key from table; a missing key is not an error.
func (t TableTx) Delete(table, key string) error {
	if b := t.tx.Bucket(tableName(table)); b != nil {
		return b.Delete([]byte(key))
	}
	return nil
}

// ForEach calls fn for every key of table in order; val is valid only
// during fn.
func (t TableTx) ForEach(table string, fn func(key string, val []byte) error) error {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// Range calls fn, in order, for each key of table that starts with prefix
// and comes after prefix+after (after empty: from the first), until fn
// returns false. It seeks to where it starts, so a page of a long table
// costs the page, not the table. val is valid only during fn.
func (t TableTx) Range(table, prefix, after string, fn func(key string, val []byte) bool) {
	b := t.tx.Bucket(tableName(table))
	if b == nil {
		return
	}
	c := b.Cursor()
	start := []byte(prefix + after)
	k, v := c.Seek(start)
	if after != "" && k != nil && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
		if !fn(string(k), v) {
			return
		}
	}
}

// Range is TableTx.Range in a read transaction of its own.
func (t *Table) Range(prefix, after string, fn func(key string, val []byte) bool) error {
	return t.s.view(func(tx *bolt.Tx) error { TableTx{tx}.Range(string(t.name), prefix, after, fn); return nil })
}
