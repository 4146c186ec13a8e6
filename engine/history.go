package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// History reads what a world's log holds of the past: the world as it
// stood at a revision (Past), and the changes one by one, newest first
// (Changes). It reads the log, never the live world, and keeps nothing in
// memory between calls: the log is the history, for as long as the engine
// keeps it (Options.KeepLog records before the newest snapshot).
//
// It reads through HistoryLog, which the save file (store.Store) and
// JetStream's log (jetstream.Log, on the owner's node and on every
// follower's) implement, so a cluster's nodes answer as one node does.
type History struct{ log HistoryLog }

// HistoryLog is what History reads of a world's log, beyond worldlog.Log:
// ranges of records, the snapshots kept at or before a revision, the
// window of revisions kept, and the revision at a moment.
type HistoryLog interface {
	// HistoryWindow returns the revisions the log holds the records of:
	// every one from from+1 to last (its head). from is 0 when the log
	// holds every record since the world was empty; otherwise the log
	// keeps a snapshot at from (but for a file rewritten after a failed
	// write, whose older past is gone). from == last: no record.
	HistoryWindow(ctx context.Context) (from, last uint64, err error)

	// RecordsBetween calls fn for every record held from revision from
	// to revision to, both included, in order, and stops at fn's first
	// error, which it returns. The Frame given to fn is valid only
	// during the call.
	RecordsBetween(ctx context.Context, from, to uint64, fn func(worldlog.Record) error) error

	// SnapshotAtOrBefore calls fn with the newest snapshot kept at or
	// before rev, checked, and returns fn's error; fn is not called when
	// there is none. The frame is valid only during the call.
	SnapshotAtOrBefore(ctx context.Context, rev uint64, fn func(at uint64, frame []byte) error) error

	// RevisionAt returns the newest revision of the window (from+1 to
	// last) whose record was made at or before at (unix nanoseconds);
	// ok is false when the window's first record was made after at, or
	// the window holds no record.
	RevisionAt(ctx context.Context, at int64) (rev uint64, ok bool, err error)
}

// NewHistory reads the past from log.
func NewHistory(log HistoryLog) History { return History{log: log} }

// History returns a History of the engine's world when its log keeps the
// past (ok false otherwise). A log wrapped by another (a lease's guard)
// is found through the wrapper's Unwrap.
func (e *Engine) History() (History, bool) {
	var log worldlog.Log = e.log
	for log != nil {
		if hl, ok := log.(HistoryLog); ok {
			return NewHistory(hl), true
		}
		u, ok := log.(interface{ Unwrap() worldlog.Log })
		if !ok {
			break
		}
		log = u.Unwrap()
	}
	return History{}, false
}

// Kept is where the history the log holds begins.
type Kept struct {
	// Complete is set when the log holds every change since the world
	// was empty (it was never compacted).
	Complete bool
	// From is the oldest revision that can be rebuilt, and Time when it
	// was made (zero for an empty log).
	From uint64
	Time time.Time
	// Last is the newest revision (the log's head).
	Last uint64
}

// Kept says where the kept history begins.
func (h History) Kept(ctx context.Context) (Kept, error) {
	from, last, err := h.log.HistoryWindow(ctx)
	if err != nil {
		return Kept{}, err
	}
	k := Kept{Complete: from == 0, From: from, Last: last}
	if from == last {
		return k, nil
	}
	r, ok, err := h.Record(ctx, from+1)
	if err != nil {
		return Kept{}, err
	}
	if !ok {
		return Kept{}, fmt.Errorf("log record %d missing: %w", from+1, store.ErrDamaged)
	}
	k.Time = time.Unix(0, r.Time).UTC()
	return k, nil
}

// Record returns the log record at rev (ok false when the log does not
// hold it); its Frame is a copy.
func (h History) Record(ctx context.Context, rev uint64) (r worldlog.Record, ok bool, err error) {
	err = h.log.RecordsBetween(ctx, rev, rev, func(rec worldlog.Record) error {
		r, ok = rec, true
		r.Frame = bytes.Clone(rec.Frame)
		return nil
	})
	return r, ok && err == nil, err
}

