package server_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// TestPresenceListsTheEarliest: the list holds at most PresenceListed
// connections, the earliest to arrive; a later one gets the list without
// itself, and is listed (a join) when a listed one leaves, in arrival
// order; one that was never listed leaves without a word.
func TestPresenceListsTheEarliest(t *testing.T) {
	h := start(t, options{cfg: server.Config{TelemetryEvery: time.Hour, Limits: server.Limits{PresenceListed: 2}}})
	watcher := h.dial(true, "")
	ww, _ := watcher.handshake()
	view := presenceView{}
	view.follow(t, watcher, func(v presenceView) bool { return v.is(ww.Session) })

	a := h.dialAs(h.member, true, "")
	wa, _ := a.handshake()
	view.follow(t, watcher, func(v presenceView) bool { return v.is(ww.Session, wa.Session) })

	// b and c come past the bound: each one's list is the two listed.
	var later []wire.Welcome
	var laterConns []*client
	for range 2 {
		c := h.dial(true, "")
		w, _ := c.handshake()
		first := waitPresenceWith(t, c, func(wire.Presence) bool { return true })
		if first.Op != wire.PresenceFull || len(first.Entries) != 2 || containsSession(first.Entries, w.Session) {
			t.Fatalf("an unlisted newcomer's first Presence frame: op %d, %+v", first.Op, first.Entries)
		}
		later, laterConns = append(later, w), append(laterConns, c)
	}
	b, c := later[0], later[1]

	// a leaves: b, the earliest waiting, takes its place; c is not heard of.
	a.ws.Close(websocket.StatusNormalClosure, "")
	view.follow(t, watcher, func(v presenceView) bool { return v.is(ww.Session, b.Session) })
	// c leaves unlisted: nothing to say. Then b leaves, and nobody is
	// waiting any more: the list is the watcher alone, and c never
	// appeared in it.
	laterConns[1].ws.Close(websocket.StatusNormalClosure, "")
	laterConns[0].ws.Close(websocket.StatusNormalClosure, "")
	view.follow(t, watcher, func(v presenceView) bool { return v.is(ww.Session) })
	if view.ever[c.Session] {
		t.Fatal("the watcher heard of a connection that was never listed")
	}
}

// presenceView is the presence list as a client keeps it from the frames.
type presenceView struct {
	now, ever map[world.ID]bool
}

func (v presenceView) is(sessions ...world.ID) bool {
	if len(v.now) != len(sessions) {
		return false
	}
	for _, s := range sessions {
		if !v.now[s] {
			return false
		}
	}
	return true
}

// follow applies c's Presence frames to v until done says so, or fails
// the test after wait.
func (v *presenceView) follow(t *testing.T, c *client, done func(presenceView) bool) {
	t.Helper()
	if v.now == nil {
		v.now, v.ever = map[world.ID]bool{}, map[world.ID]bool{}
	}
	deadline := time.Now().Add(wait)
	for !done(*v) {
		if time.Now().After(deadline) {
			t.Fatalf("the presence list is %v after %s", slices.Collect(maps.Keys(v.now)), wait)
		}
		p := waitPresenceWith(t, c, func(wire.Presence) bool { return true })
		if p.Op == wire.PresenceFull {
			clear(v.now)
		}
		for _, e := range p.Entries {
			if p.Op == wire.PresenceLeft {
				delete(v.now, e.Session)
			} else {
				v.now[e.Session], v.ever[e.Session] = true, true
			}
		}
	}
}
