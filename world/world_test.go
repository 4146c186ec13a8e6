package world

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// id makes a readable test id: id(7) is 00…07.
func id(n byte) ID {
	var x ID
	x[15] = n
	x[0] = 0xAA
	return x
}

var (
	svc      = id(1)
	svc2     = id(2)
	alice    = id(3)
	staged   = id(10)
	sched    = id(11)
	active   = id(12)
	done     = id(13)
	newTask  = id(20)
	nobody   = id(99)
	monday   = uint16(20412) // 2025-11-17, a Monday: (20412+3)%7 == 0
	morning  = Slot{Date: monday, Start: 9 * 60, Duration: 30}
	evening  = Slot{Date: monday, Start: 17 * 60, Duration: 60}
	lastSlot = Slot{Date: monday, Start: 1435, Duration: 5}
)

// fixture is a world holding one task in each status, a service and a user.
func fixture(t testing.TB) *World {
	t.Helper()
	w := New()
	must := func(c Command) {
		if _, err := w.Apply(c); err != nil {
			t.Fatalf("fixture %v: %v", c.Kind, err)
		}
	}
	must(Command{Kind: CmdCreateService, Service: svc, Text: "Platform"})
	must(Command{Kind: CmdCreateService, Service: svc2, Text: "Billing"})
	must(Command{Kind: CmdCreateUser, User: alice, Text: "alice"})
	must(Command{Kind: CmdCreateTask, Task: staged, Service: svc, Slot: NoSlot, Text: "staged"})
	must(Command{Kind: CmdCreateTask, Task: sched, Service: svc, Slot: morning, Text: "scheduled"})
	must(Command{Kind: CmdCreateTask, Task: active, Service: svc, Slot: morning, Text: "active"})
	must(Command{Kind: CmdStartTask, Task: active})
	must(Command{Kind: CmdCreateTask, Task: done, Service: svc, Slot: evening, Text: "done"})
	must(Command{Kind: CmdCompleteTask, Task: done})
	return w
}

func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return CodeInternal
	}
	return CodeNone
}

// rule is one row of a rule table: a command against the fixture, and
// what must come of it.
type rule struct {
	name  string
	setup func(w *World) // optional, before the command
	cmd   Command
	want  Code
	msg   string                       // optional: a refusal's message holds it
	check func(t *testing.T, w *World) // optional, after an accepted command
}

