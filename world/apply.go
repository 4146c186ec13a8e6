package world

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Apply validates c against the world. If the rules accept it, Apply changes
// the world, advances the revision by one and returns the event describing the
// change. If they refuse it, Apply returns an *Error and the world is
// untouched.
func (w *World) Apply(c Command) (Event, error) {
	ev, err := w.check(c)
	if err != nil {
		return Event{}, err
	}
	ev.Revision = w.rev + 1
	w.change(&ev)
	return ev, nil
}

// Replay applies an event taken from the log: the command that produced it
// was accepted once, so the rules are not checked again, but the event must
// follow the current revision and name entities that exist, or the log is
// damaged and Replay says so.
func (w *World) Replay(ev Event) error {
	if ev.Revision != w.rev+1 {
		return errorf(CodeInternal, "event at revision %d does not follow revision %d", ev.Revision, w.rev)
	}
	if err := w.canChange(&ev); err != nil {
		return err
	}
	w.change(&ev)
	return nil
}

// check runs the rules for c and returns the event it would yield, without
// its revision.
func (w *World) check(c Command) (Event, error) {
	switch c.Kind {
	case CmdCreateTask:
		if _, dup := w.tasks[c.Task]; dup || c.Task.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "task id %s is taken", c.Task)
		}
		if c.Priority > Urgent {
			return Event{}, errorf(CodeInvalidPriority, "priority %d is not 0 (low) to 3 (urgent)", c.Priority)
		}
		if err := w.checkOpenService(c.Service); err != nil {
			return Event{}, err
		}
		if err := w.checkAssignee(c.Assignee); err != nil {
			return Event{}, err
		}
		if err := checkTitle(c.Text); err != nil {
			return Event{}, err
		}
		t := Task{ID: c.Task, Status: Staged, Priority: c.Priority, Slot: NoSlot, Service: c.Service, Assignee: c.Assignee, Title: c.Text}
		if c.Slot.Date != NoDate {
			if err := w.checkSlot(c.Slot); err != nil {
				return Event{}, err
			}
			t.Status, t.Slot = Scheduled, c.Slot
		}
		return Event{Kind: EvTaskCreated, Task: t}, nil

	case CmdCloneTask:
		src, ok := w.tasks[c.Source]
		if !ok {
			return Event{}, errorf(CodeTaskNotFound, "no task %s to clone", c.Source)
		}
		if _, dup := w.tasks[c.Task]; dup || c.Task.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "task id %s is taken", c.Task)
		}
		// A copy keeps its source's service, so an archived one refuses it.
		if sv := w.services[src.Service]; sv != nil && sv.Archived {
			return Event{}, errorf(CodeServiceArchived, "The service '%s' is archived: it takes no new tasks. Restore it, or move the task to another service before you copy it.", sv.Name)
		}
		t := *src
		t.ID, t.Status, t.Slot = c.Task, Staged, NoSlot
		if c.Slot.Date != NoDate {
			if err := w.checkSlot(c.Slot); err != nil {
				return Event{}, err
			}
			t.Status, t.Slot = Scheduled, c.Slot
		}
		return Event{Kind: EvTaskCreated, Task: t}, nil

	case CmdScheduleTask:
		t, err := w.taskIn(c.Task, c.Kind, Staged)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkSlot(c.Slot); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskScheduled, Task: Task{ID: t.ID, Slot: c.Slot}}, nil

	case CmdMoveTask:
		t, err := w.taskIn(c.Task, c.Kind, Scheduled, Active)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkSlot(c.Slot); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskMoved, Task: Task{ID: t.ID, Slot: c.Slot}}, nil

	case CmdUnscheduleTask:
		t, err := w.taskIn(c.Task, c.Kind, Scheduled, Active)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskUnscheduled, Task: Task{ID: t.ID}}, nil

	case CmdCompleteTask:
		t, err := w.taskIn(c.Task, c.Kind, Scheduled, Active)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskCompleted, Task: Task{ID: t.ID}}, nil

	case CmdStartTask:
		t, err := w.taskIn(c.Task, c.Kind, Scheduled)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskStarted, Task: Task{ID: t.ID}}, nil

	case CmdReopenTask:
		t, err := w.taskIn(c.Task, c.Kind, Completed)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskReopened, Task: Task{ID: t.ID}}, nil

	case CmdDeleteTask:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskDeleted, Task: Task{ID: t.ID}}, nil

	case CmdRenameTask:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if err := checkTitle(c.Text); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskRenamed, Task: Task{ID: t.ID, Title: c.Text}}, nil

	case CmdSetPriority:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if c.Priority > Urgent {
			return Event{}, errorf(CodeInvalidPriority, "priority %d is not 0 (low) to 3 (urgent)", c.Priority)
		}
		return Event{Kind: EvTaskPrioritized, Task: Task{ID: t.ID, Priority: c.Priority}}, nil

	case CmdAssignTask:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkAssignee(c.Assignee); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskAssigned, Task: Task{ID: t.ID, Assignee: c.Assignee}}, nil

	case CmdSetService:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkOpenService(c.Service); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskServiceChanged, Task: Task{ID: t.ID, Service: c.Service}}, nil

	case CmdCreateService:
		if _, dup := w.services[c.Service]; dup || c.Service.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "service id %s is taken", c.Service)
		}
		if err := checkName(c.Text); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvServiceCreated, Service: Service{ID: c.Service, Name: c.Text}}, nil

	case CmdRenameService:
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "no service %s", c.Service)
		}
		if err := checkName(c.Text); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvServiceRenamed, Service: Service{ID: c.Service, Name: c.Text}}, nil

	case CmdRecolorService:
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "no service %s", c.Service)
		}
		if c.Color > MaxColor {
			return Event{}, errorf(CodeInvalidColor, "colour %#x is not 0xRRGGBB: at most 0xFFFFFF", c.Color)
		}
		return Event{Kind: EvServiceRecolored, Service: Service{ID: c.Service, Color: c.Color}}, nil

	case CmdArchiveService:
		// Archiving an archived service (or restoring an open one) is
		// accepted and changes nothing, like any command that sets a value.
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "no service %s", c.Service)
		}
		return Event{Kind: EvServiceArchived, Service: Service{ID: c.Service, Archived: c.Archived}}, nil

	case CmdSetSchedule:
		if err := checkSchedule(c.Schedule); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvScheduleChanged, Schedule: c.Schedule}, nil

	case CmdCreateUser:
		if _, dup := w.users[c.User]; dup || c.User.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "user id %s is taken", c.User)
		}
		if err := checkName(c.Text); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvUserCreated, User: User{ID: c.User, Name: c.Text}}, nil

	case CmdRenameUser:
		if _, ok := w.users[c.User]; !ok {
			return Event{}, errorf(CodeUserNotFound, "no user %s", c.User)
		}
		if err := checkName(c.Text); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvUserRenamed, User: User{ID: c.User, Name: c.Text}}, nil

	case CmdSetGrid:
		if !validGrid(c.Grid) {
			return Event{}, errorf(CodeInvalidGrid, "a grid of %d minutes is not 1 to 60 minutes dividing a day", c.Grid)
		}
		return Event{Kind: EvGridChanged, Grid: c.Grid}, nil

	case CmdAddHoliday, CmdRemoveHoliday, CmdAddTimeOff, CmdRemoveTimeOff:
		return w.checkNonWorking(c)
	}
	return Event{}, errorf(CodeUnknownCommand, "unknown command kind %d", c.Kind)
}

