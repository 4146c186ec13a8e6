package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

// History reads what the save file's log holds of the past: the world as
// it stood at a revision (Past), and the changes one by one, newest first
// (Changes). It reads the file, never the live world, and keeps nothing in
// memory between calls: the log is the history, for as long as the engine
// keeps it (Options.KeepLog records before the newest snapshot).
//
// The past is the save file's alone: reading it backwards and by snapshot
// goes beyond worldlog.Log, so History takes the bbolt store itself (a
// team's, which the server holds beside its engine), not the engine's log.
type History struct{ st *store.Store }

// NewHistory reads the past from st.
func NewHistory(st *store.Store) History { return History{st: st} }

// Kept is where the history the log holds begins.
type Kept struct {
	// Complete is set when the log holds every change since the world
	// was empty (it was never compacted).
	Complete bool
	// From is the oldest revision that can be rebuilt, and Time when it
	// was made (zero for an empty log).
	From uint64
	Time time.Time
}

// Kept says where the kept history begins.
func (h History) Kept() (Kept, error) {
	first := h.st.FirstRevision()
	if first == 0 {
		rev := h.st.LastRevision()
		return Kept{Complete: rev == 0, From: rev}, nil
	}
	r, ok, err := h.st.Record(first)
	if err != nil || !ok {
		return Kept{}, err
	}
	k := Kept{Complete: first == 1, From: first - 1, Time: time.Unix(0, r.Time).UTC()}
	return k, nil
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
func (h History) RevisionAt(at time.Time) (uint64, error) {
	first, last := h.st.FirstRevision(), h.st.LastRevision()
	if first == 0 {
		return last, nil
	}
	ns := at.UnixNano()
	timeOf := func(rev uint64) (int64, error) {
		r, ok, err := h.st.Record(rev)
		if err == nil && !ok {
			err = fmt.Errorf("log record %d missing: %w", rev, store.ErrDamaged)
		}
		return r.Time, err
	}
	t, err := timeOf(first)
	if err != nil {
		return 0, err
	}
	if t > ns {
		if first == 1 {
			return 0, nil
		}
		k, err := h.Kept()
		if err != nil {
			return 0, err
		}
		return 0, notKept(k)
	}
	// The largest revision in [first, last] made at or before at; the
	// engine's clock rises with the revision (a step back of the system
	// clock at worst misplaces a moment by that step).
	lo, hi := first, last
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		t, err := timeOf(mid)
		if err != nil {
			return 0, err
		}
		if t <= ns {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// Past rebuilds the world as it stood at rev: the newest snapshot at or
// before it, then the log after that snapshot up to rev. ctx ends the
// replay early.
func (h History) Past(ctx context.Context, rev uint64) (*world.World, error) {
	last := h.st.LastRevision()
	if rev > last {
		return nil, &world.Error{Code: world.CodeBadRequest, Message: fmt.Sprintf("Revision %d has not happened yet: the plan is at revision %d.", rev, last)}
	}
	k, err := h.Kept()
	if err != nil {
		return nil, err
	}
	if rev < k.From && !k.Complete {
		return nil, notKept(k)
	}
	at, frame, err := h.st.SnapshotBefore(rev)
	if err != nil {
		return nil, err
	}
	w := world.New()
	if frame != nil {
		s, err := wire.DecodeSnapshot(frame)
		if err != nil {
			return nil, fmt.Errorf("snapshot at revision %d does not decode: %w: %w", at, err, store.ErrDamaged)
		}
		if w, err = world.FromState(*s); err != nil {
			return nil, fmt.Errorf("snapshot at revision %d: %w: %w", at, err, store.ErrDamaged)
		}
	}
	if at == rev {
		return w, nil
	}
	if first := h.st.FirstRevision(); first == 0 || first > at+1 {
		return nil, notKept(k)
	}
	err = h.st.Records(ctx, at, func(r store.Record) error {
		if r.Revision > rev {
			return store.ErrStop
		}
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("log record %d does not decode: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		if err := w.Replay(ev); err != nil {
			return fmt.Errorf("log record %d does not replay: %w: %w", r.Revision, err, store.ErrDamaged)
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrStop) {
		return nil, err
	}
	if w.Revision() != rev {
		return nil, fmt.Errorf("the log replayed to revision %d, not %d: %w", w.Revision(), rev, store.ErrDamaged)
	}
	return w, nil
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
	if before == 0 {
		before = h.st.LastRevision() + 1
	}
	err := h.st.RecordsBefore(before, func(r store.Record) error {
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
	if err != nil && !errors.Is(err, store.ErrStop) {
		return nil, 0, err
	}
	next := uint64(0)
	if len(mine) > limit {
		mine = mine[:limit]
		next = mine[limit-1].Revision
	}
	if err := h.beforeEach(ctx, mine); err != nil {
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
	if before == 0 {
		before = h.st.LastRevision() + 1
	}
	next = before
	n := 0
	err = h.st.RecordsBefore(before, func(r store.Record) error {
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
	if err != nil && !errors.Is(err, store.ErrStop) {
		return nil, 0, err
	}
	if first := h.st.FirstRevision(); first == 0 || next <= first {
		next = 0
	}
	if err := h.beforeEach(ctx, out); err != nil {
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
func (h History) beforeEach(ctx context.Context, changes []Change) error {
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
	first := h.st.FirstRevision()
	snap := uint64(0)
	err := h.st.ReadSnapshotBefore(oldest-1, func(at uint64, frame []byte) error {
		snap = at
		if first == 0 || first > at+1 {
			return nil
		}
		err := wire.SnapshotTasks(frame, func(id world.ID) bool { return tasks[id] != nil }, func(t world.Task) { tasks[t.ID].t = t })
		if err != nil {
			return fmt.Errorf("snapshot at revision %d does not decode: %w: %w", at, err, store.ErrDamaged)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if first != 0 && first <= snap+1 {
		// The log continues the snapshot (or the empty world, when it
		// starts at 1): every tracked task is known from there on (one
		// absent from it did not exist yet).
		for _, s := range tasks {
			s.known = allFields
		}
	} else {
		snap = oldest - 1
	}
	err = h.st.Records(ctx, snap, func(r store.Record) error {
		if r.Revision > newest {
			return store.ErrStop
		}
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
	if err != nil && !errors.Is(err, store.ErrStop) {
		return err
	}
	return nil
}
