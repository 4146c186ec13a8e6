package server_test

import (
	"slices"
	"testing"

	"txxt/wire"
	"txxt/world"
)

// originalList is the original txxt client's task list, handled as that
// client handles it: an array that a Snapshot fills, TaskCreated appends
// to and TaskDeleted removes from by id; the other events change an entry
// in place. A drag holds an index into it, and the drop sends MoveTask for
// whatever task sits at that index then. It also checks what the client
// relies on: only frames of the original protocol, revisions that never go
// back.
type originalList struct {
	t     *testing.T
	c     *client
	rev   uint64
	tasks []world.Task
	gaps  int // events whose revision skipped some
}

func (l *originalList) apply(f wire.ServerFrame) {
	l.t.Helper()
	if f.Type == wire.TypeSnapshot {
		l.rev, l.tasks = f.Snapshot.Revision, slices.Clone(f.Snapshot.Tasks)
		return
	}
	ev := f.Event
	if ev.Revision < l.rev {
		l.t.Fatalf("event 0x%02x at revision %d after %d", f.Type, ev.Revision, l.rev)
	}
	if ev.Revision > l.rev+1 {
		l.gaps++
	}
	l.rev = ev.Revision
	at := slices.IndexFunc(l.tasks, func(t world.Task) bool { return t.ID == ev.Task.ID })
	if f.Type != wire.TypeTaskCreated && at < 0 {
		l.t.Fatalf("event 0x%02x names a task the list does not hold", f.Type)
	}
	switch f.Type {
	case wire.TypeTaskCreated:
		l.tasks = append(l.tasks, ev.Task)
	case wire.TypeTaskDeleted:
		l.tasks = slices.Delete(l.tasks, at, at+1)
	case wire.TypeTaskScheduled, wire.TypeTaskMoved:
		l.tasks[at].Status, l.tasks[at].Slot = world.Scheduled, ev.Task.Slot
	case wire.TypeTaskUnscheduled:
		l.tasks[at].Status, l.tasks[at].Slot = world.Staged, world.NoSlot
	case wire.TypeTaskCompleted:
		l.tasks[at].Status = world.Completed
	default:
		l.t.Fatalf("a v0 client got frame 0x%02x", f.Type)
	}
}

// until reads and applies frames until the task id has been created.
func (l *originalList) until(id world.ID) {
	l.t.Helper()
	for {
		_, f := l.c.read()
		l.apply(f)
		if f.Type == wire.TypeTaskCreated && f.Event.Task.ID == id {
			return
		}
	}
}

func (l *originalList) index(id world.ID) int {
	return slices.IndexFunc(l.tasks, func(t world.Task) bool { return t.ID == id })
}