// taskIn returns the task id if its status is one of allowed.
func (w *World) taskIn(id ID, kind CommandKind, allowed ...Status) (*Task, error) {
	t, ok := w.tasks[id]
	if !ok {
		return nil, errorf(CodeTaskNotFound, "no task %s", id)
	}
	for _, s := range allowed {
		if t.Status == s {
			return t, nil
		}
	}
	return nil, errorf(CodeInvalidTransition, "cannot %s a %s task", verb(kind), t.Status)
}

func verb(k CommandKind) string {
	switch k {
	case CmdScheduleTask:
		return "schedule"
	case CmdMoveTask:
		return "move"
	case CmdUnscheduleTask:
		return "unschedule"
	case CmdCompleteTask:
		return "complete"
	case CmdStartTask:
		return "start"
	case CmdReopenTask:
		return "reopen"
	}
	return strings.ToLower(k.String())
}

// checkSlot enforces the scheduling rules: a date, a start before midnight
// on the grid, a positive duration on the grid that ends by midnight.
func (w *World) checkSlot(s Slot) error {
	if s.Date == NoDate {
		return errorf(CodeInvalidDate, "date 0xFFFF means no date; a slot needs one")
	}
	if s.Start >= MinutesPerDay {
		return errorf(CodeInvalidTime, "start %d is not before midnight (1440)", s.Start)
	}
	if s.Start%w.grid != 0 {
		return errorf(CodeInvalidTime, "start %d is not on the %d-minute grid", s.Start, w.grid)
	}
	if s.Duration == 0 {
		return errorf(CodeInvalidDuration, "duration must be more than 0 minutes")
	}
	if s.Duration%w.grid != 0 {
		return errorf(CodeInvalidDuration, "duration %d is not on the %d-minute grid", s.Duration, w.grid)
	}
	if uint32(s.Start)+uint32(s.Duration) > MinutesPerDay {
		return errorf(CodeInvalidDuration, "start %d plus duration %d crosses midnight", s.Start, s.Duration)
	}
	return nil
}

