package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"txxt/store"
	"txxt/world"
	"txxt/worldlog"
)

// BenchmarkThroughput measures durable commands per second (real fsync)
// with 1, 16 and 256 concurrent submitters, with group commit and with one
// commit per command (the original design), in one run so the ratio is
// measured on the same machine at the same moment.
func BenchmarkThroughput(b *testing.B) {
	for _, submitters := range []int{1, 16, 256} {
		for _, mode := range []struct {
			name      string
			perCommit bool
		}{{"group", false}, {"per-command", true}} {
			b.Run(fmt.Sprintf("submitters=%d/%s", submitters, mode.name), func(b *testing.B) {
				benchThroughput(b, submitters, mode.perCommit)
			})
		}
	}
}

func benchThroughput(b *testing.B, submitters int, perCommit bool) {
	st, err := store.Open(filepath.Join(b.TempDir(), "save"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := Open(st, Options{CommitPerCommand: perCommit, NewID: seqIDs(), SnapshotEvery: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	createService(b, e)
	// One task per submitter, created concurrently (set-up, not measured).
	tasks := make([]world.ID, submitters)
	var wg sync.WaitGroup
	for i := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rev, err := tryMustDo(e, createTask("bench"))
			if err != nil {
				b.Error(err)
				return
			}
			tasks[i] = seqID(uint32(rev - 1)) // the service took id 1 and revision 1: task ids follow
		}()
	}
	waitGroup(b, &wg, "the set-up tasks")
	if b.Failed() {
		return
	}

	var next atomic.Int64
	b.ResetTimer()
	for i := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot := world.Slot{Date: 20000, Start: 0, Duration: 30}
			for next.Add(1) <= int64(b.N) {
				slot.Start = (slot.Start + 30) % 1200
				res, err := e.Do(ctx, Request{Command: world.Command{Kind: world.CmdMoveTask, Task: tasks[i], Slot: slot}})
				if err != nil || res.Err != nil {
					b.Error(err, res.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
	s := e.Stats()
	b.ReportMetric(float64(s.Accepted)/float64(s.Batches), "cmds/batch")
}

// BenchmarkBoot measures opening a save file of 100,000 tasks: the newest
// snapshot, then the replay of the log after it.
func BenchmarkBoot(b *testing.B) {
	for _, tc := range []struct {
		name   string
		replay int // events in the log after the snapshot
	}{{"100k-tasks/snapshot-only", 0}, {"100k-tasks/replay-10k", 10000}} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "save")
			buildSaveFile(b, path, 100000, tc.replay)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st, err := store.Open(path, store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				e, err := Open(st, Options{SnapshotEvery: 1 << 40})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n, _, _ := counts(e); n != 100000 {
					b.Fatalf("booted %d tasks", n)
				}
				e.Close()
				st.Close()
				b.StartTimer()
			}
		})
	}
}

// buildSaveFile writes a save file holding tasks tasks, with a snapshot,
// then replay more events (moves) after it.
func buildSaveFile(b *testing.B, path string, tasks, replay int) {
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	e, err := Open(st, Options{NewID: seqIDs(), SnapshotEvery: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	createService(b, e)
	submitAll(b, e, tasks, func(i int) world.Command {
		c := createTask(fmt.Sprintf("task number %d with a title of ordinary length", i))
		c.Slot.Date += uint16(i % 60)
		c.Slot.Start = uint16(i%20) * 30
		return c
	})
	if err := e.Close(); err != nil { // writes the snapshot
		b.Fatal(err)
	}
	e, err = Open(st, Options{SnapshotEvery: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	submitAll(b, e, replay, func(i int) world.Command {
		return world.Command{Kind: world.CmdMoveTask, Task: seqID(uint32(i + 2)), Slot: world.Slot{Date: 20100, Start: 600, Duration: 60}}
	})
	// Stop without the final snapshot, so the moves stay in the log.
	e.Read(context.Background(), func(w *world.World) { e.snapRev = w.Revision() })
	e.Close()
	st.Close()
}

// submitAll queues n commands without waiting for each, then waits for all.
func submitAll(b *testing.B, e *Engine, n int, cmd func(int) world.Command) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		for {
			err := e.Submit(Request{Command: cmd(i), Done: func(r Result) {
				if r.Err != nil {
					b.Error(r.Err)
				}
				wg.Done()
			}})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrOverloaded) {
				b.Fatalf("submit command %d of %d: %v", i, n, err)
			}
			runtime.Gosched() // the queue is full: let the engine take some
		}
	}
	waitGroup(b, &wg, fmt.Sprintf("the answers to %d commands", n))
}

func counts(e *Engine) (tasks, services, users int) {
	e.Read(context.Background(), func(w *world.World) { tasks, services, users = w.Counts() })
	return
}

// BenchmarkIdleEngine is what an idle team's engine holds: 200 engines
// opened on empty logs, the heap in use before and after (two GCs each),
// per engine (KiB/engine). The feed's ring, the log fields beside it and
// the deleted tasks remembered grow with use, so an idle one holds few.
func BenchmarkIdleEngine(b *testing.B) {
	const n = 200
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var per float64
	for b.Loop() {
		before := heap()
		engines := make([]*Engine, 0, n)
		for range n {
			e, err := Open(worldlog.NewMemory(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			engines = append(engines, e)
		}
		per = float64(heap()-before) / n / 1024
		for _, e := range engines {
			e.Close()
		}
	}
	b.ReportMetric(per, "KiB/engine")
}
