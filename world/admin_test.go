package world

import (
	"strings"
	"testing"
)

// The commands a team's administration sends: a service's colour and its
// archive, and the team's schedule.

// archived is the fixture's setup for rows about an archived service: the
// scheduled task moves to Billing (svc2), then Billing is archived.
func archived(w *World) {
	apply(Command{Kind: CmdSetService, Task: sched, Service: svc2})(w)
	apply(Command{Kind: CmdArchiveService, Service: svc2, Archived: true})(w)
}

func TestArchiveService(t *testing.T) {
	const says = "The service 'Billing' is archived: it takes no new tasks."
	runRules(t, []rule{
		{name: "archiving a service marks it archived and keeps its tasks",
			setup: apply(Command{Kind: CmdSetService, Task: sched, Service: svc2}),
			cmd:   Command{Kind: CmdArchiveService, Service: svc2, Archived: true},
			check: func(t *testing.T, w *World) {
				serviceIs(svc2, Service{ID: svc2, Name: "Billing", Archived: true})(t, w)
				service(sched, svc2)(t, w)
			}},
		{name: "restoring an archived service opens it again", setup: archived,
			cmd:   Command{Kind: CmdArchiveService, Service: svc2, Archived: false},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Billing"})},
		{name: "archiving an archived service is accepted and changes nothing", setup: archived,
			cmd:   Command{Kind: CmdArchiveService, Service: svc2, Archived: true},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Billing", Archived: true})},
		{name: "restoring an open service is accepted and changes nothing",
			cmd:   Command{Kind: CmdArchiveService, Service: svc2, Archived: false},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Billing"})},
		{name: "archiving an unknown service is refused", cmd: Command{Kind: CmdArchiveService, Service: nobody, Archived: true}, want: CodeServiceNotFound},
		{name: "archiving the zero service is refused", cmd: Command{Kind: CmdArchiveService, Archived: true}, want: CodeServiceNotFound},

		// No new tasks: created, copied, or moved into it.
		{name: "archived service takes no new task", setup: archived,
			cmd:  Command{Kind: CmdCreateTask, Task: newTask, Service: svc2, Slot: morning, Text: "new"},
			want: CodeServiceArchived, msg: says + " Restore it, or choose another service for 'new'."},
		{name: "archived service takes no new staged task", setup: archived,
			cmd:  Command{Kind: CmdCreateTask, Task: newTask, Service: svc2, Slot: NoSlot},
			want: CodeServiceArchived, msg: says},
		{name: "an unknown service is not found before it is archived",
			cmd: Command{Kind: CmdCreateTask, Task: newTask, Service: nobody, Slot: NoSlot}, want: CodeServiceNotFound},
		{name: "archived service takes no copy of its tasks", setup: archived,
			cmd:  Command{Kind: CmdCloneTask, Task: newTask, Source: sched, Slot: evening},
			want: CodeServiceArchived, msg: says},
		{name: "archived service takes no staged copy of its tasks", setup: archived,
			cmd:  Command{Kind: CmdCloneTask, Task: newTask, Source: sched, Slot: NoSlot},
			want: CodeServiceArchived, msg: "'Billing'"},
		{name: "a task of an open service is copied while another is archived", setup: archived,
			cmd:   Command{Kind: CmdCloneTask, Task: newTask, Source: active, Slot: evening},
			check: service(newTask, svc)},
		{name: "archived service takes no task moved into it",
			setup: apply(Command{Kind: CmdArchiveService, Service: svc2, Archived: true}),
			cmd:   Command{Kind: CmdSetService, Task: staged, Service: svc2},
			want:  CodeServiceArchived, msg: says + " Restore it, or choose another service for 'staged'."},
		{name: "archived service takes no task it already has back", setup: archived,
			cmd: Command{Kind: CmdSetService, Task: sched, Service: svc2}, want: CodeServiceArchived},
		{name: "archived service takes a new task once restored",
			setup: func(w *World) {
				archived(w)
				apply(Command{Kind: CmdArchiveService, Service: svc2})(w)
			},
			cmd:   Command{Kind: CmdCreateTask, Task: newTask, Service: svc2, Slot: NoSlot},
			check: service(newTask, svc2)},

		// Its tasks stay, and live on.
		{name: "a task of an archived service can be moved", setup: archived,
			cmd: Command{Kind: CmdMoveTask, Task: sched, Slot: evening}, check: statusSlot(sched, Scheduled, evening)},
		{name: "a task of an archived service can be started", setup: archived,
			cmd: Command{Kind: CmdStartTask, Task: sched}, check: statusSlot(sched, Active, morning)},
		{name: "a task of an archived service can be completed", setup: archived,
			cmd: Command{Kind: CmdCompleteTask, Task: sched}, check: statusSlot(sched, Completed, morning)},
		{name: "a task of an archived service can be unscheduled", setup: archived,
			cmd: Command{Kind: CmdUnscheduleTask, Task: sched}, check: statusSlot(sched, Staged, NoSlot)},
		{name: "a task of an archived service can be renamed", setup: archived,
			cmd: Command{Kind: CmdRenameTask, Task: sched, Text: "still here"}, check: title(sched, "still here")},
		{name: "a task of an archived service can be assigned", setup: archived,
			cmd: Command{Kind: CmdAssignTask, Task: sched, Assignee: alice}, check: assignee(sched, alice)},
		{name: "a task of an archived service can be moved to an open service", setup: archived,
			cmd: Command{Kind: CmdSetService, Task: sched, Service: svc}, check: service(sched, svc)},
		{name: "a task of an archived service can be deleted", setup: archived,
			cmd: Command{Kind: CmdDeleteTask, Task: sched}, check: func(t *testing.T, w *World) {
				if _, ok := w.Task(sched); ok {
					t.Error("task still there")
				}
			}},

		// The service itself can still be renamed and recoloured.
		{name: "an archived service can be renamed", setup: archived,
			cmd:   Command{Kind: CmdRenameService, Service: svc2, Text: "Billing (old)"},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Billing (old)", Archived: true})},
		{name: "an archived service can be recoloured", setup: archived,
			cmd:   Command{Kind: CmdRecolorService, Service: svc2, Color: 0x808080},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Billing", Color: 0x808080, Archived: true})},
	})
}

func TestRecolorService(t *testing.T) {
	runRules(t, []rule{
		{name: "recolouring sets the colour", cmd: Command{Kind: CmdRecolorService, Service: svc, Color: 0x3B82F6},
			check: serviceIs(svc, Service{ID: svc, Name: "Platform", Color: 0x3B82F6})},
		{name: "white 0xFFFFFF is the highest colour", cmd: Command{Kind: CmdRecolorService, Service: svc, Color: MaxColor},
			check: serviceIs(svc, Service{ID: svc, Name: "Platform", Color: MaxColor})},
		{name: "colour 0 gives the choice back to the palette",
			setup: apply(Command{Kind: CmdRecolorService, Service: svc, Color: 0x10B981}),
			cmd:   Command{Kind: CmdRecolorService, Service: svc, Color: 0},
			check: serviceIs(svc, Service{ID: svc, Name: "Platform"})},
		{name: "a colour over 0xFFFFFF is refused", cmd: Command{Kind: CmdRecolorService, Service: svc, Color: MaxColor + 1},
			want: CodeInvalidColor, msg: "The service 'Platform' keeps its colour"},
		{name: "a colour with an alpha byte is refused", cmd: Command{Kind: CmdRecolorService, Service: svc, Color: 0xFF3B82F6},
			want: CodeInvalidColor},
		{name: "recolouring an unknown service is refused", cmd: Command{Kind: CmdRecolorService, Service: nobody, Color: 1},
			want: CodeServiceNotFound},
		{name: "renaming a service keeps its colour and its archive",
			setup: func(w *World) {
				apply(Command{Kind: CmdRecolorService, Service: svc2, Color: 0xABCDEF})(w)
				apply(Command{Kind: CmdArchiveService, Service: svc2, Archived: true})(w)
			},
			cmd:   Command{Kind: CmdRenameService, Service: svc2, Text: "Invoices"},
			check: serviceIs(svc2, Service{ID: svc2, Name: "Invoices", Color: 0xABCDEF, Archived: true})},
		{name: "a new service has no colour and is open", cmd: Command{Kind: CmdCreateService, Service: nobody, Text: "Ops"},
			check: serviceIs(nobody, Service{ID: nobody, Name: "Ops"})},
	})
}

func TestSetSchedule(t *testing.T) {
	berlin := Schedule{WorkdayStart: 9 * 60, WorkdayEnd: 17*60 + 30, FirstDay: 6, TimeZone: "Europe/Berlin", WorkingDays: MondayToFriday}
	days := func(mask uint8) Command {
		return Command{Kind: CmdSetSchedule, Schedule: Schedule{WorkdayStart: 480, WorkdayEnd: 1080, TimeZone: "UTC", WorkingDays: mask}}
	}
	set := func(start, end uint16, first uint8, tz string) Command {
		return Command{Kind: CmdSetSchedule, Schedule: Schedule{WorkdayStart: start, WorkdayEnd: end, FirstDay: first, TimeZone: tz}}
	}
	tz := func(name string) Command { return set(480, 1080, 0, name) }
	rows := []rule{
		{name: "a schedule is set", cmd: Command{Kind: CmdSetSchedule, Schedule: berlin}, check: scheduleIs(berlin)},
		{name: "the workday may be the whole day", cmd: set(0, 1440, 0, "UTC"), check: scheduleIs(Schedule{0, 1440, 0, "UTC", MondayToFriday})},
		{name: "the workday may be one minute", cmd: set(1439, 1440, 0, "UTC")},
		{name: "a workday that ends as it starts is refused", cmd: set(600, 600, 0, "UTC"), want: CodeInvalidTime, msg: "10:00"},
		{name: "a workday that ends before it starts is refused", cmd: set(1080, 480, 0, "UTC"), want: CodeInvalidTime, msg: "starts at 18:00 and ends at 08:00"},
		{name: "a workday that ends after midnight is refused", cmd: set(480, 1441, 0, "UTC"), want: CodeInvalidTime, msg: "midnight"},
		{name: "a workday that starts and ends after midnight is refused", cmd: set(1500, 1600, 0, "UTC"), want: CodeInvalidTime},
		{name: "the week may start on Sunday", cmd: set(480, 1080, 6, "UTC")},
		{name: "a first day of the week past Sunday is refused", cmd: set(480, 1080, 7, "UTC"), want: CodeInvalidDate, msg: "Sunday"},
		{name: "first day 255 is refused", cmd: set(480, 1080, 255, "UTC"), want: CodeInvalidDate},
		{name: "the time zone may hold a region and a city", cmd: tz("America/Argentina/Buenos_Aires")},
		{name: "the time zone may hold a hyphen", cmd: tz("America/Port-au-Prince")},
		{name: "the time zone may hold a sign and digits", cmd: tz("Etc/GMT+5")},
		{name: "the time zone may be 64 bytes", cmd: tz(strings.Repeat("A", MaxTimeZone))},
		{name: "a time zone of 65 bytes is refused", cmd: tz(strings.Repeat("A", MaxTimeZone+1)), want: CodeInvalidTimeZone, msg: "at most 64 bytes: this one is 65."},
		{name: "an empty time zone is refused", cmd: tz(""), want: CodeInvalidTimeZone, msg: "Choose a time zone"},
		{name: "a time zone with a space is refused", cmd: tz("Europe/Berlin "), want: CodeInvalidTimeZone, msg: `There is no time zone called "Europe/Berlin "`},
		{name: "a time zone that is a path is refused", cmd: tz("../../etc/passwd"), want: CodeInvalidTimeZone},
		{name: "a time zone starting with a slash is refused", cmd: tz("/UTC"), want: CodeInvalidTimeZone, msg: "empty part"},
		{name: "a time zone ending with a slash is refused", cmd: tz("Europe/"), want: CodeInvalidTimeZone},
		{name: "a time zone with two slashes in a row is refused", cmd: tz("Europe//Berlin"), want: CodeInvalidTimeZone},
		{name: "a time zone beyond ASCII is refused", cmd: tz("Europe/Zürich"), want: CodeInvalidTimeZone},
		{name: "a time zone that is not UTF-8 is refused", cmd: tz("UTC\xff"), want: CodeInvalidTimeZone},
		{name: "a time zone holding NUL is refused", cmd: tz("UTC\x00"), want: CodeInvalidTimeZone},
		{name: "the time zone is checked after the hours", cmd: set(600, 500, 9, ""), want: CodeInvalidTime},
		{name: "working days are set", cmd: days(0x3E), check: scheduleIs(Schedule{480, 1080, 0, "UTC", 0x3E})},
		{name: "every day may be a working day", cmd: days(AllWeek)},
		{name: "working days 0 keep the world's (a client that knows none)",
			setup: apply(days(0x41)), cmd: set(540, 1020, 0, "UTC"), check: scheduleIs(Schedule{540, 1020, 0, "UTC", 0x41})},
		{name: "a working day past Sunday is refused", cmd: days(0x80), want: CodeInvalidDate, msg: "working days"},
	}
	runRules(t, rows)

	t.Run("a new world has the default schedule", func(t *testing.T) {
		if got, want := New().Schedule(), (Schedule{480, 1080, 0, "UTC", MondayToFriday}); got != want || DefaultSchedule() != want {
			t.Errorf("schedule %+v, want %+v", got, want)
		}
	})
}

// TestReplayOfAdminEvents replays each new event onto a world, as boot
// does, and refuses the damaged ones.
func TestReplayOfAdminEvents(t *testing.T) {
	w := fixture(t)
	rev := w.Revision()
	for _, ev := range []Event{
		{Kind: EvServiceRecolored, Service: Service{ID: svc, Color: 0x123456}},
		{Kind: EvServiceArchived, Service: Service{ID: svc2, Archived: true}},
		{Kind: EvScheduleChanged, Schedule: Schedule{WorkdayStart: 420, WorkdayEnd: 900, FirstDay: 6, TimeZone: "Asia/Tokyo", WorkingDays: MondayToFriday}},
	} {
		rev++
		ev.Revision = rev
		if err := w.Replay(ev); err != nil {
			t.Fatalf("replay %v: %v", ev.Kind, err)
		}
	}
	serviceIs(svc, Service{ID: svc, Name: "Platform", Color: 0x123456})(t, w)
	serviceIs(svc2, Service{ID: svc2, Name: "Billing", Archived: true})(t, w)
	scheduleIs(Schedule{420, 900, 6, "Asia/Tokyo", MondayToFriday})(t, w)

	for _, ev := range []Event{
		{Kind: EvServiceRecolored, Service: Service{ID: nobody, Color: 1}},
		{Kind: EvServiceRecolored, Service: Service{ID: svc, Color: MaxColor + 1}},
		{Kind: EvServiceArchived, Service: Service{ID: nobody, Archived: true}},
		{Kind: EvScheduleChanged, Schedule: Schedule{WorkdayStart: 900, WorkdayEnd: 420, TimeZone: "UTC"}},
		{Kind: EvScheduleChanged, Schedule: Schedule{WorkdayStart: 0, WorkdayEnd: 60, FirstDay: 7, TimeZone: "UTC"}},
		{Kind: EvScheduleChanged, Schedule: Schedule{WorkdayStart: 0, WorkdayEnd: 60, TimeZone: ""}},
	} {
		ev.Revision = rev + 1
		if err := w.Replay(ev); err == nil {
			t.Errorf("replay of %+v accepted", ev)
		}
	}
	if w.Revision() != rev {
		t.Error("refused replays moved the revision")
	}
	// A task created in an archived service replays: the log holds only
	// what was accepted, under the rules of its day.
	created := Event{Revision: rev + 1, Kind: EvTaskCreated, Task: Task{ID: newTask, Service: svc2, Slot: NoSlot}}
	if err := w.Replay(created); err != nil {
		t.Errorf("replay of a task created before its service was archived: %v", err)
	}
}

func serviceIs(id ID, want Service) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		t.Helper()
		if got, ok := w.Service(id); !ok || got != want {
			t.Errorf("service\n got %+v\nwant %+v", got, want)
		}
	}
}

func scheduleIs(want Schedule) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		t.Helper()
		if got := w.Schedule(); got != want {
			t.Errorf("schedule %+v, want %+v", got, want)
		}
	}
}