// checkOpenService refuses a service that does not exist or is archived:
// the service a new task, or a task moved to it, would have.
func (w *World) checkOpenService(id ID) error {
	sv, ok := w.services[id]
	if !ok {
		return errorf(CodeServiceNotFound, "no service %s", id)
	}
	if sv.Archived {
		return errorf(CodeServiceArchived, "The service '%s' is archived: it takes no new tasks. Restore it, or choose another service.", sv.Name)
	}
	return nil
}

func (w *World) checkAssignee(id ID) error {
	if id.IsZero() {
		return nil
	}
	if _, ok := w.users[id]; !ok {
		return errorf(CodeUserNotFound, "no user %s to assign", id)
	}
	return nil
}

func checkTitle(s string) error {
	if len(s) > MaxTitle {
		return errorf(CodeTitleTooLong, "title is %d bytes; at most %d", len(s), MaxTitle)
	}
	return checkText(s, "title")
}

func checkName(s string) error {
	if len(s) > MaxName {
		return errorf(CodeNameTooLong, "name is %d bytes; at most %d", len(s), MaxName)
	}
	if strings.TrimSpace(s) == "" {
		return errorf(CodeInvalidName, "name is empty")
	}
	return checkText(s, "name")
}

func checkText(s, what string) error {
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidText, "%s is not valid UTF-8", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errorf(CodeInvalidText, "%s holds a NUL byte", what)
	}
	return nil
}

// checkSchedule enforces the schedule's rules: a workday that starts
// before it ends, within one day; a first day of the week from Monday to
// Sunday; a time zone in the shape of an IANA name.
func checkSchedule(s Schedule) error {
	if s.WorkdayEnd > MinutesPerDay {
		return errorf(CodeInvalidTime, "the workday cannot end after midnight: %d minutes is past 1440 (24:00)", s.WorkdayEnd)
	}
	if s.WorkdayStart >= s.WorkdayEnd {
		return errorf(CodeInvalidTime, "the workday must start before it ends: it starts at %s and ends at %s", clock(s.WorkdayStart), clock(s.WorkdayEnd))
	}
	if s.FirstDay > 6 {
		return errorf(CodeInvalidDate, "first day of the week %d is not 0 (Monday) to 6 (Sunday)", s.FirstDay)
	}
	return checkTimeZone(s.TimeZone)
}