// notKept is the refusal of a moment before the kept history.
func notKept(k Kept) *world.Error {
	if k.Time.IsZero() {
		return &world.Error{Code: world.CodeNotFound, Message: fmt.Sprintf("The history kept starts at revision %d.", k.From)}
	}
	return &world.Error{Code: world.CodeNotFound, Message: fmt.Sprintf("The history kept starts at revision %d, on %s UTC: nothing before it can be shown.", k.From, k.Time.Format("Mon 2 Jan 2006, 15:04"))}
}

// RevisionAt returns the revision the world stood at, at moment at: the
// last record made at or before it (0 before the first change).
func (h History) RevisionAt(ctx context.Context, at time.Time) (uint64, error) {
	k, err := h.Kept(ctx)
	if err != nil {
		return 0, err
	}
	if k.From == k.Last {
		return k.Last, nil
	}
	rev, ok, err := h.log.RevisionAt(ctx, at.UnixNano())
	switch {
	case err != nil:
		return 0, err
	case ok && rev > k.From:
		return rev, nil
	case k.Complete:
		return 0, nil
	}
	return 0, notKept(k)
}

// Past rebuilds the world as it stood at rev: the newest snapshot at or
// before it, then the log after that snapshot up to rev. ctx ends the
// replay early.
func (h History) Past(ctx context.Context, rev uint64) (*world.World, error) {
	k, err := h.Kept(ctx)
	if err != nil {
		return nil, err
	}
	if rev > k.Last {
		return nil, &world.Error{Code: world.CodeBadRequest, Message: fmt.Sprintf("Revision %d has not happened yet: the plan is at revision %d.", rev, k.Last)}
	}
	if rev < k.From && !k.Complete {
		return nil, notKept(k)
	}
	at := uint64(0)
	w := world.New()
	err = h.log.SnapshotAtOrBefore(ctx, rev, func(r uint64, frame []byte) error {
		at = r
		s, err := wire.DecodeSnapshot(frame)
		if err != nil {
			return fmt.Errorf("snapshot at revision %d does not decode: %w: %w", at, err, store.ErrDamaged)
		}
		if w, err = world.FromState(*s); err != nil {
			return fmt.Errorf("snapshot at revision %d: %w: %w", at, err, store.ErrDamaged)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if at == rev {
		return w, nil
	}
	if k.From == k.Last || k.From > at {
		return nil, notKept(k)
	}
	err = h.log.RecordsBetween(ctx, at+1, rev, func(r worldlog.Record) error {
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		if err := w.Replay(ev); err != nil {
			return fmt.Errorf("log record %d does not replay: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if w.Revision() != rev {
		return nil, fmt.Errorf("the log replayed to revision %d, not %d: %w", w.Revision(), rev, store.ErrDamaged)
	}
	return w, nil
}

// backChunk is how many revisions a walk back through the log reads at a
// time: each chunk is read forward (the way every log reads) and given
// newest first.
const backChunk = 512

// recordsBefore calls fn for every record of the window (after from) with
// a revision before before, newest first, until fn returns an error
// (returned) or store.ErrStop (which ends the walk with nil). The Frame
// given to fn is fn's to keep.
func (h History) recordsBefore(ctx context.Context, from, before uint64, fn func(worldlog.Record) error) error {
	var chunk []worldlog.Record
	for before > from+1 {
		lo := max(from+1, before-min(before, backChunk))
		chunk = chunk[:0]
		err := h.log.RecordsBetween(ctx, lo, before-1, func(r worldlog.Record) error {
			r.Frame = bytes.Clone(r.Frame)
			chunk = append(chunk, r)
			return nil
		})
		if err != nil {
			return err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if err := fn(chunk[i]); err != nil {
				if errors.Is(err, store.ErrStop) {
					return nil
				}
				return err
			}
		}
		before = lo
	}
	return nil
}

// Change is one accepted command as the log holds it.
type Change struct {
	Revision uint64
	Time     time.Time
	Actor    world.ID
	Event    world.Event
	// Before is the task as it was before the change, as far as the
	// task's earlier changes in the kept log tell: Known says which of
	// its fields they tell.
	Before world.Task
	Known  Fields
}

// Fields is a set of a task's fields.
type Fields uint8

const (
	FieldSlot Fields = 1 << iota
	FieldStatus
	FieldTitle
	FieldPriority
	FieldAssignee
	FieldService
	allFields = FieldSlot | FieldStatus | FieldTitle | FieldPriority | FieldAssignee | FieldService
)

// sets is what an event of kind sets of its task.
func sets(kind world.EventKind) Fields {
	switch kind {
	case world.EvTaskCreated:
		return allFields
	case world.EvTaskScheduled, world.EvTaskUnscheduled:
		return FieldSlot | FieldStatus
	case world.EvTaskMoved:
		return FieldSlot
	case world.EvTaskCompleted, world.EvTaskStarted, world.EvTaskReopened:
		return FieldStatus
	case world.EvTaskRenamed:
		return FieldTitle
	case world.EvTaskPrioritized:
		return FieldPriority
	case world.EvTaskAssigned:
		return FieldAssignee
	case world.EvTaskServiceChanged:
		return FieldService
	}
	return 0
}

// fold applies ev's fields to t.
func fold(t *world.Task, ev *world.Event) {
	switch ev.Kind {
	case world.EvTaskCreated:
		*t = ev.Task
	case world.EvTaskScheduled:
		t.Status, t.Slot = world.Scheduled, ev.Task.Slot
	case world.EvTaskMoved:
		t.Slot = ev.Task.Slot
	case world.EvTaskUnscheduled:
		t.Status, t.Slot = world.Staged, world.NoSlot
	case world.EvTaskCompleted:
		t.Status = world.Completed
	case world.EvTaskStarted:
		t.Status = world.Active
	case world.EvTaskReopened:
		t.Status = world.Scheduled
	case world.EvTaskRenamed:
		t.Title = ev.Task.Title
	case world.EvTaskPrioritized:
		t.Priority = ev.Task.Priority
	case world.EvTaskAssigned:
		t.Assignee = ev.Task.Assignee
	case world.EvTaskServiceChanged:
		t.Service = ev.Task.Service
	}
}

// IsTaskEvent reports whether kind changes one task.
func IsTaskEvent(kind world.EventKind) bool { return sets(kind) != 0 || kind == world.EvTaskDeleted }

// TaskChanges returns up to limit changes of task id made before revision
// before (0: the newest), newest first, each with the task as it was
// before it, and the next page's before (0: no more). It walks the log
// back from before until it has the page (or reaches the task's creation
// or the log's start), then rebuilds the task as it stood before the
// page's oldest change (beforeEach), so even a page that starts after
// compaction says what each change changed from.
func (h History) TaskChanges(ctx context.Context, id world.ID, before uint64, limit int) ([]Change, uint64, error) {
	var mine []Change // newest first
	from, last, err := h.log.HistoryWindow(ctx)
	if err != nil {
		return nil, 0, err
	}
	if before == 0 {
		before = last + 1
	}
	err = h.recordsBefore(ctx, from, before, func(r worldlog.Record) error {
		if len(mine) > limit {
			return store.ErrStop
		}
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		if !IsTaskEvent(ev.Kind) || ev.Task.ID != id {
			return nil
		}
		mine = append(mine, Change{Revision: r.Revision, Time: time.Unix(0, r.Time).UTC(), Actor: r.Actor, Event: ev})
		if ev.Kind == world.EvTaskCreated {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	next := uint64(0)
	if len(mine) > limit {
		mine = mine[:limit]
		next = mine[limit-1].Revision
	}
	if err := h.beforeEach(ctx, from, mine); err != nil {
		return nil, 0, err
	}
	return mine, next, nil
}

// Changes calls keep for the changes made before revision before (0: the
// newest), newest first, and returns those it kept, up to limit, each with
// its task as it was before it, and the revision the walk reached (the
// next page's before; 0 at the log's start). keep decides on the record
// alone; scanned bounds the records read, so a filter that matches nothing
// does not read the whole log in one request.
func (h History) Changes(ctx context.Context, before uint64, limit, scanned int, keep func(Change) bool) (out []Change, next uint64, err error) {
	from, last, err := h.log.HistoryWindow(ctx)
	if err != nil {
		return nil, 0, err
	}
	if before == 0 {
		before = last + 1
	}
	next = before
	n := 0
	err = h.recordsBefore(ctx, from, before, func(r worldlog.Record) error {
		if len(out) >= limit || n >= scanned {
			return store.ErrStop
		}
		n++
		next = r.Revision
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		c := Change{Revision: r.Revision, Time: time.Unix(0, r.Time).UTC(), Actor: r.Actor, Event: ev}
		if keep(c) {
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if from == last || next <= from+1 {
		next = 0
	}
	if err := h.beforeEach(ctx, from, out); err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// beforeEach fills in each task change of changes (newest first) with its
// task as it was just before it. The log's records hold only what a change
// set, not what it replaced, so the tasks are rebuilt: from the newest
// snapshot at or before the oldest change (the store keeps every snapshot
// the kept log continues), then the log after it up to the newest change,
// reading only the records of those tasks. Beyond that snapshot nothing is
// read, so a page costs at most SnapshotEvery records more than itself.
//
// When no snapshot is continued by the log (a file whose oldest snapshots
// are gone), the tasks start unknown and each change knows only the fields
// the kept changes before it set (Known).
func (h History) beforeEach(ctx context.Context, from uint64, changes []Change) error {
	at := map[uint64]int{} // revision → index in changes
	type state struct {
		t     world.Task
		known Fields
	}
	tasks := map[world.ID]*state{}
	for i := range changes {
		if IsTaskEvent(changes[i].Event.Kind) {
			at[changes[i].Revision] = i
			tasks[changes[i].Event.Task.ID] = &state{}
		}
	}
	if len(at) == 0 {
		return nil
	}
	oldest, newest := changes[len(changes)-1].Revision, changes[0].Revision
	snap := uint64(0)
	continued := false // the log continues the snapshot
	err := h.log.SnapshotAtOrBefore(ctx, oldest-1, func(at uint64, frame []byte) error {
		snap = at
		if from > at {
			return nil
		}
		continued = true
		err := wire.SnapshotTasks(frame, func(id world.ID) bool { return tasks[id] != nil }, func(t world.Task) { tasks[t.ID].t = t })
		if err != nil {
			return fmt.Errorf("snapshot at revision %d does not decode: %w: %w", at, err, store.ErrDamaged)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if continued || from == 0 {
		// The log continues the snapshot (or the empty world, when it
		// starts at 1): every tracked task is known from there on (one
		// absent from it did not exist yet).
		for _, s := range tasks {
			s.known = allFields
		}
	} else {
		snap = oldest - 1
	}
	err = h.log.RecordsBetween(ctx, snap+1, newest, func(r worldlog.Record) error {
		// Every task event names its task at offset 9: skip the others
		// without decoding them (a false match is decoded and checked).
		if len(r.Frame) < 25 || tasks[world.ID(r.Frame[9:25])] == nil {
			return nil
		}
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		s := tasks[ev.Task.ID]
		if !IsTaskEvent(ev.Kind) || s == nil {
			return nil
		}
		if i, ok := at[r.Revision]; ok {
			changes[i].Before, changes[i].Known = s.t, s.known
			if ev.Kind == world.EvTaskCreated {
				changes[i].Before, changes[i].Known = world.Task{}, 0
			}
		}
		fold(&s.t, &ev)
		s.known |= sets(ev.Kind)
		return nil
	})
	return err
}
