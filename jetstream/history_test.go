package jetstream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/world"
	"txxt/worldlog"
)

// histTask is the id of the i-th task the history tests create.
func histTask(i int) world.ID { return world.ID{0xAA, byte(i)} }

// histPlay sends a fixed pseudo-random sequence of commands, every third
// through the follower (forwarded to the owner), and returns the world's
// state after each revision as the owner had it.
func histPlay(t *testing.T, owner, follower *engine.Engine, tasks, commands int) map[uint64]world.State {
	t.Helper()
	states := map[uint64]world.State{}
	keep := func() {
		if err := owner.Read(ctxWait(t), func(w *world.World) { states[w.Revision()] = w.State() }); err != nil {
			t.Fatal(err)
		}
	}
	mustDo(t, owner, createService())
	keep()
	for i := range tasks {
		r := createTask(fmt.Sprint("t", i), engine.Origin{})
		r.Command.Task = histTask(i)
		mustDo(t, owner, r)
		keep()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range commands {
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
		via := owner
		if i%3 == 0 {
			via = follower
		}
		if res := do(t, via, engine.Request{Command: c, Actor: alice}); res.Err == nil {
			keep()
		}
	}
	return states
}

// histSnapshots counts the world's snapshots in the bucket.
func histSnapshots(t *testing.T, js natsjs.JetStream, name string) int {
	t.Helper()
	l := openReader(t, js, name)
	revs, err := l.snapshotRevisions(ctxWait(t))
	if err != nil {
		t.Fatal(err)
	}
	return len(revs)
}

// The history of a world kept in JetStream is the save file's, on the
// owner's node (through its lease's guard) and on a follower's: the plan
// at every revision the stream keeps is the world as it stood then, a
// moment's revision is the one made at it, and a task's changes say what
// each changed from, even after compaction removed the task's creation.
// Before the kept history the past is refused, saying where it starts;
// the snapshots kept for it stay bounded.
func TestHistoryOnJetStream(t *testing.T) {
	js := startNATS(t)
	if err := SetupOwnership(ctxWait(t), js, OwnershipOptions{}); err != nil {
		t.Fatal(err)
	}
	lease, err := acquire(t, openLeases(t, js), "hist", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.Options{SnapshotEvery: 10, KeepLog: 25}
	owner, _ := startOwner(t, js, "hist", "node-a", func(l *Log) worldlog.Log { return lease.Guard(l) }, opts)
	follower, _ := startFollower(t, js, "hist", ForwardOptions{})
	states := histPlay(t, owner, follower, 10, 150)
	last := owner.Revision()
	// The engine saves a snapshot and compacts behind it on a goroutine of
	// its own; histPlay's last read came after the last batch, so once no
	// save is in flight none will start and the kept history stays put.
	waitUntil(t, "the owner's last snapshot and compaction to be written", func() bool { return !owner.Stats().SnapshotSaving })
	waitUntil(t, "the follower to reach the owner's revision", func() bool { return follower.Revision() == last })

	for _, node := range []struct {
		name string
		eng  *engine.Engine
	}{{"owner", owner}, {"follower", follower}} {
		t.Run(node.name, func(t *testing.T) {
			h, ok := node.eng.History()
			if !ok {
				t.Fatal("the engine's log keeps no history")
			}
			kept, err := h.Kept(ctxWait(t))
			if err != nil {
				t.Fatal(err)
			}
			if kept.Complete || kept.From == 0 || kept.Time.IsZero() || kept.Last != last {
				t.Fatalf("the stream was compacted, but Kept says %+v (head %d)", kept, last)
			}
			start := time.Now()
			for rev, s := range states {
				w, err := h.Past(ctxWait(t), rev)
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
			t.Logf("past of %d revisions: %v", len(states), time.Since(start))
			start = time.Now()
			if _, err := h.Past(ctxWait(t), last+1); err == nil {
				t.Fatal("Past of a revision to come answered")
			}
			for rev := kept.From + 1; rev <= last; rev += 7 {
				r, ok, err := h.Record(ctxWait(t), rev)
				if err != nil || !ok {
					t.Fatalf("record %d: %v, %v", rev, ok, err)
				}
				got, err := h.RevisionAt(ctxWait(t), time.Unix(0, r.Time))
				// Records of one batch may share a moment: the revision
				// at it is the batch's last made then.
				if err != nil || got < rev {
					t.Fatalf("RevisionAt(the time of %d) = %d, %v", rev, got, err)
				}
				if n, ok, _ := h.Record(ctxWait(t), got); !ok || n.Time != r.Time {
					t.Fatalf("RevisionAt(the time of %d) = %d, made at another moment", rev, got)
				}
			}
			if _, err := h.RevisionAt(ctxWait(t), time.Unix(0, 1)); err == nil {
				t.Fatal("a moment before the kept history answered")
			}

			t.Logf("revision at: %v", time.Since(start))
			start = time.Now()
			// Every kept change of every task says what it changed from:
			// the task as it was at the revision before.
			for i := range 10 {
				changes, _, err := h.TaskChanges(ctxWait(t), histTask(i), 0, 500)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range changes {
					if c.Revision <= kept.From {
						t.Fatalf("task %d: change %d before the kept history at %d", i, c.Revision, kept.From)
					}
					if c.Event.Kind == world.EvTaskCreated {
						continue
					}
					var before world.Task
					for _, tk := range states[c.Revision-1].Tasks {
						if tk.ID == histTask(i) {
							before = tk
						}
					}
					if c.Known != engine.FieldSlot|engine.FieldStatus|engine.FieldTitle|engine.FieldPriority|engine.FieldAssignee|engine.FieldService || c.Before != before {
						t.Fatalf("task %d, change %d (%s): before %+v (known %b), want %+v", i, c.Revision, c.Event.Kind, c.Before, c.Known, before)
					}
				}
			}
			t.Logf("task changes: %v", time.Since(start))
			all, next, err := h.Changes(ctxWait(t), 0, 1000, 20000, func(engine.Change) bool { return true })
			if err != nil || next != 0 || uint64(len(all)) != last-kept.From || all[0].Revision != last {
				t.Fatalf("the activity: %d changes, next %d, %v; want %d", len(all), next, err, last-kept.From)
			}
		})
	}
	if n, bound := histSnapshots(t, js, "hist"), int(opts.KeepLog/opts.SnapshotEvery)+3; n > bound {
		t.Errorf("%d snapshots kept, more than KeepLog/SnapshotEvery + 3 = %d", n, bound)
	}
}