// checkTimeZone checks the shape of an IANA time zone name ("UTC",
// "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"): 1 to
// MaxTimeZone bytes of letters, digits, '/', '_', '-' and '+', with no
// empty part between slashes. Whether the zone exists is for whoever
// submits the command to check: the world does no IO.
func checkTimeZone(tz string) error {
	if tz == "" {
		return errorf(CodeInvalidTimeZone, "the time zone is empty: give an IANA name such as Europe/Berlin")
	}
	if len(tz) > MaxTimeZone {
		return errorf(CodeInvalidTimeZone, "the time zone is %d bytes; at most %d", len(tz), MaxTimeZone)
	}
	for i := 0; i < len(tz); i++ {
		switch b := tz[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-', b == '+':
		case b == '/':
			if i == 0 || i == len(tz)-1 || tz[i-1] == '/' {
				return errorf(CodeInvalidTimeZone, "the time zone %q has an empty part between slashes: give an IANA name such as Europe/Berlin", tz)
			}
		default:
			return errorf(CodeInvalidTimeZone, "the time zone %q is not an IANA name (letters, digits and / _ - + only), such as Europe/Berlin", tz)
		}
	}
	return nil
}

// clock writes minutes from midnight as "08:30".
func clock(m uint16) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func validGrid(g uint16) bool { return g >= 1 && g <= 60 && MinutesPerDay%g == 0 }

// canChange reports whether ev names entities that exist (or, for creations,
// do not yet exist), so that change cannot corrupt the world.
func (w *World) canChange(ev *Event) error {
	switch ev.Kind {
	case EvTaskCreated:
		if _, dup := w.tasks[ev.Task.ID]; dup {
			return errorf(CodeDuplicateID, "replayed task %s exists already", ev.Task.ID)
		}
	case EvTaskScheduled, EvTaskMoved, EvTaskUnscheduled, EvTaskCompleted, EvTaskDeleted,
		EvTaskRenamed, EvTaskPrioritized, EvTaskAssigned, EvTaskStarted, EvTaskReopened:
		if _, ok := w.tasks[ev.Task.ID]; !ok {
			return errorf(CodeTaskNotFound, "replayed %s names no task %s", ev.Kind, ev.Task.ID)
		}
	case EvTaskServiceChanged:
		if _, ok := w.tasks[ev.Task.ID]; !ok {
			return errorf(CodeTaskNotFound, "replayed %s names no task %s", ev.Kind, ev.Task.ID)
		}
		if _, ok := w.services[ev.Task.Service]; !ok {
			return errorf(CodeServiceNotFound, "replayed %s names no service %s", ev.Kind, ev.Task.Service)
		}
	case EvServiceCreated:
		if _, dup := w.services[ev.Service.ID]; dup {
			return errorf(CodeDuplicateID, "replayed service %s exists already", ev.Service.ID)
		}
	case EvServiceRenamed, EvServiceArchived:
		if _, ok := w.services[ev.Service.ID]; !ok {
			return errorf(CodeServiceNotFound, "replayed %s names no service %s", ev.Kind, ev.Service.ID)
		}
	case EvServiceRecolored:
		if _, ok := w.services[ev.Service.ID]; !ok {
			return errorf(CodeServiceNotFound, "replayed %s names no service %s", ev.Kind, ev.Service.ID)
		}
		if ev.Service.Color > MaxColor {
			return errorf(CodeInvalidColor, "replayed colour %#x", ev.Service.Color)
		}
	case EvScheduleChanged:
		if err := checkSchedule(ev.Schedule); err != nil {
			return err
		}
	case EvUserCreated:
		if _, dup := w.users[ev.User.ID]; dup {
			return errorf(CodeDuplicateID, "replayed user %s exists already", ev.User.ID)
		}
	case EvUserRenamed:
		if _, ok := w.users[ev.User.ID]; !ok {
			return errorf(CodeUserNotFound, "replayed rename names no user %s", ev.User.ID)
		}
	case EvGridChanged:
		if !validGrid(ev.Grid) {
			return errorf(CodeInvalidGrid, "replayed grid %d", ev.Grid)
		}
	case EvHolidayAdded, EvHolidayRemoved, EvTimeOffAdded, EvTimeOffRemoved:
		return w.canChangeNonWorking(ev)
	default:
		return errorf(CodeUnknownCommand, "unknown event kind %d", ev.Kind)
	}
	return nil
}

