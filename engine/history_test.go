package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"txxt/world"
)

// histTask is the id of the i-th task the history tests create.
func histTask(i int) world.ID { return world.ID{0xAA, byte(i)} }

// playHistory sends a fixed pseudo-random sequence of commands and returns
// the world's state after each revision (index: the revision).
func playHistory(t *testing.T, e *Engine, tasks, commands int) map[uint64]world.State {
	t.Helper()
	states := map[uint64]world.State{}
	keep := func() {
		if err := e.Read(ctxWait(t), func(w *world.World) { states[w.Revision()] = w.State() }); err != nil {
			t.Fatal(err)
		}
	}
	createService(t, e)
	keep()
	for i := range tasks {
		c := createTask(fmt.Sprint("t", i))
		c.Task = histTask(i)
		mustDo(t, e, c)
		keep()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range commands {
		id := histTask(rng.IntN(tasks))
		var c world.Command
		switch rng.IntN(3) {
		case 0:
			c = world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20000 + uint16(rng.IntN(7)), Start: uint16(rng.IntN(20)) * 30, Duration: 60}}
		case 1:
			c = world.Command{Kind: world.CmdRenameTask, Task: id, Text: fmt.Sprint("renamed ", rng.IntN(1000))}
		default:
			c = world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.Priority(rng.IntN(4))}
		}
		if res := do(t, e, c); res.Err == nil {
			keep()
		}
	}
	return states
}

// The plan at a revision, rebuilt from a snapshot and the log, is the
// world as it stood then; before the kept log it is refused, saying where
// the history starts; and the same holds after a restart.
func TestPastEqualsTheWorldThen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "save")
	st := openStore(t, path)
	e := openEngine(t, st, Options{SnapshotEvery: 10, KeepLog: 25})
	states := playHistory(t, e, 10, 90)
	if err := e.Close(); err != nil { // the final snapshot, and compaction
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		h := NewHistory(st)
		kept, err := h.Kept()
		if err != nil {
			t.Fatal(err)
		}
		if kept.Complete || kept.From == 0 || kept.Time.IsZero() {
			t.Fatalf("the log was compacted, but Kept says %+v", kept)
		}
		for rev, s := range states {
			w, err := h.Past(rev)
			if rev < kept.From {
				var werr *world.Error
				if !errors.As(err, &werr) || werr.Code != world.CodeNotFound {
					t.Fatalf("Past(%d), before the kept history at %d: %v", rev, kept.From, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Past(%d): %v", rev, err)
			}
			want, _ := world.FromState(s)
			if !world.Equal(w, want) {
				t.Fatalf("Past(%d) differs from the world at that revision", rev)
			}
		}
		if _, err := h.Past(st.LastRevision() + 1); err == nil {
			t.Fatal("Past of a revision to come answered")
		}
	}
	t.Run("running", check)
	st.Close()
	st = openStore(t, path)
	e = openEngine(t, st, Options{SnapshotEvery: 10, KeepLog: 25})
	e.Close()
	t.Run("after a restart", check)
}

// A task's history lists its changes newest first, each with what the
// task was before; paged; after compaction only what the log kept.
func TestTaskChanges(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "save"))
	e := openEngine(t, st, Options{})
	createService(t, e)
	c := createTask("first")
	c.Task = histTask(1)
	mustDo(t, e, c)
	mustDo(t, e, world.Command{Kind: world.CmdMoveTask, Task: histTask(1), Slot: world.Slot{Date: 20001, Start: 840, Duration: 30}})
	c = createTask("other")
	c.Task = histTask(2)
	mustDo(t, e, c)
	mustDo(t, e, world.Command{Kind: world.CmdRenameTask, Task: histTask(1), Text: "second"})
	h := NewHistory(st)
	got, next, err := h.TaskChanges(histTask(1), 0, 10)
	if err != nil || next != 0 || len(got) != 3 {
		t.Fatalf("%d changes, next %d, %v", len(got), next, err)
	}
	if got[0].Event.Kind != world.EvTaskRenamed || got[0].Before.Title != "first" || got[0].Known&FieldTitle == 0 {
		t.Errorf("newest: %+v", got[0])
	}
	if got[1].Event.Kind != world.EvTaskMoved || got[1].Before.Slot != (world.Slot{Date: 20000, Start: 540, Duration: 30}) || got[1].Event.Task.Slot.Start != 840 {
		t.Errorf("the move: %+v", got[1])
	}
	if got[2].Event.Kind != world.EvTaskCreated || got[2].Known != 0 || got[2].Revision != 2 {
		t.Errorf("the creation: %+v", got[2])
	}
	page, next, err := h.TaskChanges(histTask(1), 0, 2)
	if err != nil || len(page) != 2 || next != got[1].Revision {
		t.Fatalf("first page: %d, next %d, %v", len(page), next, err)
	}
	page, next, _ = h.TaskChanges(histTask(1), next, 2)
	if len(page) != 1 || next != 0 || page[0].Revision != 2 {
		t.Fatalf("second page: %+v, next %d", page, next)
	}

	all, next, err := h.Changes(0, 2, 1000, func(Change) bool { return true })
	if err != nil || len(all) != 2 || all[0].Revision != 5 || next != 4 {
		t.Fatalf("activity page: %d, next %d, %v", len(all), next, err)
	}
}