// TestOriginalClientDragsWhileV1Changes is the original client dragging
// task Y while a txxt.v1 client changes task X, created before Y, in every
// way the original protocol has no frame for. The drop must move Y: the
// v0 translation may not add, remove or reorder entries of the original
// client's list (a rename sent as TaskDeleted then TaskCreated moved X to
// the end, so the index held for Y named the task after it).
func TestOriginalClientDragsWhileV1Changes(t *testing.T) {
	slot := world.Slot{Date: 20000, Start: 540, Duration: 60}
	scheduled := func(svc world.ID, title string) world.Command {
		return world.Command{Kind: world.CmdCreateTask, Service: svc, Priority: world.Medium, Slot: slot, Text: title}
	}
	for _, tc := range []struct {
		name   string
		change func(x world.ID, user, other world.ID) []world.Command
		check  func(x world.Task, other world.ID) bool // X as the next Snapshot shows it
	}{
		{"rename", func(x, _, _ world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdRenameTask, Task: x, Text: "X renamed"}}
		}, func(x world.Task, _ world.ID) bool { return x.Title == "X renamed" }},
		{"prioritise", func(x, _, _ world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdSetPriority, Task: x, Priority: world.Urgent}}
		}, func(x world.Task, _ world.ID) bool { return x.Priority == world.Urgent }},
		{"start", func(x, _, _ world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdStartTask, Task: x}}
		}, func(x world.Task, _ world.ID) bool { return x.Status == world.Active }},
		{"assign", func(x, user, _ world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdAssignTask, Task: x, Assignee: user}}
		}, func(x world.Task, _ world.ID) bool { return !x.Assignee.IsZero() }},
		{"set service", func(x, _, other world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdSetService, Task: x, Service: other}}
		}, func(x world.Task, other world.ID) bool { return x.Service == other }},
		{"complete then reopen", func(x, _, _ world.ID) []world.Command {
			return []world.Command{{Kind: world.CmdCompleteTask, Task: x}, {Kind: world.CmdReopenTask, Task: x}}
		}, func(x world.Task, _ world.ID) bool { return x.Status == world.Scheduled }},
		{"all of them", func(x, user, other world.ID) []world.Command {
			return []world.Command{
				{Kind: world.CmdRenameTask, Task: x, Text: "X renamed"},
				{Kind: world.CmdSetPriority, Task: x, Priority: world.Urgent},
				{Kind: world.CmdStartTask, Task: x},
				{Kind: world.CmdAssignTask, Task: x, Assignee: user},
				{Kind: world.CmdSetService, Task: x, Service: other},
			}
		}, func(x world.Task, other world.ID) bool {
			return x.Title == "X renamed" && x.Priority == world.Urgent && x.Status == world.Active && !x.Assignee.IsZero() && x.Service == other
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, options{})
			ops, dev := h.service("Ops"), h.service("Dev")
			v1 := h.dial(true, "")
			welcome, _ := v1.handshake()
			original := &originalList{t: t, c: h.dial(false, "")}
			_, snap := original.c.handshake()
			original.apply(wire.ServerFrame{Type: wire.TypeSnapshot, Snapshot: snap})

			var ids []world.ID
			for i, title := range []string{"X", "Y", "Z"} {
				v1.send(uint32(i+1), scheduled(ops, title))
				_, events := v1.answer(uint32(i + 1))
				ids = append(ids, events[0].Task.ID)
			}
			x, y := ids[0], ids[1]
			original.until(ids[2])

			// The original client grabs Y: it holds Y's index.
			drag := original.index(y)
			before := original.rev
			original.gaps = 0

			var last uint64
			for i, cmd := range tc.change(x, welcome.User, dev) {
				last = v1.ack(uint32(10+i), cmd)
			}
			// A task created after the change: once the original client
			// has it, it has everything the server sends it before.
			v1.send(99, scheduled(ops, "marker"))
			_, events := v1.answer(99)
			marker := events[len(events)-1].Task.ID
			original.until(marker)
			if original.rev != last+1 {
				t.Fatalf("original client at revision %d, want the marker's %d", original.rev, last+1)
			}

			// The drop: MoveTask for the task at the held index.
			dropped := original.tasks[drag].ID
			moved := world.Slot{Date: 20001, Start: 600, Duration: 60}
			original.c.send(0, world.Command{Kind: world.CmdMoveTask, Task: dropped, Slot: moved})
			got := v1.expect(wire.TypeTaskMoved).Event
			if got.Task.ID != y {
				t.Fatalf("the original client's drop of Y moved %s (the list is %v)", title(original.tasks, got.Task.ID), titles(original.tasks))
			}
			if got.Task.Slot != moved {
				t.Fatalf("moved to %+v", got.Task.Slot)
			}
			// What was withheld shows as a gap in its revisions.
			if original.gaps == 0 {
				t.Errorf("no gap in the original client's revisions (%d, then the marker at %d)", before, original.rev)
			}

			// Its next Snapshot (every reconnect) shows the change, with
			// the tasks in the order its list holds them.
			again := h.dial(false, "")
			_, fresh := again.handshake()
			if !slices.Equal(idsOf(fresh.Tasks), idsOf(original.tasks)) {
				t.Fatalf("the next snapshot's order %v, the list's %v", titles(fresh.Tasks), titles(original.tasks))
			}
			nx := fresh.Tasks[slices.IndexFunc(fresh.Tasks, func(t world.Task) bool { return t.ID == x })]
			if !tc.check(nx, dev) {
				t.Fatalf("the next snapshot does not show the change: %+v", nx)
			}
		})
	}
}

func idsOf(tasks []world.Task) []world.ID {
	out := make([]world.ID, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

func titles(tasks []world.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.Title
	}
	return out
}

func title(tasks []world.Task, id world.ID) string {
	for _, t := range tasks {
		if t.ID == id {
			return "'" + t.Title + "'"
		}
	}
	return "a task it does not hold"
}
