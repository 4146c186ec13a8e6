package world

import (
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
			return Event{}, errorf(CodeDuplicateID, "%s was not created: another task has its id. Reload the page and create it again.", upper(taskName(c.Text)))
		}
		if c.Priority > Urgent {
			return Event{}, errorf(CodeInvalidPriority, "Choose a priority for %s: low, medium, high or urgent.", taskName(c.Text))
		}
		if err := w.checkOpenService(c.Service, c.Text); err != nil {
			return Event{}, err
		}
		if err := w.checkAssignee(c.Assignee, c.Text); err != nil {
			return Event{}, err
		}
		if err := checkTitle(c.Text); err != nil {
			return Event{}, err
		}
		t := Task{ID: c.Task, Status: Staged, Priority: c.Priority, Slot: NoSlot, Service: c.Service, Assignee: c.Assignee, Title: c.Text}
		if c.Slot.Date != NoDate {
			if err := w.checkSlot(c.Slot, c.Text); err != nil {
				return Event{}, err
			}
			t.Status, t.Slot = Scheduled, c.Slot
		}
		return Event{Kind: EvTaskCreated, Task: t}, nil

	case CmdCloneTask:
		src, ok := w.tasks[c.Source]
		if !ok {
			return Event{}, errorf(CodeTaskNotFound, "%s", NoSuchTask)
		}
		if _, dup := w.tasks[c.Task]; dup || c.Task.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "The copy of %s was not made: another task has its id. Reload the page and copy it again.", taskName(src.Title))
		}
		// A copy keeps its source's service, so an archived one refuses it.
		if sv := w.services[src.Service]; sv != nil && sv.Archived {
			return Event{}, errorf(CodeServiceArchived, "The service '%s' is archived: it takes no new tasks. Restore it, or move %s to another service before you copy it.", sv.Name, taskName(src.Title))
		}
		t := *src
		t.ID, t.Status, t.Slot = c.Task, Staged, NoSlot
		if c.Slot.Date != NoDate {
			if err := w.checkSlot(c.Slot, src.Title); err != nil {
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
		if err := w.checkSlot(c.Slot, t.Title); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskScheduled, Task: Task{ID: t.ID, Slot: c.Slot}}, nil

	case CmdMoveTask:
		t, err := w.taskIn(c.Task, c.Kind, Scheduled, Active)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkSlot(c.Slot, t.Title); err != nil {
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
			return Event{}, errorf(CodeInvalidPriority, "Choose a priority for %s: low, medium, high or urgent.", taskName(t.Title))
		}
		return Event{Kind: EvTaskPrioritized, Task: Task{ID: t.ID, Priority: c.Priority}}, nil

	case CmdAssignTask:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkAssignee(c.Assignee, t.Title); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskAssigned, Task: Task{ID: t.ID, Assignee: c.Assignee}}, nil

	case CmdSetService:
		t, err := w.taskIn(c.Task, c.Kind, Staged, Scheduled, Active, Completed)
		if err != nil {
			return Event{}, err
		}
		if err := w.checkOpenService(c.Service, t.Title); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvTaskServiceChanged, Task: Task{ID: t.ID, Service: c.Service}}, nil

	case CmdCreateService:
		if _, dup := w.services[c.Service]; dup || c.Service.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "The service '%s' was not created: another service has its id. Reload the page and create it again.", c.Text)
		}
		if err := checkName(c.Text, "A service's name"); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvServiceCreated, Service: Service{ID: c.Service, Name: c.Text}}, nil

	case CmdRenameService:
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "%s", noSuchService)
		}
		if err := checkName(c.Text, "A service's name"); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvServiceRenamed, Service: Service{ID: c.Service, Name: c.Text}}, nil

	case CmdRecolorService:
		sv, ok := w.services[c.Service]
		if !ok {
			return Event{}, errorf(CodeServiceNotFound, "%s", noSuchService)
		}
		if c.Color > MaxColor {
			return Event{}, errorf(CodeInvalidColor, "The service '%s' keeps its colour: the one chosen is not a colour a page can show. Choose one from the palette.", sv.Name)
		}
		return Event{Kind: EvServiceRecolored, Service: Service{ID: c.Service, Color: c.Color}}, nil

	case CmdArchiveService:
		// Archiving an archived service (or restoring an open one) is
		// accepted and changes nothing, like any command that sets a value.
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "%s", noSuchService)
		}
		return Event{Kind: EvServiceArchived, Service: Service{ID: c.Service, Archived: c.Archived}}, nil

	case CmdSetSchedule:
		sch := c.Schedule
		if sch.WorkingDays == 0 {
			sch.WorkingDays = w.schedule.WorkingDays // a client that knows no working days keeps them
		}
		if err := checkSchedule(sch); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvScheduleChanged, Schedule: sch}, nil

	case CmdCreateUser:
		if _, dup := w.users[c.User]; dup || c.User.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "The person %s was not added: another has the same id. Reload the page and add them again.", c.Text)
		}
		if err := checkName(c.Text, "A person's name"); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvUserCreated, User: User{ID: c.User, Name: c.Text}}, nil

	case CmdRenameUser:
		if _, ok := w.users[c.User]; !ok {
			return Event{}, errorf(CodeUserNotFound, "The person you would rename %s is not in this team: reload the page to see the team as it is.", c.Text)
		}
		if err := checkName(c.Text, "A person's name"); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvUserRenamed, User: User{ID: c.User, Name: c.Text}}, nil

	case CmdSetGrid:
		if !validGrid(c.Grid) {
			return Event{}, errorf(CodeInvalidGrid, "A grid of %s does not divide a day into equal steps: choose one such as 5, 10, 15, 30 or 60 minutes.", length(uint32(c.Grid)))
		}
		return Event{Kind: EvGridChanged, Grid: c.Grid}, nil

	case CmdAddHoliday, CmdRemoveHoliday, CmdAddTimeOff, CmdRemoveTimeOff:
		return w.checkNonWorking(c)
	}
	return Event{}, errorf(CodeUnknownCommand, "This server does not know that change: reload the page to get the version of it the server speaks.")
}

