package wire

import "txxt/world"

// eventTypes maps world event kinds to frame types, and frameKinds back.
var eventTypes = [...]byte{
	world.EvTaskCreated:        TypeTaskCreated,
	world.EvTaskScheduled:      TypeTaskScheduled,
	world.EvTaskMoved:          TypeTaskMoved,
	world.EvTaskUnscheduled:    TypeTaskUnscheduled,
	world.EvTaskCompleted:      TypeTaskCompleted,
	world.EvTaskDeleted:        TypeTaskDeleted,
	world.EvTaskRenamed:        TypeTaskRenamed,
	world.EvTaskPrioritized:    TypeTaskPrioritized,
	world.EvTaskAssigned:       TypeTaskAssigned,
	world.EvTaskStarted:        TypeTaskStarted,
	world.EvTaskReopened:       TypeTaskReopened,
	world.EvServiceCreated:     TypeServiceCreated,
	world.EvServiceRenamed:     TypeServiceRenamed,
	world.EvUserCreated:        TypeUserCreated,
	world.EvUserRenamed:        TypeUserRenamed,
	world.EvGridChanged:        TypeGridChanged,
	world.EvTaskServiceChanged: TypeTaskServiceChanged,
	world.EvServiceRecolored:   TypeServiceRecolored,
	world.EvServiceArchived:    TypeServiceArchived,
	world.EvScheduleChanged:    TypeScheduleChanged,
	world.EvHolidayAdded:       TypeHolidayAdded,
	world.EvHolidayRemoved:     TypeHolidayRemoved,
	world.EvTimeOffAdded:       TypeTimeOffAdded,
	world.EvTimeOffRemoved:     TypeTimeOffRemoved,
}

var frameKinds = func() (m [256]world.EventKind) {
	for k, t := range eventTypes {
		if t != 0 {
			m[t] = world.EventKind(k)
		}
	}
	return m
}()

// eventSizes is each event frame's exact length.
var eventSizes = [256]int{
	TypeTaskCreated: 9 + TaskRecordSize, TypeTaskScheduled: 31, TypeTaskMoved: 31,
	TypeTaskUnscheduled: 25, TypeTaskCompleted: 25, TypeTaskDeleted: 25,
	TypeTaskRenamed: 25 + titleSize, TypeTaskPrioritized: 26, TypeTaskAssigned: 41,
	TypeTaskStarted: 25, TypeTaskReopened: 25, TypeTaskServiceChanged: 41,
	TypeServiceCreated: 9 + ServiceRecordSize, TypeServiceRenamed: 9 + ServiceRecordSize,
	TypeGridChanged: 11, TypeUserCreated: 9 + UserRecordSize, TypeUserRenamed: 9 + UserRecordSize,
	TypeServiceRecolored: 29, TypeServiceArchived: 26, TypeScheduleChanged: 9 + scheduleSize,
	TypeHolidayAdded: 9 + holidaySize, TypeHolidayRemoved: 11, TypeTimeOffAdded: 9 + timeOffSize, TypeTimeOffRemoved: 41,
}

// IsEvent reports whether a frame type is an event.
func IsEvent(t byte) bool { return frameKinds[t] != 0 }

// AppendEvent appends ev as a txxt.v1 event frame. Events of the original
// protocol encode exactly as the original, except that a created task's
// record carries its created revision in bytes 184-191.
func AppendEvent(dst []byte, ev *world.Event) []byte {
	return appendEvent(dst, ev, true)
}

func appendEvent(dst []byte, ev *world.Event, v1 bool) []byte {
	var t byte
	if int(ev.Kind) < len(eventTypes) {
		t = eventTypes[ev.Kind]
	}
	if t == 0 {
		panic("wire: unknown event kind " + ev.Kind.String()) // a bug in the engine, not input
	}
	dst = append(dst, t)
	dst = appendU64(dst, ev.Revision)
	switch ev.Kind {
	case world.EvTaskCreated:
		return appendTask(dst, &ev.Task, v1)
	case world.EvTaskScheduled, world.EvTaskMoved:
		dst = append(dst, ev.Task.ID[:]...)
		dst = appendU16(dst, ev.Task.Slot.Date)
		dst = appendU16(dst, ev.Task.Slot.Start)
		return appendU16(dst, ev.Task.Slot.Duration)
	case world.EvTaskRenamed:
		dst = append(dst, ev.Task.ID[:]...)
		return appendPadded(dst, ev.Task.Title, titleSize)
	case world.EvTaskPrioritized:
		dst = append(dst, ev.Task.ID[:]...)
		return append(dst, byte(ev.Task.Priority))
	case world.EvTaskAssigned:
		dst = append(dst, ev.Task.ID[:]...)
		return append(dst, ev.Task.Assignee[:]...)
	case world.EvTaskServiceChanged:
		dst = append(dst, ev.Task.ID[:]...)
		return append(dst, ev.Task.Service[:]...)
	case world.EvServiceCreated, world.EvServiceRenamed:
		return appendNamed(dst, ev.Service.ID, ev.Service.Name)
	case world.EvUserCreated, world.EvUserRenamed:
		return appendNamed(dst, ev.User.ID, ev.User.Name)
	case world.EvGridChanged:
		return appendU16(dst, ev.Grid)
	case world.EvServiceRecolored:
		dst = append(dst, ev.Service.ID[:]...)
		return appendU32(dst, ev.Service.Color)
	case world.EvServiceArchived:
		dst = append(dst, ev.Service.ID[:]...)
		return append(dst, flag(ev.Service.Archived))
	case world.EvScheduleChanged:
		return appendSchedule(dst, &ev.Schedule)
	case world.EvHolidayAdded, world.EvHolidayRemoved, world.EvTimeOffAdded, world.EvTimeOffRemoved:
		return appendNonWorkingEvent(dst, ev)
	}
	return append(dst, ev.Task.ID[:]...) // the id-only task events
}

