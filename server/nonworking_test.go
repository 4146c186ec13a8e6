package server_test

import (
	"testing"

	"txxt/wire"
	"txxt/world"
)

// TestNonWorkingDaysOverTheWire: an admin adds a holiday and anyone's time
// off; a member adds and removes only their own, and no holiday; every
// page gets the events, and a new connection's snapshot holds them.
func TestNonWorkingDaysOverTheWire(t *testing.T) {
	h := start(t, options{})
	a, b := h.dial(true, ""), h.dialAs(h.member, true, "")
	wa, _ := a.handshake()
	wb, _ := b.handshake()
	ann, bob := wa.User, wb.User

	a.ack(1, world.Command{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: 20454, Name: "New Year"}})
	if got := b.expect(wire.TypeHolidayAdded).Event.Holiday; got != (world.Holiday{Date: 20454, Name: "New Year"}) {
		t.Fatalf("member's page got %+v", got)
	}
	a.ack(2, world.Command{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{User: bob, From: 20500, To: 20504, Note: "given by an admin"}})
	given := b.expect(wire.TypeTimeOffAdded).Event.TimeOff
	if given.ID.IsZero() || given.User != bob || given.Note != "given by an admin" {
		t.Fatalf("time off event %+v", given)
	}
	b.ack(3, world.Command{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{User: bob, From: 20510, To: 20510}})
	own := a.expect(wire.TypeTimeOffAdded).Event.TimeOff
	b.ack(4, world.Command{Kind: world.CmdRemoveTimeOff, TimeOff: world.TimeOff{ID: own.ID, User: bob}})

	for i, c := range []world.Command{
		{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: 20455, Name: "Mine"}},
		{Kind: world.CmdRemoveHoliday, Holiday: world.Holiday{Date: 20454}},
		{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{User: ann, From: 20500, To: 20500}},
	} {
		b.send(uint32(10+i), c)
		if f, _ := b.answer(uint32(10 + i)); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
			t.Fatalf("member's %s: %+v", c.Kind, f)
		}
	}
	// Naming oneself does not open someone else's time off: the world
	// checks whose it is.
	b.send(20, world.Command{Kind: world.CmdRemoveTimeOff, TimeOff: world.TimeOff{ID: given.ID, User: ann}})
	if f, _ := b.answer(20); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
		t.Fatalf("member removing time off named as ann's: %+v", f)
	}
	a.send(21, world.Command{Kind: world.CmdRemoveTimeOff, TimeOff: world.TimeOff{ID: given.ID, User: ann}})
	if f, _ := a.answer(21); f.Type != wire.TypeError || f.Error.Code != world.CodeTimeOffNotFound {
		t.Fatalf("removing bob's time off as ann's: %+v", f)
	}

	_, snap := h.dial(true, "").handshake()
	if len(snap.Holidays) != 1 || len(snap.TimeOff) != 1 || snap.TimeOff[0] != given {
		t.Fatalf("snapshot holidays %+v, time off %+v", snap.Holidays, snap.TimeOff)
	}
	h.stop()
	h2 := start(t, options{path: h.path})
	if _, snap = h2.dial(true, "").handshake(); len(snap.Holidays) != 1 || len(snap.TimeOff) != 1 {
		t.Fatalf("after a restart: %+v %+v", snap.Holidays, snap.TimeOff)
	}
}