// taskIn returns the task id if its status is one of allowed.
func (w *World) taskIn(id ID, kind CommandKind, allowed ...Status) (*Task, error) {
	t, ok := w.tasks[id]
	if !ok {
		return nil, errorf(CodeTaskNotFound, "%s", NoSuchTask)
	}
	for _, s := range allowed {
		if t.Status == s {
			return t, nil
		}
	}
	return nil, errorf(CodeInvalidTransition, "%s", transition(t.Title, kind, t.Status))
}

// NoSuchTask is the refusal of a command naming a task the world does not
// hold. The engine says more when it remembers the task's deletion.
const NoSuchTask = "That task does not exist (it may have been deleted before you loaded the page): reload to see the calendar as it is."

const noSuchService = "That service does not exist here: reload the page to see the services as they are."

// checkSlot enforces the scheduling rules: a date, a start before midnight
// on the grid, a positive duration on the grid that ends by midnight. The
// refusal names the task by title.
func (w *World) checkSlot(s Slot, title string) error {
	n := taskName(title)
	if s.Date == NoDate {
		return errorf(CodeInvalidDate, "Choose a day for %s: a task on the calendar needs one.", n)
	}
	if s.Start >= MinutesPerDay {
		return errorf(CodeInvalidTime, "%s cannot start at midnight or later: a day on the calendar ends at 24:00.", upper(n))
	}
	if s.Start%w.grid != 0 {
		return errorf(CodeInvalidTime, "Tasks start on the %d-minute grid: %s is not on it.", w.grid, clock(s.Start))
	}
	if s.Duration == 0 {
		return errorf(CodeInvalidDuration, "%s needs a length: at least %s.", upper(n), length(uint32(w.grid)))
	}
	if s.Duration%w.grid != 0 {
		return errorf(CodeInvalidDuration, "Tasks last a whole number of %d-minute steps: %s is not one.", w.grid, length(uint32(s.Duration)))
	}
	if uint32(s.Start)+uint32(s.Duration) > MinutesPerDay {
		return errorf(CodeInvalidDuration, "%s would end after midnight: a task ends the day it starts.", upper(n))
	}
	return nil
}

