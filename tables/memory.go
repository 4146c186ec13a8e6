package tables

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Memory holds tables in memory: durable only as long as the process, for
// tests and for tools that need no file. Every handle shares one set of
// tables, so two handles are as two nodes of one deployment.
type Memory struct {
	mu     sync.Mutex
	tables map[string]map[string][]byte // guarded by mu
}

// NewMemory returns empty tables.
func NewMemory() *Memory { return &Memory{tables: map[string]map[string][]byte{}} }

var _ Tables = (*Memory)(nil)

func (m *Memory) get(table, key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.tables[table][key]
	return clone(v), ok
}

// Get implements Tables.
func (m *Memory) Get(ctx context.Context, table, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := check(table, key); err != nil {
		return nil, err
	}
	v, _ := m.get(table, key)
	return v, nil
}

// Range implements Tables. fn runs without the tables locked, on the
// table as it was when Range was called.
func (m *Memory) Range(ctx context.Context, table, prefix, after string, fn func(key string, val []byte) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckTable(table); err != nil {
		return err
	}
	type kv struct {
		k string
		v []byte
	}
	var page []kv
	start := prefix + after
	m.mu.Lock()
	for k, v := range m.tables[table] {
		if strings.HasPrefix(k, prefix) && (k > start || after == "" && k == start) {
			page = append(page, kv{k, clone(v)})
		}
	}
	m.mu.Unlock()
	sort.Slice(page, func(i, j int) bool { return page[i].k < page[j].k })
	for _, e := range page {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(e.k, e.v) {
			return nil
		}
	}
	return nil
}

// Put implements Tables.
func (m *Memory) Put(ctx context.Context, table, key string, val []byte) error {
	return m.Update(ctx, func(tx Tx) error { return tx.Put(table, key, val) })
}

// Delete implements Tables.
func (m *Memory) Delete(ctx context.Context, table, key string) error {
	return m.Update(ctx, func(tx Tx) error { return tx.Delete(table, key) })
}

// Update implements Tables: fn runs unlocked, then the commit checks each
// read against the tables and applies the writes, under the lock.
func (m *Memory) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x := NewTxn(func(table, key string) (Read, error) {
		if err := ctx.Err(); err != nil {
			return Read{}, err
		}
		v, ok := m.get(table, key)
		return Read{Present: ok, Value: v}, nil
	})
	if err := fn(x); err != nil {
		return err
	}
	if len(x.Writes) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range x.Reads {
		v, ok := m.tables[r.Table][r.Key]
		if ok != r.Present || !bytes.Equal(v, r.Value) {
			return fmt.Errorf("%s/%s: %w", r.Table, r.Key, ErrConflict)
		}
	}
	for _, w := range x.Writes {
		t := m.tables[w.Table]
		if w.Delete {
			delete(t, w.Key)
			continue
		}
		if t == nil {
			t = map[string][]byte{}
			m.tables[w.Table] = t
		}
		t[w.Key] = w.Value
	}
	return nil
}