// TestRules runs every rule of every command against the fixture, one row
// per rule, accepted and refused.
func TestRules(t *testing.T) {
	long := strings.Repeat("x", MaxTitle)
	runRules(t, []rule{
		// CreateTask
		{name: "create staged", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Priority: High, Slot: Slot{Date: NoDate, Start: 7, Duration: 3}, Text: "deploy"},
			check: taskIs(newTask, Task{ID: newTask, Status: Staged, Priority: High, Slot: NoSlot, Service: svc, Title: "deploy"})},
		{name: "create scheduled", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Assignee: alice, Slot: morning, Text: "deploy"},
			check: taskIs(newTask, Task{ID: newTask, Status: Scheduled, Slot: morning, Service: svc, Assignee: alice, Title: "deploy"})},
		{name: "create unknown service", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: nobody, Slot: NoSlot, Text: "Deploy backup"}, want: CodeServiceNotFound, msg: "The service chosen for 'Deploy backup' does not exist here: reload the page and choose another."},
		{name: "create zero service", cmd: Command{Kind: CmdCreateTask, Task: newTask, Slot: NoSlot}, want: CodeServiceNotFound},
		{name: "create unknown assignee", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Assignee: nobody, Slot: NoSlot, Text: "Deploy backup"}, want: CodeUserNotFound, msg: "The person chosen for 'Deploy backup' is not in this team"},
		{name: "create priority 4", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Priority: 4, Slot: NoSlot, Text: "Deploy backup"}, want: CodeInvalidPriority, msg: "Choose a priority for 'Deploy backup': low, medium, high or urgent."},
		{name: "create priority urgent", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Priority: Urgent, Slot: NoSlot}},
		{name: "create title 128 bytes", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: long}},
		{name: "create title 129 bytes", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: long + "x"}, want: CodeTitleTooLong, msg: "A title can be at most 128 bytes: this one is 129."},
		{name: "create title 128 bytes multibyte", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: strings.Repeat("é", 64)}},
		{name: "create title 130 bytes multibyte", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: strings.Repeat("é", 65)}, want: CodeTitleTooLong, msg: "A title can be at most 128 bytes: this one is 130 (é counts as 2)."},
		{name: "create title invalid utf8", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: "a\xffb"}, want: CodeInvalidText, msg: "A title must be text (UTF-8)"},
		{name: "create title with NUL", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot, Text: "a\x00b"}, want: CodeInvalidText, msg: "A title cannot hold a NUL character: remove it."},
		{name: "create empty title", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: NoSlot}},
		{name: "create duplicate id", cmd: Command{Kind: CmdCreateTask, Task: staged, Service: svc, Slot: NoSlot, Text: "Deploy backup"}, want: CodeDuplicateID, msg: "'Deploy backup' was not created: another task has its id."},
		{name: "create zero id", cmd: Command{Kind: CmdCreateTask, Service: svc, Slot: NoSlot}, want: CodeDuplicateID, msg: "This task was not created"},
		{name: "create bad slot", cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: Slot{Date: monday, Start: 1440, Duration: 5}, Text: "Deploy backup"}, want: CodeInvalidTime, msg: "'Deploy backup' cannot start at midnight or later"},

		// Scheduling fields, through ScheduleTask
		{name: "schedule ok", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: morning},
			check: statusSlot(staged, Scheduled, morning)},
		{name: "schedule last slot of the day", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: lastSlot}},
		{name: "schedule whole day", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 0, Duration: 1440}}},
		{name: "schedule day 0", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: 0, Start: 0, Duration: 5}}},
		{name: "schedule no date", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: NoDate, Start: 0, Duration: 5}}, want: CodeInvalidDate, msg: "Choose a day for 'staged'"},
		{name: "schedule start 1440", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 1440, Duration: 5}}, want: CodeInvalidTime, msg: "'staged' cannot start at midnight or later: a day on the calendar ends at 24:00."},
		{name: "schedule start off grid", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 7, Duration: 5}}, want: CodeInvalidTime, msg: "Tasks start on the 5-minute grid: 00:07 is not on it."},
		{name: "schedule duration 0", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 0, Duration: 0}}, want: CodeInvalidDuration, msg: "'staged' needs a length: at least 5 minutes."},
		{name: "schedule duration off grid", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 0, Duration: 7}}, want: CodeInvalidDuration, msg: "Tasks last a whole number of 5-minute steps: 7 minutes is not one."},
		{name: "schedule crosses midnight", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 1435, Duration: 10}}, want: CodeInvalidDuration, msg: "'staged' would end after midnight: a task ends the day it starts."},
		{name: "schedule huge duration", cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 1435, Duration: 0xFFFF - 4}}, want: CodeInvalidDuration},
		{name: "schedule unknown task", cmd: Command{Kind: CmdScheduleTask, Task: nobody, Slot: morning}, want: CodeTaskNotFound, msg: NoSuchTask},
		{name: "schedule on a 15-minute grid, off it", setup: setGrid(15), cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 9*60 + 7, Duration: 15}}, want: CodeInvalidTime, msg: "Tasks start on the 15-minute grid: 09:07 is not on it."},
		{name: "schedule on a 15-minute grid, on it", setup: setGrid(15), cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 15, Duration: 45}}},
		{name: "schedule on a 1-minute grid", setup: setGrid(1), cmd: Command{Kind: CmdScheduleTask, Task: staged, Slot: Slot{Date: monday, Start: 7, Duration: 3}}},

		// MoveTask keeps the status; also resizes
		{name: "move scheduled", cmd: Command{Kind: CmdMoveTask, Task: sched, Slot: evening}, check: statusSlot(sched, Scheduled, evening)},
		{name: "move active", cmd: Command{Kind: CmdMoveTask, Task: active, Slot: evening}, check: statusSlot(active, Active, evening)},
		{name: "resize", cmd: Command{Kind: CmdMoveTask, Task: sched, Slot: Slot{Date: monday, Start: 9 * 60, Duration: 95}},
			check: statusSlot(sched, Scheduled, Slot{Date: monday, Start: 9 * 60, Duration: 95})},
		{name: "move bad slot", cmd: Command{Kind: CmdMoveTask, Task: sched, Slot: Slot{Date: monday, Start: 1430, Duration: 30}}, want: CodeInvalidDuration, msg: "'scheduled' would end after midnight"},
		{name: "move unknown", cmd: Command{Kind: CmdMoveTask, Task: nobody, Slot: evening}, want: CodeTaskNotFound},

		// Unschedule clears the slot; Complete keeps it
		{name: "unschedule clears slot", cmd: Command{Kind: CmdUnscheduleTask, Task: sched}, check: statusSlot(sched, Staged, NoSlot)},
		{name: "unschedule active", cmd: Command{Kind: CmdUnscheduleTask, Task: active}, check: statusSlot(active, Staged, NoSlot)},
		{name: "complete keeps slot", cmd: Command{Kind: CmdCompleteTask, Task: sched}, check: statusSlot(sched, Completed, morning)},
		{name: "start keeps slot", cmd: Command{Kind: CmdStartTask, Task: sched}, check: statusSlot(sched, Active, morning)},
		{name: "reopen keeps slot", cmd: Command{Kind: CmdReopenTask, Task: done}, check: statusSlot(done, Scheduled, evening)},
		{name: "delete", cmd: Command{Kind: CmdDeleteTask, Task: done}, check: func(t *testing.T, w *World) {
			if _, ok := w.Task(done); ok {
				t.Error("task still there")
			}
		}},
		{name: "delete unknown", cmd: Command{Kind: CmdDeleteTask, Task: nobody}, want: CodeTaskNotFound, msg: NoSuchTask},

		// Clone
		{name: "clone to staging", setup: apply(Command{Kind: CmdAssignTask, Task: done, Assignee: alice}),
			cmd:   Command{Kind: CmdCloneTask, Task: newTask, Source: done, Slot: NoSlot},
			check: taskIs(newTask, Task{ID: newTask, Status: Staged, Slot: NoSlot, Service: svc, Assignee: alice, Title: "done"})},
		{name: "clone to a slot", cmd: Command{Kind: CmdCloneTask, Task: newTask, Source: active, Slot: evening},
			check: taskIs(newTask, Task{ID: newTask, Status: Scheduled, Slot: evening, Service: svc, Title: "active"})},
		{name: "clone unknown", cmd: Command{Kind: CmdCloneTask, Task: newTask, Source: nobody, Slot: NoSlot}, want: CodeTaskNotFound, msg: NoSuchTask},
		{name: "clone onto taken id", cmd: Command{Kind: CmdCloneTask, Task: sched, Source: active, Slot: NoSlot}, want: CodeDuplicateID, msg: "The copy of 'active' was not made"},
		{name: "clone bad slot", cmd: Command{Kind: CmdCloneTask, Task: newTask, Source: active, Slot: Slot{Date: monday, Start: 3, Duration: 5}}, want: CodeInvalidTime, msg: "00:03 is not on it"},

		// Rename, priority, assign, service
		{name: "rename", cmd: Command{Kind: CmdRenameTask, Task: sched, Text: "renamed ✓"}, check: title(sched, "renamed ✓")},
		{name: "rename to 128 bytes", cmd: Command{Kind: CmdRenameTask, Task: sched, Text: long}, check: title(sched, long)},
		{name: "rename to 129 bytes", cmd: Command{Kind: CmdRenameTask, Task: sched, Text: long + "x"}, want: CodeTitleTooLong, msg: "A title can be at most 128 bytes: this one is 129."},
		{name: "rename invalid utf8", cmd: Command{Kind: CmdRenameTask, Task: sched, Text: "\xc3"}, want: CodeInvalidText, msg: "A title must be text"},
		{name: "rename unknown", cmd: Command{Kind: CmdRenameTask, Task: nobody, Text: "x"}, want: CodeTaskNotFound},
		{name: "priority urgent", cmd: Command{Kind: CmdSetPriority, Task: staged, Priority: Urgent}, check: func(t *testing.T, w *World) {
			if got, _ := w.Task(staged); got.Priority != Urgent {
				t.Errorf("priority %v", got.Priority)
			}
		}},
		{name: "priority 4", cmd: Command{Kind: CmdSetPriority, Task: staged, Priority: 4}, want: CodeInvalidPriority, msg: "Choose a priority for 'staged'"},
		{name: "priority 255", cmd: Command{Kind: CmdSetPriority, Task: staged, Priority: 255}, want: CodeInvalidPriority},
		{name: "priority unknown task", cmd: Command{Kind: CmdSetPriority, Task: nobody, Priority: Low}, want: CodeTaskNotFound},
		{name: "assign", cmd: Command{Kind: CmdAssignTask, Task: sched, Assignee: alice}, check: assignee(sched, alice)},
		{name: "unassign", setup: apply(Command{Kind: CmdAssignTask, Task: sched, Assignee: alice}),
			cmd: Command{Kind: CmdAssignTask, Task: sched}, check: assignee(sched, ID{})},
		{name: "assign unknown user", cmd: Command{Kind: CmdAssignTask, Task: sched, Assignee: nobody}, want: CodeUserNotFound, msg: "The person chosen for 'scheduled' is not in this team"},
		{name: "assign unknown task", cmd: Command{Kind: CmdAssignTask, Task: nobody, Assignee: alice}, want: CodeTaskNotFound},
		{name: "set service", cmd: Command{Kind: CmdSetService, Task: sched, Service: svc2}, check: service(sched, svc2)},
		{name: "set service of a completed task", cmd: Command{Kind: CmdSetService, Task: done, Service: svc2}, check: service(done, svc2)},
		{name: "set service to the same", cmd: Command{Kind: CmdSetService, Task: sched, Service: svc}, check: service(sched, svc)},
		{name: "set unknown service", cmd: Command{Kind: CmdSetService, Task: sched, Service: nobody}, want: CodeServiceNotFound, msg: "The service chosen for 'scheduled' does not exist here"},
		{name: "set zero service", cmd: Command{Kind: CmdSetService, Task: sched}, want: CodeServiceNotFound},
		{name: "set service of unknown task", cmd: Command{Kind: CmdSetService, Task: nobody, Service: svc2}, want: CodeTaskNotFound},

		// Services and users
		{name: "create service", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: "Ops"}, check: func(t *testing.T, w *World) {
			if s, ok := w.Service(nobody); !ok || s.Name != "Ops" {
				t.Errorf("service %+v %v", s, ok)
			}
		}},
		{name: "create service duplicate", cmd: Command{Kind: CmdCreateService, Service: svc, Text: "Ops"}, want: CodeDuplicateID, msg: "The service 'Ops' was not created"},
		{name: "create service zero id", cmd: Command{Kind: CmdCreateService, Text: "Ops"}, want: CodeDuplicateID},
		{name: "create service empty name", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: ""}, want: CodeInvalidName, msg: "A service's name cannot be empty: type one."},
		{name: "create service blank name", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: " \t "}, want: CodeInvalidName},
		{name: "create service name 64", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: strings.Repeat("n", MaxName)}},
		{name: "create service name 65", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: strings.Repeat("n", MaxName+1)}, want: CodeNameTooLong, msg: "A service's name can be at most 64 bytes: this one is 65."},
		{name: "create service bad utf8", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: "\xff"}, want: CodeInvalidText},
		{name: "rename service", cmd: Command{Kind: CmdRenameService, Service: svc, Text: "Infra"}, check: func(t *testing.T, w *World) {
			if s, _ := w.Service(svc); s.Name != "Infra" {
				t.Errorf("name %q", s.Name)
			}
		}},
		{name: "rename unknown service", cmd: Command{Kind: CmdRenameService, Service: nobody, Text: "x"}, want: CodeServiceNotFound, msg: "That service does not exist here"},
		{name: "rename service empty", cmd: Command{Kind: CmdRenameService, Service: svc}, want: CodeInvalidName},
		{name: "create user", cmd: Command{Kind: CmdCreateUser, User: nobody, Text: "bob"}},
		{name: "create user duplicate", cmd: Command{Kind: CmdCreateUser, User: alice, Text: "bob"}, want: CodeDuplicateID},
		{name: "create user long name", cmd: Command{Kind: CmdCreateUser, User: nobody, Text: strings.Repeat("b", 65)}, want: CodeNameTooLong, msg: "A person's name can be at most 64 bytes"},
		{name: "rename user", cmd: Command{Kind: CmdRenameUser, User: alice, Text: "Alice"}},
		{name: "rename unknown user", cmd: Command{Kind: CmdRenameUser, User: nobody, Text: "bob"}, want: CodeUserNotFound, msg: "The person you would rename bob is not in this team"},

		// The grid
		{name: "grid 15", cmd: Command{Kind: CmdSetGrid, Grid: 15}, check: func(t *testing.T, w *World) {
			if w.Grid() != 15 {
				t.Errorf("grid %d", w.Grid())
			}
		}},
		{name: "grid 1", cmd: Command{Kind: CmdSetGrid, Grid: 1}},
		{name: "grid 60", cmd: Command{Kind: CmdSetGrid, Grid: 60}},
		{name: "grid 0", cmd: Command{Kind: CmdSetGrid, Grid: 0}, want: CodeInvalidGrid},
		{name: "grid 7 does not divide a day", cmd: Command{Kind: CmdSetGrid, Grid: 7}, want: CodeInvalidGrid, msg: "A grid of 7 minutes does not divide a day"},
		{name: "grid 120", cmd: Command{Kind: CmdSetGrid, Grid: 120}, want: CodeInvalidGrid},

		{name: "unknown command", cmd: Command{Kind: 0}, want: CodeUnknownCommand, msg: "reload the page"},
		{name: "unknown command 200", cmd: Command{Kind: 200}, want: CodeUnknownCommand},
	})
}

