package world

import (
	"strings"
	"testing"
)

var (
	bob     = id(4)
	offID   = id(30)
	offID2  = id(31)
	newYear = uint16(20454) // 2026-01-01
)

// withOff gives alice time off from monday to monday+4 (id offID).
func withOff(w *World) {
	if _, err := w.Apply(Command{Kind: CmdAddTimeOff, TimeOff: TimeOff{ID: offID, User: alice, From: monday, To: monday + 4, Note: "holiday"}}); err != nil {
		panic(err)
	}
}

func withHoliday(w *World) {
	if _, err := w.Apply(Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "New Year"}}); err != nil {
		panic(err)
	}
}

func holidayIs(date uint16, want string, exists bool) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		t.Helper()
		if got, ok := w.HolidayOn(date); ok != exists || got != want {
			t.Errorf("holiday on %d: %q %v, want %q %v", date, got, ok, want, exists)
		}
	}
}

func offIs(user ID, date uint16, want bool) func(*testing.T, *World) {
	return func(t *testing.T, w *World) {
		t.Helper()
		if got := w.Off(user, date); got != want {
			t.Errorf("user off on %d: %v, want %v", date, got, want)
		}
	}
}

func TestNonWorkingRules(t *testing.T) {
	addOff := func(o TimeOff) Command { return Command{Kind: CmdAddTimeOff, TimeOff: o} }
	runRules(t, []rule{
		// AddHoliday
		{name: "add holiday", cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "New Year"}}, check: holidayIs(newYear, "New Year", true)},
		{name: "add holiday on a holiday renames it", setup: withHoliday, cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "Neujahr"}}, check: holidayIs(newYear, "Neujahr", true)},
		{name: "add holiday without a date", cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: NoDate, Name: "x"}}, want: CodeInvalidDate},
		{name: "add holiday without a name", cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "  "}}, want: CodeInvalidName},
		{name: "add holiday name 65 bytes", cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: strings.Repeat("x", 65)}}, want: CodeNameTooLong},
		{name: "add holiday name not utf8", cmd: Command{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "a\xff"}}, want: CodeInvalidText},
		// RemoveHoliday
		{name: "remove holiday", setup: withHoliday, cmd: Command{Kind: CmdRemoveHoliday, Holiday: Holiday{Date: newYear}}, check: holidayIs(newYear, "", false)},
		{name: "remove no holiday", cmd: Command{Kind: CmdRemoveHoliday, Holiday: Holiday{Date: newYear}}, want: CodeHolidayNotFound, msg: "2026-01-01"},
		// AddTimeOff
		{name: "add time off", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday + 2, Note: "skiing"}),
			check: func(t *testing.T, w *World) {
				offIs(alice, monday, true)(t, w)
				offIs(alice, monday+2, true)(t, w)
				offIs(alice, monday+3, false)(t, w)
				if got := w.TimeOffs(); len(got) != 1 || got[0] != (TimeOff{ID: offID, User: alice, From: monday, To: monday + 2, Note: "skiing"}) {
					t.Errorf("time off %+v", got)
				}
			}},
		{name: "add one day off without a note", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday}), check: offIs(alice, monday, true)},
		{name: "add time off of a year", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday + MaxTimeOffDays - 1})},
		{name: "add time off longer than a year", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday + MaxTimeOffDays}), want: CodeInvalidDate, msg: "split it"},
		{name: "add time off ending before it starts", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday - 1}), want: CodeInvalidDate, msg: "on or after"},
		{name: "add time off without a date", cmd: addOff(TimeOff{ID: offID, User: alice, From: NoDate, To: NoDate}), want: CodeInvalidDate},
		{name: "add time off for nobody", cmd: addOff(TimeOff{ID: offID, User: nobody, From: monday, To: monday}), want: CodeUserNotFound},
		{name: "add time off zero id", cmd: addOff(TimeOff{User: alice, From: monday, To: monday}), want: CodeDuplicateID},
		{name: "add time off taken id", setup: withOff, cmd: addOff(TimeOff{ID: offID, User: alice, From: monday + 10, To: monday + 10}), want: CodeDuplicateID},
		{name: "add time off overlapping", setup: withOff, cmd: addOff(TimeOff{ID: offID2, User: alice, From: monday + 4, To: monday + 8}), want: CodeTimeOffOverlap, msg: "overlaps"},
		{name: "add time off just after another", setup: withOff, cmd: addOff(TimeOff{ID: offID2, User: alice, From: monday + 5, To: monday + 8})},
		{name: "add time off note 65 bytes", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday, Note: strings.Repeat("x", 65)}), want: CodeNameTooLong},
		{name: "add time off note with NUL", cmd: addOff(TimeOff{ID: offID, User: alice, From: monday, To: monday, Note: "a\x00"}), want: CodeInvalidText},
		// RemoveTimeOff
		{name: "remove time off", setup: withOff, cmd: Command{Kind: CmdRemoveTimeOff, TimeOff: TimeOff{ID: offID, User: alice}}, check: offIs(alice, monday, false)},
		{name: "remove time off of another user", setup: withOff, cmd: Command{Kind: CmdRemoveTimeOff, TimeOff: TimeOff{ID: offID, User: bob}}, want: CodeTimeOffNotFound},
		{name: "remove no time off", cmd: Command{Kind: CmdRemoveTimeOff, TimeOff: TimeOff{ID: offID, User: alice}}, want: CodeTimeOffNotFound},
	})
}

func TestNonWorkingRollbackAndState(t *testing.T) {
	w := fixture(t)
	withHoliday(w)
	withOff(w)
	before := cloneWorld(t, w)
	w.Begin()
	for _, c := range []Command{
		{Kind: CmdAddHoliday, Holiday: Holiday{Date: newYear, Name: "renamed"}},
		{Kind: CmdAddHoliday, Holiday: Holiday{Date: monday, Name: "another"}},
		{Kind: CmdRemoveTimeOff, TimeOff: TimeOff{ID: offID, User: alice}},
		{Kind: CmdAddTimeOff, TimeOff: TimeOff{ID: offID2, User: alice, From: monday, To: monday}},
		{Kind: CmdRemoveHoliday, Holiday: Holiday{Date: newYear}},
	} {
		if _, err := w.Apply(c); err != nil {
			t.Fatalf("%v: %v", c.Kind, err)
		}
	}
	w.Rollback()
	if !Equal(w, before) {
		t.Fatal("rollback did not restore the holidays and time off")
	}
	again, err := FromState(w.State())
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(again, w) {
		t.Fatal("State and FromState lose non-working days")
	}
	st := w.State()
	st.TimeOff = append(st.TimeOff, st.TimeOff[0])
	if _, err := FromState(st); codeOf(err) != CodeDuplicateID {
		t.Errorf("a snapshot with a time off twice: %v", err)
	}
}

func TestDateString(t *testing.T) {
	for d, want := range map[uint16]string{0: "1970-01-01", 20412: "2025-11-20", 20454: "2026-01-01", 20513: "2026-03-01", 19782: "2024-02-29"} {
		if got := dateString(d); got != want {
			t.Errorf("dateString(%d) = %s, want %s", d, got, want)
		}
	}
}
