package world

import "sort"

// Non-working days: the team's holidays (a date and its name; one per date)
// and each member's time off (a range of whole days, both ends inclusive,
// with an optional note). The grid shades them and capacity leaves them
// out; they change no task.

// Holiday is a day the whole team does not work.
type Holiday struct {
	Date uint16 // days since 1970-01-01
	Name string // at most MaxName bytes, not empty
}

// TimeOff is days one member does not work: From to To, both inclusive.
type TimeOff struct {
	ID   ID
	User ID
	From uint16 // days since 1970-01-01
	To   uint16 // From ≤ To, at most MaxTimeOffDays days after it
	Note string // at most MaxName bytes; may be empty
}

// MaxTimeOffDays is the longest time off, in days: a year, leap day included.
const MaxTimeOffDays = 366

// Holidays returns the team's holidays by date.
func (w *World) Holidays() []Holiday {
	out := make([]Holiday, 0, len(w.holidays))
	for d, name := range w.holidays {
		out = append(out, Holiday{Date: d, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date < out[j].Date })
	return out
}

// HolidayOn returns the name of the holiday on date, if there is one.
func (w *World) HolidayOn(date uint16) (string, bool) {
	name, ok := w.holidays[date]
	return name, ok
}

// TimeOffs returns every time off, by user, then first day, then id.
func (w *World) TimeOffs() []TimeOff {
	out := make([]TimeOff, 0, len(w.timeOff))
	for _, t := range w.timeOff {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.User != b.User {
			return lessID(a.User, b.User)
		}
		if a.From != b.From {
			return a.From < b.From
		}
		return lessID(a.ID, b.ID)
	})
	return out
}

// Off reports whether user is off on date (their time off covers it).
// Holidays are HolidayOn's.
func (w *World) Off(user ID, date uint16) bool {
	for _, t := range w.timeOff {
		if t.User == user && t.From <= date && date <= t.To {
			return true
		}
	}
	return false
}

func (w *World) checkNonWorking(c Command) (Event, error) {
	switch c.Kind {
	case CmdAddHoliday:
		h := c.Holiday
		if h.Date == NoDate {
			return Event{}, errorf(CodeInvalidDate, "A holiday needs a date.")
		}
		if err := checkName(h.Name, "A holiday's name"); err != nil {
			return Event{}, err
		}
		return Event{Kind: EvHolidayAdded, Holiday: h}, nil

	case CmdRemoveHoliday:
		if _, ok := w.holidays[c.Holiday.Date]; !ok {
			return Event{}, errorf(CodeHolidayNotFound, "There is no holiday on %s to remove.", dateString(c.Holiday.Date))
		}
		return Event{Kind: EvHolidayRemoved, Holiday: Holiday{Date: c.Holiday.Date}}, nil

	case CmdAddTimeOff:
		t := c.TimeOff
		if _, dup := w.timeOff[t.ID]; dup || t.ID.IsZero() {
			return Event{}, errorf(CodeDuplicateID, "This time off exists already: reload to see the calendar as it is.")
		}
		if _, ok := w.users[t.User]; !ok {
			return Event{}, errorf(CodeUserNotFound, "That person is not in this team: time off can only be given to a member.")
		}
		if t.From == NoDate || t.To == NoDate {
			return Event{}, errorf(CodeInvalidDate, "Time off needs a first and a last day.")
		}
		if t.From > t.To {
			return Event{}, errorf(CodeInvalidDate, "Time off must end on or after its first day: this one starts on %s and ends on %s.", dateString(t.From), dateString(t.To))
		}
		if days := int(t.To) - int(t.From) + 1; days > MaxTimeOffDays {
			return Event{}, errorf(CodeInvalidDate, "Time off can be at most %d days: this one is %d: split it in two.", MaxTimeOffDays, days)
		}
		if len(t.Note) > MaxName {
			return Event{}, errorf(CodeNameTooLong, "A note can be at most %d bytes: this one is %d%s.", MaxName, len(t.Note), bytesNote(t.Note))
		}
		if err := checkText(t.Note, "A note"); err != nil {
			return Event{}, err
		}
		for _, o := range w.timeOff {
			if o.User == t.User && o.From <= t.To && t.From <= o.To {
				return Event{}, errorf(CodeTimeOffOverlap, "This time off overlaps the one from %s to %s: change or remove that one first.", dateString(o.From), dateString(o.To))
			}
		}
		return Event{Kind: EvTimeOffAdded, TimeOff: t}, nil

	case CmdRemoveTimeOff:
		o, ok := w.timeOff[c.TimeOff.ID]
		if !ok || o.User != c.TimeOff.User {
			return Event{}, errorf(CodeTimeOffNotFound, "That time off does not exist, or is someone else's: reload to see the calendar as it is.")
		}
		return Event{Kind: EvTimeOffRemoved, TimeOff: TimeOff{ID: o.ID, User: o.User}}, nil
	}
	return Event{}, errorf(CodeUnknownCommand, "unknown command kind %d", c.Kind)
}

