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
//
// A reader on another goroutine takes a TotalsView of a range of days
// (ViewTotals, on the world's goroutine, in the days' time): the days it
// holds are never changed again, the world copies a day before its next
// change to it (copy on write), so the view is read while the world goes
// on, and a report over 100,000 tasks stalls no command.
type Totals struct {
	days map[uint16]*dayTotals
}

// dayTotals is one day's totals: its cells, and each counted task's part
// (so a day cut by a time of day is summed from its own tasks, never by a
// scan of the world).
type dayTotals struct {
	cells map[TotalsKey]Minutes
	tasks map[ID]DayTask // never shared: DayTasks copies what it gives
	// shared is set once a TotalsView holds the day's cells: from then on
	// the world changes a copy of them (writable), which costs the day's
	// cells (a few hundred at most: services × assignees), not its
	// tasks. Only the world's goroutine reads or writes it.
	shared bool
}

// DayTask is one task's part of its day's totals.
type DayTask struct {
	Key             TotalsKey
	Start, Duration uint16
	Minutes         Minutes
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

func newTotals() Totals { return Totals{days: make(map[uint16]*dayTotals)} }

// writable returns date's totals for a change: made when the day has none,
// copied when a view holds it.
func (tt *Totals) writable(date uint16) *dayTotals {
	d := tt.days[date]
	switch {
	case d == nil:
		d = &dayTotals{cells: make(map[TotalsKey]Minutes), tasks: make(map[ID]DayTask)}
		tt.days[date] = d
	case d.shared:
		cells := make(map[TotalsKey]Minutes, len(d.cells))
		for k, m := range d.cells {
			cells[k] = m
		}
		d.cells, d.shared = cells, false // the view keeps the old map
	}
	return d
}

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
	// Emptied days are kept: a task moving back and forth between two
	// days allocates nothing after the first time.
	day := tt.writable(t.Slot.Date)
	k := TotalsKey{t.Service, t.Assignee}
	day.cells[k] = day.cells[k].Add(m)
	day.tasks[t.ID] = DayTask{Key: k, Start: t.Slot.Start, Duration: t.Slot.Duration, Minutes: m}
}

func (tt *Totals) sub(t *Task) {
	m, ok := contribution(t)
	if !ok {
		return
	}
	day := tt.writable(t.Slot.Date)
	k := TotalsKey{t.Service, t.Assignee}
	c := day.cells[k]
	c = Minutes{c.Planned - m.Planned, c.InProgress - m.InProgress, c.Done - m.Done}
	if c == (Minutes{}) {
		delete(day.cells, k)
	} else {
		day.cells[k] = c
	}
	delete(day.tasks, t.ID)
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
		if day := w.totals.days[uint16(d)]; day != nil {
			for k, m := range day.cells {
				fn(uint16(d), k, m)
			}
		}
	}
}

// TotalsView is the totals of the days from From on, as they stood when
// ViewTotals took it. It is read-only and may be read on any goroutine,
// by any number of readers at once, while the world goes on changing.
type TotalsView struct {
	From uint16
	days []map[TotalsKey]Minutes // nil: a day without totals
}

// ViewTotals takes a view of the days from from to to, both inclusive
// (NoDate excluded). It costs a lookup per day, whatever the tasks: the
// days are marked shared, and the world copies one before it next changes
// it (each such day once per view taken).
func (w *World) ViewTotals(from, to uint16) TotalsView {
	if to == NoDate {
		to--
	}
	v := TotalsView{From: from}
	if to < from {
		return v
	}
	v.days = make([]map[TotalsKey]Minutes, int(to)-int(from)+1)
	for i := range v.days {
		if d := w.totals.days[from+uint16(i)]; d != nil {
			d.shared = true
			v.days[i] = d.cells
		}
	}
	return v
}

// Cells calls fn for each cell of date (in no set order); none for a day
// outside the view.
func (v TotalsView) Cells(date uint16, fn func(k TotalsKey, m Minutes)) {
	if date < v.From || int(date-v.From) >= len(v.days) {
		return
	}
	for k, m := range v.days[date-v.From] {
		fn(k, m)
	}
}

// DayTasks appends each task that counts on date (in no set order) to dst
// and returns it: what a day cut by a time of day is summed from. It
// costs the day's tasks, not the world's.
func (w *World) DayTasks(dst []DayTask, date uint16) []DayTask {
	if d := w.totals.days[date]; d != nil {
		for _, t := range d.tasks {
			dst = append(dst, t)
		}
	}
	return dst
}