// runRules runs each row on a fresh fixture: a refused command leaves the
// world as it was and says why; an accepted one moves the revision by one,
// and its event alone takes the world before to the world after (Replay).
func runRules(t *testing.T, tests []rule) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := fixture(t)
			if tc.setup != nil {
				tc.setup(w)
			}
			before := cloneWorld(t, w)
			ev, err := w.Apply(tc.cmd)
			if got := codeOf(err); got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
			if err != nil {
				var e *Error
				errors.As(err, &e)
				if e.Message == "" {
					t.Error("error has no message")
				}
				if !strings.Contains(e.Message, tc.msg) {
					t.Errorf("message %q does not say %q", e.Message, tc.msg)
				}
				checkWords(t, e.Message)
				if !Equal(w, before) {
					t.Error("a refused command changed the world")
				}
				return
			}
			if ev.Revision != before.Revision()+1 || w.Revision() != ev.Revision {
				t.Errorf("event revision %d, world %d, before %d", ev.Revision, w.Revision(), before.Revision())
			}
			// The event alone must take the world before to the world after.
			if err := before.Replay(ev); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if !Equal(before, w) {
				t.Error("replaying the event does not give the same world")
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// TestTransitions checks every task command against every status: which
// are allowed and what status follows.
func TestTransitions(t *testing.T) {
	const refused = Status(255)
	tasks := map[Status]ID{Staged: staged, Scheduled: sched, Active: active, Completed: done}
	type row struct {
		kind CommandKind
		next [4]Status // indexed by the status before
	}
	keep := [4]Status{Staged, Scheduled, Active, Completed}
	rows := []row{
		{CmdScheduleTask, [4]Status{Scheduled, refused, refused, refused}},
		{CmdMoveTask, [4]Status{refused, Scheduled, Active, refused}},
		{CmdUnscheduleTask, [4]Status{refused, Staged, Staged, refused}},
		{CmdCompleteTask, [4]Status{refused, Completed, Completed, refused}},
		{CmdStartTask, [4]Status{refused, Active, refused, refused}},
		{CmdReopenTask, [4]Status{refused, refused, refused, Scheduled}},
		{CmdDeleteTask, keep}, // allowed from any; checked for removal
		{CmdRenameTask, keep},
		{CmdSetPriority, keep},
		{CmdAssignTask, keep},
		{CmdSetService, keep},
	}
	for _, r := range rows {
		for from := Staged; from <= Completed; from++ {
			t.Run(r.kind.String()+"/"+from.String(), func(t *testing.T) {
				w := fixture(t)
				c := Command{Kind: r.kind, Task: tasks[from], Slot: Slot{Date: monday + 1, Start: 600, Duration: 30}, Text: "t", Priority: Medium, Assignee: alice, Service: svc2}
				_, err := w.Apply(c)
				want := r.next[from]
				if want == refused {
					if codeOf(err) != CodeInvalidTransition {
						t.Fatalf("got %v, want INVALID_TRANSITION", err)
					}
					task, _ := w.Task(tasks[from])
					if msg := err.(*Error).Message; !strings.HasPrefix(msg, "'"+task.Title+"' ") {
						t.Errorf("message %q does not start with the task's title", msg)
					}
					checkWords(t, err.(*Error).Message)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, ok := w.Task(tasks[from])
				if r.kind == CmdDeleteTask {
					if ok {
						t.Error("not deleted")
					}
					return
				}
				if got.Status != want {
					t.Errorf("status %v, want %v", got.Status, want)
				}
				if (got.Status == Staged) != (got.Slot == NoSlot) {
					t.Errorf("status %v with slot %+v", got.Status, got.Slot)
				}
			})
		}
	}
}

func TestStagingQueue(t *testing.T) {
	w := New()
	w.Apply(Command{Kind: CmdCreateService, Service: svc, Text: "s"})
	add := func(n byte, p Priority) {
		if _, err := w.Apply(Command{Kind: CmdCreateTask, Task: id(n), Service: svc, Priority: p, Slot: NoSlot}); err != nil {
			t.Fatal(err)
		}
	}
	add(1+100, Low)
	add(2+100, Urgent)
	add(3+100, Medium)
	add(4+100, Urgent)
	add(5+100, High)
	// A scheduled task is not in the queue; an unscheduled one joins it in
	// the place its creation gives it.
	w.Apply(Command{Kind: CmdScheduleTask, Task: id(103), Slot: morning})
	w.Apply(Command{Kind: CmdCreateTask, Task: id(106), Service: svc, Priority: Medium, Slot: NoSlot})
	w.Apply(Command{Kind: CmdUnscheduleTask, Task: id(103)})
	var got []byte
	for _, task := range w.StagingQueue() {
		got = append(got, task.ID[15]-100)
	}
	want := []byte{2, 4, 5, 3, 6, 1}
	if string(got) != string(want) {
		t.Errorf("queue %v, want %v", got, want)
	}
}

func TestRollback(t *testing.T) {
	w := fixture(t)
	before := cloneWorld(t, w)
	w.Begin()
	for _, c := range []Command{
		{Kind: CmdCreateTask, Task: newTask, Service: svc, Slot: morning, Text: "n"},
		{Kind: CmdMoveTask, Task: newTask, Slot: evening},
		{Kind: CmdRenameTask, Task: sched, Text: "renamed"},
		{Kind: CmdSetService, Task: sched, Service: svc2},
		{Kind: CmdDeleteTask, Task: staged},
		{Kind: CmdRenameService, Service: svc, Text: "x"},
		{Kind: CmdCreateService, Service: nobody, Text: "y"},
		{Kind: CmdCreateUser, User: nobody, Text: "bob"},
		{Kind: CmdRenameUser, User: alice, Text: "Alice"},
		{Kind: CmdSetGrid, Grid: 30},
		{Kind: CmdDeleteTask, Task: newTask},
		{Kind: CmdRecolorService, Service: svc2, Color: 0xABCDEF},
		{Kind: CmdArchiveService, Service: svc2, Archived: true},
		{Kind: CmdRenameService, Service: svc2, Text: "Billing (old)"},
		{Kind: CmdRecolorService, Service: nobody, Color: 0x123456},
		{Kind: CmdArchiveService, Service: nobody, Archived: true},
		{Kind: CmdArchiveService, Service: nobody, Archived: false},
		{Kind: CmdSetSchedule, Schedule: Schedule{WorkdayStart: 0, WorkdayEnd: 60, FirstDay: 3, TimeZone: "Asia/Tokyo"}},
		{Kind: CmdSetSchedule, Schedule: Schedule{WorkdayStart: 60, WorkdayEnd: 120, FirstDay: 6, TimeZone: "America/New_York"}},
	} {
		if _, err := w.Apply(c); err != nil {
			t.Fatalf("%v: %v", c.Kind, err)
		}
	}
	w.Rollback()
	if !Equal(w, before) {
		t.Fatal("rollback did not restore the world")
	}
	if got, _ := w.Service(svc2); got != (Service{ID: svc2, Name: "Billing"}) || w.Schedule() != DefaultSchedule() {
		t.Fatalf("rollback left service %+v, schedule %+v", got, w.Schedule())
	}
	// After a commit the changes stay.
	w.Begin()
	w.Apply(Command{Kind: CmdDeleteTask, Task: staged})
	w.Commit()
	w.Rollback()
	if _, ok := w.Task(staged); ok {
		t.Error("a committed change was rolled back")
	}
}

func TestReplayRefusesDamage(t *testing.T) {
	w := fixture(t)
	rev := w.Revision()
	for _, ev := range []Event{
		{Revision: rev + 2, Kind: EvTaskDeleted, Task: Task{ID: sched}},
		{Revision: rev, Kind: EvTaskDeleted, Task: Task{ID: sched}},
		{Revision: rev + 1, Kind: EvTaskDeleted, Task: Task{ID: nobody}},
		{Revision: rev + 1, Kind: EvTaskCreated, Task: Task{ID: sched}},
		{Revision: rev + 1, Kind: EvTaskServiceChanged, Task: Task{ID: nobody, Service: svc2}},
		{Revision: rev + 1, Kind: EvTaskServiceChanged, Task: Task{ID: sched, Service: nobody}},
		{Revision: rev + 1, Kind: EvServiceRenamed, Service: Service{ID: nobody}},
		{Revision: rev + 1, Kind: EvUserRenamed, User: User{ID: nobody}},
		{Revision: rev + 1, Kind: EvGridChanged, Grid: 7},
		{Revision: rev + 1, Kind: EvServiceRecolored, Service: Service{ID: nobody, Color: 1}},
		{Revision: rev + 1, Kind: EvServiceArchived, Service: Service{ID: nobody}},
		{Revision: rev + 1, Kind: EvScheduleChanged, Schedule: Schedule{WorkdayStart: 1, WorkdayEnd: 0, TimeZone: "UTC"}},
		{Revision: rev + 1, Kind: 0},
	} {
		if err := w.Replay(ev); err == nil {
			t.Errorf("replay of %+v accepted", ev)
		}
	}
	if w.Revision() != rev {
		t.Error("refused replays moved the revision")
	}
}

func TestStateRoundTrip(t *testing.T) {
	w := fixture(t)
	w.Apply(Command{Kind: CmdSetGrid, Grid: 15})
	w.Apply(Command{Kind: CmdRecolorService, Service: svc, Color: 0x3B82F6})
	w.Apply(Command{Kind: CmdArchiveService, Service: svc2, Archived: true})
	w.Apply(Command{Kind: CmdSetSchedule, Schedule: Schedule{WorkdayStart: 420, WorkdayEnd: 1200, FirstDay: 6, TimeZone: "Europe/Berlin"}})
	back, err := FromState(w.State())
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(w, back) {
		t.Error("FromState(State()) differs")
	}
	st := w.State()
	st.Tasks = append(st.Tasks, st.Tasks[0])
	if _, err := FromState(st); codeOf(err) != CodeDuplicateID {
		t.Errorf("duplicate task: %v", err)
	}
	st = w.State()
	st.Grid = 7
	if _, err := FromState(st); codeOf(err) != CodeInvalidGrid {
		t.Errorf("bad grid: %v", err)
	}
	// A state without a schedule (an old snapshot's) has the default one.
	st = w.State()
	st.Schedule = Schedule{}
	if back, err := FromState(st); err != nil || back.Schedule() != DefaultSchedule() {
		t.Errorf("no schedule: %+v %v", back.Schedule(), err)
	}
	for _, bad := range []struct {
		schedule Schedule
		want     Code
	}{
		{Schedule{WorkdayStart: 600, WorkdayEnd: 600, TimeZone: "UTC"}, CodeInvalidTime},
		{Schedule{WorkdayStart: 0, WorkdayEnd: 60, FirstDay: 7, TimeZone: "UTC"}, CodeInvalidDate},
		{Schedule{WorkdayStart: 0, WorkdayEnd: 60, TimeZone: "no zone"}, CodeInvalidTimeZone},
	} {
		st = w.State()
		st.Schedule = bad.schedule
		if _, err := FromState(st); codeOf(err) != bad.want {
			t.Errorf("schedule %+v: %v, want %v", bad.schedule, err, bad.want)
		}
	}
	st = w.State()
	st.Services[0].Color = MaxColor + 1
	if _, err := FromState(st); codeOf(err) != CodeInvalidColor {
		t.Errorf("bad colour: %v", err)
	}
}

func TestIDs(t *testing.T) {
	x := ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	s := x.String()
	if s != "01234567-89ab-cdef-fedc-ba9876543210" {
		t.Errorf("String %q", s)
	}
	if back, ok := ParseID(s); !ok || back != x {
		t.Errorf("ParseID(%q) = %v %v", s, back, ok)
	}
	for _, bad := range []string{"", "01234567-89ab-cdef-fedc-ba987654321", "0123456789abcdeffedcba9876543210x", "g1234567-89ab-cdef-fedc-ba9876543210"} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestCodesAreStable(t *testing.T) {
	// Codes go on the wire: their numbers may never change.
	fixed := map[Code]string{
		0: "OK", 1: "BAD_FRAME", 2: "UNKNOWN_TYPE", 3: "TASK_NOT_FOUND", 4: "SERVICE_NOT_FOUND",
		5: "USER_NOT_FOUND", 6: "INVALID_DATE", 7: "INVALID_TIME", 8: "INVALID_DURATION",
		9: "INVALID_TRANSITION", 10: "TITLE_TOO_LONG", 11: "INVALID_PRIORITY", 18: "STORAGE_UNAVAILABLE",
		28: "TOO_MANY_CONNECTIONS", 29: "SERVICE_ARCHIVED", 30: "FORBIDDEN", 31: "CONFLICT",
		32: "INVALID_TIME_ZONE", 33: "INVALID_COLOR", 39: "NO_OWNER",
	}
	for c, name := range fixed {
		if c.String() != name {
			t.Errorf("code %d is %s, want %s", c, c, name)
		}
	}
	seen := map[string]bool{}
	for _, c := range Codes() {
		if seen[c.String()] || strings.HasPrefix(c.String(), "Code(") {
			t.Errorf("code %d has a bad or repeated name %q", c, c)
		}
		seen[c.String()] = true
	}
}

// helpers

func cloneWorld(t testing.TB, w *World) *World {
	c, err := FromState(w.State())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func setGrid(g uint16) func(*World) { return apply(Command{Kind: CmdSetGrid, Grid: g}) }

func apply(c Command) func(*World) {
	return func(w *World) {
		if _, err := w.Apply(c); err != nil {
			panic(err)
		}
	}
}

func taskIs(id ID, want Task) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		got, ok := w.Task(id)
		want.Created = w.Revision()
		if !ok || got != want {
			t.Errorf("task\n got %+v\nwant %+v", got, want)
		}
	}
}

func statusSlot(id ID, s Status, slot Slot) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		got, _ := w.Task(id)
		if got.Status != s || got.Slot != slot {
			t.Errorf("status %v slot %+v, want %v %+v", got.Status, got.Slot, s, slot)
		}
	}
}