// checkOpenService refuses a service that does not exist or is archived:
// the service a new task, or a task moved to it, would have.
func (w *World) checkOpenService(id ID, title string) error {
	sv, ok := w.services[id]
	if !ok && len(w.services) == 0 {
		return errorf(CodeServiceNotFound, "There is no service to file %s under yet: an admin of the team creates one first.", taskName(title))
	}
	if !ok {
		return errorf(CodeServiceNotFound, "The service chosen for %s does not exist here: reload the page and choose another.", taskName(title))
	}
	if sv.Archived {
		return errorf(CodeServiceArchived, "The service '%s' is archived: it takes no new tasks. Restore it, or choose another service for %s.", sv.Name, taskName(title))
	}
	return nil
}

func (w *World) checkAssignee(id ID, title string) error {
	if id.IsZero() {
		return nil
	}
	if _, ok := w.users[id]; !ok {
		return errorf(CodeUserNotFound, "The person chosen for %s is not in this team: reload the page and choose someone else.", taskName(title))
	}
	return nil
}

func checkTitle(s string) error {
	if len(s) > MaxTitle {
		return errorf(CodeTitleTooLong, "A title can be at most %d bytes: this one is %d%s.", MaxTitle, len(s), bytesNote(s))
	}
	return checkText(s, "A title")
}

// checkName checks a service's or a person's name; what starts the
// refusal's sentence ("A service's name").
func checkName(s, what string) error {
	if len(s) > MaxName {
		return errorf(CodeNameTooLong, "%s can be at most %d bytes: this one is %d%s.", what, MaxName, len(s), bytesNote(s))
	}
	if strings.TrimSpace(s) == "" {
		return errorf(CodeInvalidName, "%s cannot be empty: type one.", what)
	}
	return checkText(s, what)
}

func checkText(s, what string) error {
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidText, "%s must be text (UTF-8), and this one holds bytes that are not: type it again.", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errorf(CodeInvalidText, "%s cannot hold a NUL character: remove it.", what)
	}
	return nil
}

// checkSchedule enforces the schedule's rules: a workday that starts
// before it ends, within one day; a first day of the week from Monday to
// Sunday; a time zone in the shape of an IANA name.
func checkSchedule(s Schedule) error {
	if s.WorkdayEnd > MinutesPerDay {
		return errorf(CodeInvalidTime, "The workday cannot end after midnight: choose an end at 24:00 or earlier.")
	}
	if s.WorkdayStart >= s.WorkdayEnd {
		return errorf(CodeInvalidTime, "The workday must start before it ends: it starts at %s and ends at %s.", clock(s.WorkdayStart), clock(s.WorkdayEnd))
	}
	if s.FirstDay > 6 {
		return errorf(CodeInvalidDate, "Choose the first day of the week from Monday to Sunday.")
	}
	if s.WorkingDays == 0 || s.WorkingDays > AllWeek {
		return errorf(CodeInvalidDate, "Choose the working days from Monday to Sunday: at least one.")
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
		return errorf(CodeInvalidTimeZone, "Choose a time zone: a name such as Europe/Berlin.")
	}
	if len(tz) > MaxTimeZone {
		return errorf(CodeInvalidTimeZone, "A time zone's name can be at most %d bytes: this one is %d.", MaxTimeZone, len(tz))
	}
	for i := 0; i < len(tz); i++ {
		switch b := tz[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-', b == '+':
		case b == '/':
			if i == 0 || i == len(tz)-1 || tz[i-1] == '/' {
				return errorf(CodeInvalidTimeZone, "There is no time zone called %q (it has an empty part between slashes): use a name such as Europe/Berlin.", tz)
			}
		default:
			return errorf(CodeInvalidTimeZone, "There is no time zone called %q: a zone's name holds only letters, digits and / _ - +, such as Europe/Berlin.", tz)
		}
	}
	return nil
}

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
