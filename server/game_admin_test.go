package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"txxt/wire"
	"txxt/world"
)

// TestAdminCommandsOverTheWire sends a team's administration commands
// (recolour and archive a service, set the schedule) over txxt.v1: every
// v1 page gets their events live; a client of the original protocol, which
// cannot express them, gets none of them (as with UserCreated) and its
// next event is the next task change; only an admin may send them; new
// connections and a restart see the result.
func TestAdminCommandsOverTheWire(t *testing.T) {
	h := start(t, options{})
	billing := h.service("Billing")
	a, b, old := h.dial(true, ""), h.dialAs(h.member, true, ""), h.dial(false, "")
	a.handshake()
	b.handshake()
	_, snap0 := old.handshake()

	rev := a.ack(1, world.Command{Kind: world.CmdRecolorService, Service: billing, Color: 0x3B82F6})
	if got := b.expect(wire.TypeServiceRecolored).Event; got.Revision != rev || got.Service != (world.Service{ID: billing, Color: 0x3B82F6}) {
		t.Fatalf("v1 peer got %+v", got)
	}
	rev = a.ack(2, world.Command{Kind: world.CmdArchiveService, Service: billing, Archived: true})
	if got := b.expect(wire.TypeServiceArchived).Event; got.Revision != rev || got.Service != (world.Service{ID: billing, Archived: true}) {
		t.Fatalf("v1 peer got %+v", got)
	}
	berlin := world.Schedule{WorkdayStart: 540, WorkdayEnd: 1050, FirstDay: 6, TimeZone: "Europe/Berlin", WorkingDays: world.MondayToFriday}
	rev = a.ack(3, world.Command{Kind: world.CmdSetSchedule, Schedule: berlin})
	if got := b.expect(wire.TypeScheduleChanged).Event; got.Revision != rev || got.Schedule != berlin {
		t.Fatalf("v1 peer got %+v", got)
	}

	// The archived service takes no new task, and says so by name.
	a.send(4, newTask(billing, "late invoice"))
	if f, _ := a.answer(4); f.Type != wire.TypeError || f.Error.Code != world.CodeServiceArchived || !strings.Contains(f.Error.Message, "'Billing' is archived") {
		t.Fatalf("task into the archived service: %+v", f)
	}
	// A bad schedule is refused with its code.
	a.send(5, world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 480, WorkdayEnd: 1080, TimeZone: "Mars/Olympus Mons"}})
	if f, _ := a.answer(5); f.Type != wire.TypeError || f.Error.Code != world.CodeInvalidTimeZone {
		t.Fatalf("bad time zone: %+v", f)
	}
	// Only an admin administers.
	for i, c := range []world.Command{
		{Kind: world.CmdRecolorService, Service: billing, Color: 0xFF0000},
		{Kind: world.CmdArchiveService, Service: billing},
		{Kind: world.CmdSetSchedule, Schedule: world.DefaultSchedule()},
	} {
		b.send(uint32(10+i), c)
		if f, _ := b.answer(uint32(10 + i)); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
			t.Fatalf("member's %s: %+v", c.Kind, f)
		}
	}

	// The original protocol's client got none of the three events: the
	// next frame it reads is the next task's, revisions later.
	ops := h.service("Ops")
	task := a.ack(6, newTask(ops, "after"))
	raw, f := old.read()
	if f.Type != wire.TypeTaskCreated || f.Event.Revision != task || f.Event.Task.Title != "after" {
		t.Fatalf("v0 client got 0x%02x %+v (% x), want TaskCreated at %d", f.Type, f.Event, raw, task)
	}
	if task != snap0.Revision+5 {
		t.Fatalf("the task at %d, the v0 snapshot at %d: want the four changes between withheld", task, snap0.Revision)
	}

	// New connections see it all: v1 in the snapshot's trailer, v0 in
	// the original layout, byte for byte.
	var want world.State
	h.eng.Read(context.Background(), func(w *world.World) { want = w.State() })
	check := func(t *testing.T, s *world.State) {
		t.Helper()
		if s.Schedule != berlin {
			t.Errorf("schedule %+v", s.Schedule)
		}
		for _, sv := range s.Services {
			if sv.ID == billing && (sv.Color != 0x3B82F6 || !sv.Archived) {
				t.Errorf("Billing %+v", sv)
			}
		}
		if !sameWorld(t, *s, want) {
			t.Error("snapshot differs from the world")
		}
	}
	_, snap := h.dial(true, "").handshake()
	check(t, snap)
	if raw, _ := h.dial(false, "").read(); !bytes.Equal(raw, wire.AppendSnapshot(nil, &want, false)) {
		t.Fatalf("v0 snapshot is not the original layout: % x", raw)
	}
	// So does the server after a restart.
	h.stop()
	h2 := start(t, options{path: h.path})
	_, snap = h2.dial(true, "").handshake()
	check(t, snap)
}
