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
			return Event{}, errorf(CodeDuplicateID, "task id %s is taken", c.Task)
		}
		if c.Priority > Urgent {
			return Event{}, errorf(CodeInvalidPriority, "priority %d is not 0 (low) to 3 (urgent)", c.Priority)
		}
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "no service %s", c.Service)
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
		if _, ok := w.services[c.Service]; !ok {
			return Event{}, errorf(CodeServiceNotFound, "no service %s", c.Service)
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
	case EvServiceRenamed:
		if _, ok := w.services[ev.Service.ID]; !ok {
			return errorf(CodeServiceNotFound, "replayed rename names no service %s", ev.Service.ID)
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
	default:
		return errorf(CodeUnknownCommand, "unknown event kind %d", ev.Kind)
	}
	return nil
}

// change applies ev, which must be valid (check or canChange said so), and
// moves the world to ev.Revision. Every change goes through here so that the
// journal sees all of them.
func (w *World) change(ev *Event) {
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