func (w *World) canChangeNonWorking(ev *Event) error {
	switch ev.Kind {
	case EvHolidayAdded:
		if ev.Holiday.Date == NoDate {
			return errorf(CodeInvalidDate, "replayed holiday without a date")
		}
	case EvHolidayRemoved:
		if _, ok := w.holidays[ev.Holiday.Date]; !ok {
			return errorf(CodeHolidayNotFound, "replayed %s names no holiday on %s", ev.Kind, dateString(ev.Holiday.Date))
		}
	case EvTimeOffAdded:
		t := ev.TimeOff
		if _, dup := w.timeOff[t.ID]; dup {
			return errorf(CodeDuplicateID, "replayed time off %s exists already", t.ID)
		}
		if _, ok := w.users[t.User]; !ok {
			return errorf(CodeUserNotFound, "replayed %s names no user %s", ev.Kind, t.User)
		}
		if t.From == NoDate || t.To == NoDate || t.From > t.To {
			return errorf(CodeInvalidDate, "replayed time off from %d to %d", t.From, t.To)
		}
	case EvTimeOffRemoved:
		if o, ok := w.timeOff[ev.TimeOff.ID]; !ok || o.User != ev.TimeOff.User {
			return errorf(CodeTimeOffNotFound, "replayed %s names no time off %s of user %s", ev.Kind, ev.TimeOff.ID, ev.TimeOff.User)
		}
	}
	return nil
}

func (w *World) changeNonWorking(ev *Event) {
	switch ev.Kind {
	case EvHolidayAdded, EvHolidayRemoved:
		d := ev.Holiday.Date
		old, existed := w.holidays[d]
		w.note(undo{kind: undoHoliday, date: d, name: old, existed: existed})
		if ev.Kind == EvHolidayAdded {
			w.holidays[d] = ev.Holiday.Name
		} else {
			delete(w.holidays, d)
		}
	case EvTimeOffAdded:
		t := ev.TimeOff
		w.note(undo{kind: undoTimeOff, id: t.ID})
		w.timeOff[t.ID] = &t
	case EvTimeOffRemoved:
		o := w.timeOff[ev.TimeOff.ID]
		w.note(undo{kind: undoTimeOff, id: o.ID, timeOff: *o, existed: true})
		delete(w.timeOff, o.ID)
	}
}

func (w *World) undoNonWorking(u *undo) {
	switch u.kind {
	case undoHoliday:
		if u.existed {
			w.holidays[u.date] = u.name
		} else {
			delete(w.holidays, u.date)
		}
	case undoTimeOff:
		if u.existed {
			t := u.timeOff
			w.timeOff[u.id] = &t
		} else {
			delete(w.timeOff, u.id)
		}
	}
}

func (w *World) nonWorkingFromState(s State) error {
	for _, h := range s.Holidays {
		if _, dup := w.holidays[h.Date]; dup || h.Date == NoDate {
			return errorf(CodeDuplicateID, "snapshot holds two holidays, or one without a date, on day %d", h.Date)
		}
		w.holidays[h.Date] = h.Name
	}
	for i := range s.TimeOff {
		t := s.TimeOff[i]
		if _, dup := w.timeOff[t.ID]; dup {
			return errorf(CodeDuplicateID, "snapshot holds time off %s twice", t.ID)
		}
		if t.From == NoDate || t.To == NoDate || t.From > t.To {
			return errorf(CodeInvalidDate, "snapshot time off %s runs from day %d to day %d", t.ID, t.From, t.To)
		}
		w.timeOff[t.ID] = &t
	}
	return nil
}

func equalNonWorking(a, b *World) bool {
	if len(a.holidays) != len(b.holidays) || len(a.timeOff) != len(b.timeOff) {
		return false
	}
	for d, n := range a.holidays {
		if m, ok := b.holidays[d]; !ok || m != n {
			return false
		}
	}
	for id, t := range a.timeOff {
		u, ok := b.timeOff[id]
		if !ok || *t != *u {
			return false
		}
	}
	return true
}

// dateString writes days since 1970-01-01 as 2026-03-02.
func dateString(d uint16) string {
	y, m, day := civil(int(d))
	return itoa4(y) + "-" + itoa2(m) + "-" + itoa2(day)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, inverted).
func civil(z int) (y, m, d int) {
	z += 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func itoa2(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
func itoa4(n int) string { return itoa2(n/100) + itoa2(n%100) }