// DecodeEvent decodes a txxt.v1 (or original) event frame.
func DecodeEvent(frame []byte) (world.Event, error) {
	if len(frame) == 0 {
		return world.Event{}, badFrame("empty frame")
	}
	kind := frameKinds[frame[0]]
	if kind == 0 {
		return world.Event{}, unknownType(frame[0])
	}
	if n := len(frame); n != eventSizes[frame[0]] && (frame[0] != TypeScheduleChanged || n != 9+oldScheduleSize) {
		// A ScheduleChanged of 78 bytes is one written before working
		// days (a save file's log holds them): Monday to Friday.
		return world.Event{}, badFrame(kind.String() + " frame has the wrong length")
	}
	ev := world.Event{Kind: kind, Revision: le.Uint64(frame[1:])}
	b := frame[9:]
	switch kind {
	case world.EvTaskCreated:
		t, err := readTask(b)
		if err != nil {
			return world.Event{}, err
		}
		ev.Task = t
	case world.EvServiceCreated, world.EvServiceRenamed:
		ev.Service.ID, ev.Service.Name = readNamed(b)
	case world.EvUserCreated, world.EvUserRenamed:
		ev.User.ID, ev.User.Name = readNamed(b)
	case world.EvGridChanged:
		ev.Grid = le.Uint16(b)
	case world.EvServiceRecolored:
		ev.Service.ID = readID(b[:16])
		ev.Service.Color = le.Uint32(b[16:])
	case world.EvServiceArchived:
		ev.Service.ID = readID(b[:16])
		var err error
		if ev.Service.Archived, err = readFlag(b[16], "ServiceArchived archived"); err != nil {
			return world.Event{}, err
		}
	case world.EvScheduleChanged:
		ev.Schedule = readSchedule(b)
	case world.EvHolidayAdded, world.EvHolidayRemoved, world.EvTimeOffAdded, world.EvTimeOffRemoved:
		decodeNonWorkingEvent(b, &ev)
	default:
		ev.Task.ID = readID(b[:16])
		switch kind {
		case world.EvTaskScheduled, world.EvTaskMoved:
			ev.Task.Slot = world.Slot{Date: le.Uint16(b[16:]), Start: le.Uint16(b[18:]), Duration: le.Uint16(b[20:])}
		case world.EvTaskRenamed:
			ev.Task.Title = trimZeros(b[16:])
		case world.EvTaskPrioritized:
			ev.Task.Priority = world.Priority(b[16])
			if ev.Task.Priority > world.Urgent {
				return world.Event{}, badFrame("priority byte over 3")
			}
		case world.EvTaskAssigned:
			ev.Task.Assignee = readID(b[16:])
		case world.EvTaskServiceChanged:
			ev.Task.Service = readID(b[16:])
		}
	}
	return ev, nil
}

// AppendLegacy appends to frames what a client of the original protocol
// receives for ev: its original frame for a base event (a task record with
// bytes 184-191 zero), and nothing for any other event, so the v0
// connection's revisions skip it.
//
// Withholding is the only translation that cannot move a task the original
// client did not mean to move. That client keeps its tasks in an array and
// a drag holds an index into it; TaskCreated appends, TaskDeleted removes.
// Any event that removes or adds an entry (as TaskDeleted then TaskCreated
// for a rename once did) shifts the entries after it, and the drop then
// names another task. So a change the original protocol has no frame for
// (renamed, prioritized, assigned, started, reopened, service changed) and
// every service, user, grid and schedule event is withheld: the original
// client sees it in its next Snapshot, which it takes on every reconnect.
// A Snapshot cannot shift the array either: its tasks are in creation
// order, the order the array holds them in.
func AppendLegacy(frames [][]byte, ev *world.Event) [][]byte {
	switch ev.Kind {
	case world.EvTaskCreated, world.EvTaskScheduled, world.EvTaskMoved,
		world.EvTaskUnscheduled, world.EvTaskCompleted, world.EvTaskDeleted:
		return append(frames, appendEvent(make([]byte, 0, eventSizes[eventTypes[ev.Kind]]), ev, false))
	}
	return frames
}