// changeState applies ev, which must be valid (check or canChange said so),
// and moves the world to ev.Revision. Every change goes through here (by way
// of change, which keeps the totals) so that the journal sees all of them.
func (w *World) changeState(ev *Event) {
	w.note(undo{kind: undoRev, rev: w.rev})
	w.rev = ev.Revision
	switch ev.Kind {
	case EvTaskCreated:
		t := ev.Task
		t.Created = ev.Revision
		ev.Task.Created = ev.Revision
		w.note(undo{kind: undoTask, id: t.ID})
		w.tasks[t.ID] = &t
	case EvTaskDeleted:
		t := w.saveTask(ev.Task.ID)
		delete(w.tasks, t.ID)
	case EvServiceCreated, EvServiceRenamed:
		if s, ok := w.services[ev.Service.ID]; ok {
			w.note(undo{kind: undoService, id: s.ID, service: *s, existed: true})
			s.Name = ev.Service.Name
		} else {
			w.note(undo{kind: undoService, id: ev.Service.ID})
			s := ev.Service
			w.services[s.ID] = &s
		}
	case EvServiceRecolored, EvServiceArchived:
		s := w.services[ev.Service.ID]
		w.note(undo{kind: undoService, id: s.ID, service: *s, existed: true})
		if ev.Kind == EvServiceRecolored {
			s.Color = ev.Service.Color
		} else {
			s.Archived = ev.Service.Archived
		}
	case EvScheduleChanged:
		w.note(undo{kind: undoSchedule, schedule: w.schedule})
		w.schedule = ev.Schedule
	case EvUserCreated, EvUserRenamed:
		if u, ok := w.users[ev.User.ID]; ok {
			w.note(undo{kind: undoUser, id: u.ID, user: *u, existed: true})
			u.Name = ev.User.Name
		} else {
			w.note(undo{kind: undoUser, id: ev.User.ID})
			u := ev.User
			w.users[u.ID] = &u
		}
	case EvGridChanged:
		w.note(undo{kind: undoGrid, grid: w.grid})
		w.grid = ev.Grid
	case EvHolidayAdded, EvHolidayRemoved, EvTimeOffAdded, EvTimeOffRemoved:
		w.changeNonWorking(ev)
	default:
		t := w.saveTask(ev.Task.ID)
		switch ev.Kind {
		case EvTaskScheduled, EvTaskMoved:
			if ev.Kind == EvTaskScheduled {
				t.Status = Scheduled
			}
			t.Slot = ev.Task.Slot
		case EvTaskUnscheduled:
			t.Status, t.Slot = Staged, NoSlot
		case EvTaskCompleted:
			t.Status = Completed
		case EvTaskStarted:
			t.Status = Active
		case EvTaskReopened:
			t.Status = Scheduled
		case EvTaskRenamed:
			t.Title = ev.Task.Title
		case EvTaskPrioritized:
			t.Priority = ev.Task.Priority
		case EvTaskAssigned:
			t.Assignee = ev.Task.Assignee
		case EvTaskServiceChanged:
			t.Service = ev.Task.Service
		}
	}
}

// saveTask journals the task's current value before it changes.
func (w *World) saveTask(id ID) *Task {
	t := w.tasks[id]
	w.note(undo{kind: undoTask, id: id, task: *t, existed: true})
	return t
}
