package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"txxt/store"
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
		kept, err := h.Kept(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if kept.Complete || kept.From == 0 || kept.Time.IsZero() {
			t.Fatalf("the log was compacted, but Kept says %+v", kept)
		}
		for rev, s := range states {
			w, err := h.Past(context.Background(), rev)
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
		if _, err := h.Past(context.Background(), st.LastRevision()+1); err == nil {
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
	got, next, err := h.TaskChanges(context.Background(), histTask(1), 0, 10)
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
	page, next, err := h.TaskChanges(context.Background(), histTask(1), 0, 2)
	if err != nil || len(page) != 2 || next != got[1].Revision {
		t.Fatalf("first page: %d, next %d, %v", len(page), next, err)
	}
	page, next, _ = h.TaskChanges(context.Background(), histTask(1), next, 2)
	if len(page) != 1 || next != 0 || page[0].Revision != 2 {
		t.Fatalf("second page: %+v, next %d", page, next)
	}

	all, next, err := h.Changes(context.Background(), 0, 2, 1000, func(Change) bool { return true })
	if err != nil || len(all) != 2 || all[0].Revision != 5 || next != 4 {
		t.Fatalf("activity page: %d, next %d, %v", len(all), next, err)
	}
}

// BenchmarkPastView measures the plan as it stood 50,000 events back in a
// 100,000-task world, with the engine's defaults (a snapshot every 10,000
// revisions, all those the log continues kept): one snapshot decoded and
// at most 10,000 records replayed.
func BenchmarkPastView(b *testing.B) {
	path := filepath.Join(b.TempDir(), "save")
	buildSaveFile(b, path, 100000, 0)
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := Open(st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	submitAll(b, e, 60000, func(i int) world.Command {
		return world.Command{Kind: world.CmdMoveTask, Task: seqID(uint32(i%100000 + 2)), Slot: world.Slot{Date: 20100 + uint16(i%7), Start: 600, Duration: 60}}
	})
	e.Close()
	h := NewHistory(st)
	rev := st.LastRevision() - 50000
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		w, err := h.Past(context.Background(), rev)
		if err != nil {
			b.Fatal(err)
		}
		if w.Revision() != rev {
			b.Fatalf("past at %d, want %d", w.Revision(), rev)
		}
	}
	// The CPU it took, the garbage collector's included: on a shared
	// machine the wall clock says more about the neighbours.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkLogDisk measures what the kept log costs on disk: the save
// file's growth per 100,000 events (moves; a creation's record is about
// 160 bytes longer), and a snapshot's size per 1,000 tasks, from which the
// snapshots the log continues are counted (KeepLog/SnapshotEvery + 2).
func BenchmarkLogDisk(b *testing.B) {
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "save")
		buildSaveFile(b, path, 5000, 0)
		size := func() int64 {
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			return fi.Size()
		}
		st, err := store.Open(path, store.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		_, frame, _ := st.LatestSnapshot(context.Background())
		before := size()
		e, err := Open(st, Options{SnapshotEvery: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		submitAll(b, e, 100000, func(i int) world.Command {
			return world.Command{Kind: world.CmdMoveTask, Task: seqID(uint32(i%4999 + 2)), Slot: world.Slot{Date: 20100 + uint16(i%7), Start: uint16(i%20) * 30, Duration: 60}}
		})
		e.Read(context.Background(), func(w *world.World) { e.snapRev = w.Revision() }) // no final snapshot
		e.Close()
		st.Close()
		b.ReportMetric(float64(size()-before)/1e6, "MB/100k-events")
		b.ReportMetric(float64(len(frame))/5/1e3, "kB-snapshot/1k-tasks")
	}
}
