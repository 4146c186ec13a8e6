package server_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// fencedLog is the save file's log with a switch that makes it say what a
// shared log says once another node has taken the world: ErrFenced.
type fencedLog struct {
	*store.Store
	fenced atomic.Bool
}

func (l *fencedLog) Append(ctx context.Context, recs []worldlog.Record) error {
	if l.fenced.Load() {
		return worldlog.ErrFenced
	}
	return l.Store.Append(ctx, recs)
}

// When the log says another writer owns the world, the server refuses the
// command NOT_OWNER in a person's words, closes every game connection of
// the team with 1001 so its clients reconnect (and reach the new owner),
// closes a new one the same way, and says so on /api/status. Nothing of
// the refused command is written.
func TestServerStepsDownWhenAnotherWriterOwnsTheWorld(t *testing.T) {
	var fl *fencedLog
	h := start(t, options{wrap: func(st *store.Store) worldlog.Log { fl = &fencedLog{Store: st}; return fl }})
	a, b := h.dial(true, ""), h.dial(true, "")
	a.handshake()
	b.handshake()
	before := a.ack(1, world.Command{Kind: world.CmdCreateService, Text: "before"})
	b.expect(wire.TypeServiceCreated)

	fl.fenced.Store(true)
	a.send(2, world.Command{Kind: world.CmdCreateService, Text: "lost"})
	f, events := a.answer(2)
	if f.Type != wire.TypeError || f.Error.Code != world.CodeNotOwner || f.Error.Message == "" || len(events) != 0 {
		t.Fatalf("a command after the fence: %+v, events %v", f, events)
	}
	for name, c := range map[string]*client{"a": a, "b": b} {
		if code := c.closedWith(); code != websocket.StatusGoingAway {
			t.Fatalf("client %s closed with %d, want 1001", name, code)
		}
	}
	if got := h.st.LastRevision(); got != before {
		t.Fatalf("the save file ends at %d, want %d", got, before)
	}
	st := h.status()
	if st["degraded"] != true || st["degraded_reason"] != "another server keeps this team's calendar now" {
		t.Fatalf("status after the step-down: %v", st)
	}
	// A client that reconnects to this node is sent on its way too.
	if code := h.dial(true, "").closedWith(); code != websocket.StatusGoingAway {
		t.Fatalf("a new connection closed with %d, want 1001", code)
	}
}