func title(id ID, s string) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		if got, _ := w.Task(id); got.Title != s {
			t.Errorf("title %q, want %q", got.Title, s)
		}
	}
}

func assignee(id ID, u ID) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		if got, _ := w.Task(id); got.Assignee != u {
			t.Errorf("assignee %v, want %v", got.Assignee, u)
		}
	}
}

func service(id ID, s ID) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		if got, _ := w.Task(id); got.Service != s {
			t.Errorf("service %v, want %v", got.Service, s)
		}
	}
}

var (
	uuidRe    = regexp.MustCompile(`(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}`)
	commandRe = regexp.MustCompile(`\b(` + strings.Join(commandNames[1:], "|") + `)\b|[A-Z]+_[A-Z_]+`)
)

// checkWords checks a refusal's message is for a person: a sentence (a
// capital or a quoted title first, a full stop last) without an id, a
// command's name or a code.
func checkWords(t *testing.T, msg string) {
	t.Helper()
	if uuidRe.MatchString(msg) {
		t.Errorf("message %q shows an id", msg)
	}
	if m := commandRe.FindString(msg); m != "" {
		t.Errorf("message %q shows %q, a name a program knows", msg, m)
	}
	if c := msg[0]; !(c >= 'A' && c <= 'Z' || c == '\'') || !strings.HasSuffix(msg, ".") {
		t.Errorf("message %q is not a sentence", msg)
	}
}
