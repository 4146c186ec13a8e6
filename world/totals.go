package world

// Totals adds up the scheduled minutes of the world's tasks per day, per
// service and assignee, split by status: planned (Scheduled), in progress
// (Active), done (Completed). Staged tasks have no slot and count nothing.
//
// It is kept incrementally: every change of a task subtracts the task's
// old contribution and adds its new one (change, and Rollback for a batch
// taken back), so an event costs two map updates whatever the number of
// tasks, and nothing ever rescans the world. A task never crosses
// midnight, so each one adds to exactly one day.
type Totals struct {
	days map[uint16]map[TotalsKey]Minutes
}

// TotalsKey is one cell of a day's totals.
type TotalsKey struct {
	Service  ID
	Assignee ID // zero: unassigned
}

// Minutes are the minutes of one cell, by status. Exact integers: a day
// holds at most 1,440 minutes per task, and the sum of a uint32 would need
// millions of tasks on one day to overflow.
type Minutes struct {
	Planned    uint32 // Scheduled
	InProgress uint32 // Active
	Done       uint32 // Completed
}

// Total is the minutes of every status.
func (m Minutes) Total() uint32 { return m.Planned + m.InProgress + m.Done }

// Add returns m plus o.
func (m Minutes) Add(o Minutes) Minutes {
	return Minutes{m.Planned + o.Planned, m.InProgress + o.InProgress, m.Done + o.Done}
}

func newTotals() Totals { return Totals{days: make(map[uint16]map[TotalsKey]Minutes)} }

// contribution is what t adds to its day's cell; ok is false when it adds
// nothing (staged, or no task).
func contribution(t *Task) (m Minutes, ok bool) {
	if t == nil || t.Slot.Date == NoDate {
		return m, false
	}
	d := uint32(t.Slot.Duration)
	switch t.Status {
	case Scheduled:
		m.Planned = d
	case Active:
		m.InProgress = d
	case Completed:
		m.Done = d
	default:
		return m, false
	}
	return m, true
}

func (tt *Totals) add(t *Task) {
	m, ok := contribution(t)
	if !ok {
		return
	}
	day := tt.days[t.Slot.Date]
	if day == nil {
		// Emptied days are kept: a task moving back and forth between
		// two days allocates nothing after the first time.
		day = make(map[TotalsKey]Minutes)
		tt.days[t.Slot.Date] = day
	}
	k := TotalsKey{t.Service, t.Assignee}
	day[k] = day[k].Add(m)
}

func (tt *Totals) sub(t *Task) {
	m, ok := contribution(t)
	if !ok {
		return
	}
	day := tt.days[t.Slot.Date]
	k := TotalsKey{t.Service, t.Assignee}
	c := day[k]
	c = Minutes{c.Planned - m.Planned, c.InProgress - m.InProgress, c.Done - m.Done}
	if c == (Minutes{}) {
		delete(day, k)
	} else {
		day[k] = c
	}
}

// change applies ev by changeState and keeps the totals: a task event
// takes the task's old contribution out and puts its new one in.
func (w *World) change(ev *Event) {
	var counted bool
	switch ev.Kind {
	case EvTaskCreated, EvTaskRenamed, EvTaskPrioritized:
		// A new task had nothing to take out; a title or priority
		// changes no total.
	case EvTaskScheduled, EvTaskMoved, EvTaskUnscheduled, EvTaskCompleted, EvTaskDeleted,
		EvTaskAssigned, EvTaskStarted, EvTaskReopened, EvTaskServiceChanged:
		counted = true
		w.totals.sub(w.tasks[ev.Task.ID])
	}
	w.changeState(ev)
	if counted || ev.Kind == EvTaskCreated {
		w.totals.add(w.tasks[ev.Task.ID])
	}
}

// DayTotals calls fn for each cell of each day from from to to, both
// inclusive, in date order (cells of one day in no set order). It costs
// the cells it visits, not the tasks of the world.
func (w *World) DayTotals(from, to uint16, fn func(date uint16, k TotalsKey, m Minutes)) {
	if to == NoDate {
		to--
	}
	for d := uint32(from); d <= uint32(to); d++ {
		for k, m := range w.totals.days[uint16(d)] {
			fn(uint16(d), k, m)
		}
	}
}

// TasksOn calls fn with each task that has a slot on date, in no set
// order. It scans every task (the world keeps no index by date): reports
// call it only for a range's edge days cut by a time of day.
func (w *World) TasksOn(date uint16, fn func(Task)) {
	for _, t := range w.tasks {
		if t.Slot.Date == date && date != NoDate {
			fn(*t)
		}
	}
}
