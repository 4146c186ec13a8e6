package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	build := func(name string, opts Options, n int) *store.Store {
		st := openStore(t, filepath.Join(dir, name))
		e := openEngine(t, st, opts)
		createService(t, e)
		for i := range n {
			mustDo(t, e, createTask(fmt.Sprint("t", i)))
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("whole log", func(t *testing.T) {
		st := build("whole", Options{SnapshotEvery: 10}, 30)
		v, err := Verify(st)
		if err != nil {
			t.Fatal(err)
		}
		if v.From != 0 || v.Replayed != 31 || v.Revision != 31 || v.Tasks != 30 || len(v.Matched) != 4 { // the log continues all four snapshots: all stay
			t.Fatalf("%+v", v)
		}
	})
	t.Run("compacted log", func(t *testing.T) {
		st := build("compacted", Options{SnapshotEvery: 10, KeepLog: 5}, 60)
		v, err := Verify(st)
		if err != nil {
			t.Fatal(err)
		}
		if v.From == 0 || v.FirstRevision <= 1 || v.Revision != 61 || v.Tasks != 60 {
			t.Fatalf("%+v", v)
		}
	})
	t.Run("fresh file", func(t *testing.T) {
		st := build("fresh", Options{}, 3)
		e := openEngine(t, st, Options{})
		snap, err := e.Snapshot(ctxWait(t), true)
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
		if err := st.Rewrite(context.Background(), snap.Revision, snap.Frame, nil); err != nil {
			t.Fatal(err)
		}
		v, err := Verify(st)
		if err != nil || v.From != 4 || v.Revision != 4 || v.Tasks != 3 {
			t.Fatalf("%+v %v", v, err)
		}
	})
	t.Run("snapshot differs from the log", func(t *testing.T) {
		st := build("differs", Options{}, 5)
		other := world.New()
		other.Apply(world.Command{Kind: world.CmdSetGrid, Grid: 30})
		s := other.State()
		s.Revision = 3
		if err := st.SaveSnapshot(context.Background(), 3, wire.AppendSnapshot(nil, &s, true)); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(st)
		if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "differs from the snapshot") {
			t.Fatalf("Verify: %v", err)
		}
	})
}
