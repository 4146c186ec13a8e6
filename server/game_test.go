package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

func TestSnapshotOnConnect(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Backend")
	seed := h.dial(true, "")
	seed.handshake()
	for i := range 3 {
		seed.ack(uint32(i+1), newTask(svc, fmt.Sprintf("task %d", i)))
	}
	var want world.State
	h.eng.Read(context.Background(), func(w *world.World) { want = w.State() })

	t.Run("original protocol", func(t *testing.T) {
		c := h.dial(false, "")
		raw, f := c.read()
		if f.Type != wire.TypeSnapshot {
			t.Fatalf("first frame 0x%02x, want Snapshot", f.Type)
		}
		// Byte for byte what the original protocol's encoder makes.
		if exp := wire.AppendSnapshot(nil, &want, false); !bytes.Equal(raw, exp) {
			t.Fatalf("v0 snapshot differs from the original layout:\n got % x\nwant % x", raw, exp)
		}
		if len(f.Snapshot.Tasks) != 3 || len(f.Snapshot.Services) != 1 {
			t.Fatalf("snapshot holds %d tasks, %d services", len(f.Snapshot.Tasks), len(f.Snapshot.Services))
		}
	})
	t.Run("txxt.v1", func(t *testing.T) {
		c := h.dial(true, "")
		if got := c.ws.Subprotocol(); got != wire.Subprotocol {
			t.Fatalf("subprotocol %q", got)
		}
		w, snap := c.handshake()
		if w.Protocol != wire.ProtocolVersion || w.UserName != "ann" || w.Role != uint8(server.RoleAdmin) || w.ServerVersion != "test" || w.Grid != world.DefaultGrid {
			t.Fatalf("welcome %+v", w)
		}
		if w.Client.IsZero() || w.Session.IsZero() || w.User.IsZero() {
			t.Fatalf("welcome lacks ids: %+v", w)
		}
		if snap.Revision != want.Revision || !sameWorld(t, *snap, want) {
			t.Fatalf("v1 snapshot at %d differs from the world at %d", snap.Revision, want.Revision)
		}
	})
}

func TestCommandAckedAndBroadcast(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Design")
	a, b, old := h.dial(true, ""), h.dialAs(h.member, true, ""), h.dial(false, "")
	a.handshake()
	b.handshake()
	_, snap := old.handshake()

	task := newTask(svc, "wireframes")
	task.Slot = world.Slot{Date: 20000, Start: 9 * 60, Duration: 60}
	a.send(42, task)
	f, events := a.answer(42)
	if f.Type != wire.TypeAck {
		t.Fatalf("answer %+v", f)
	}
	rev := f.Ack.Revision
	// The sender sees the event before the Ack that names its revision.
	if len(events) != 1 || events[0].Revision != rev || events[0].Task.Title != "wireframes" {
		t.Fatalf("sender's events before the ack: %+v (ack at %d)", events, rev)
	}
	if got := b.expect(wire.TypeTaskCreated).Event; got.Revision != rev || got.Task.Title != "wireframes" || got.Task.ID != events[0].Task.ID {
		t.Fatalf("other client got %+v", got)
	}
	// The original protocol's client gets the original TaskCreated.
	raw, f0 := old.read()
	if f0.Type != wire.TypeTaskCreated || f0.Event.Revision != rev || f0.Event.Task.Title != "wireframes" {
		t.Fatalf("v0 client got 0x%02x %+v (% x)", f0.Type, f0.Event, raw)
	}
	if snap.Revision+1 != rev {
		t.Fatalf("v0 snapshot at %d, event at %d", snap.Revision, rev)
	}
	// A command from the original protocol's client is applied and
	// broadcast too; it gets no answer frame (that protocol has none).
	old.send(0, world.Command{Kind: world.CmdCompleteTask, Task: events[0].Task.ID})
	if got := a.expect(wire.TypeTaskCompleted).Event; got.Revision != rev+1 {
		t.Fatalf("v1 client got %+v after the v0 command", got)
	}
	if _, f := old.read(); f.Type != wire.TypeTaskCompleted {
		t.Fatalf("v0 client got 0x%02x", f.Type)
	}
}

// TestSetService changes a task's service end to end: the v1 peer gets
// TaskServiceChanged; the original protocol's client gets nothing (it has
// no frame for it), so its next event skips that revision.
func TestSetService(t *testing.T) {
	h := start(t, options{})
	ops, dev := h.service("Ops"), h.service("Dev")
	a, b, old := h.dial(true, ""), h.dial(true, ""), h.dial(false, "")
	a.handshake()
	b.handshake()
	old.handshake()
	created := a.ack(1, newTask(ops, "migrate"))
	task := b.expect(wire.TypeTaskCreated).Event.Task.ID
	old.expect(wire.TypeTaskCreated)

	rev := a.ack(2, world.Command{Kind: world.CmdSetService, Task: task, Service: dev})
	if rev != created+1 {
		t.Fatalf("SetService at %d after %d", rev, created)
	}
	if got := b.expect(wire.TypeTaskServiceChanged).Event; got.Revision != rev || got.Task.ID != task || got.Task.Service != dev {
		t.Fatalf("v1 peer got %+v", got)
	}
	marker := a.ack(20, newTask(ops, "marker"))
	if got := old.expect(wire.TypeTaskCreated).Event; got.Revision != marker || got.Task.Title != "marker" {
		t.Fatalf("v0 client got %+v, want the marker at %d and nothing for SetService at %d", got, marker, rev)
	}

	a.send(3, world.Command{Kind: world.CmdSetService, Task: task, Service: engine.RandomID()})
	if f, _ := a.answer(3); f.Type != wire.TypeError || f.Error.Code != world.CodeServiceNotFound {
		t.Fatalf("unknown service: %+v", f)
	}
	a.send(4, world.Command{Kind: world.CmdSetService, Task: engine.RandomID(), Service: dev})
	if f, _ := a.answer(4); f.Type != wire.TypeError || f.Error.Code != world.CodeTaskNotFound {
		t.Fatalf("unknown task: %+v", f)
	}
}

func TestRefusedCommandGetsItsCode(t *testing.T) {
	h := start(t, options{})
	a := h.dial(true, "")
	a.handshake()
	a.send(7, world.Command{Kind: world.CmdMoveTask, Task: engine.RandomID(), Slot: world.Slot{Date: 20000, Start: 60, Duration: 30}})
	f, _ := a.answer(7)
	if f.Type != wire.TypeError || f.Error.Code != world.CodeTaskNotFound || f.Error.Message == "" {
		t.Fatalf("answer %+v", f)
	}
	a.send(8, newTask(h.service("Ops"), strings.Repeat("x", world.MaxTitle+1)))
	if f, _ := a.answer(8); f.Type != wire.TypeError || f.Error.Code != world.CodeTitleTooLong {
		t.Fatalf("answer %+v", f)
	}
	// Only an admin changes the grid.
	m := h.dialAs(h.member, true, "")
	m.handshake()
	m.send(9, world.Command{Kind: world.CmdSetGrid, Grid: 15})
	if f, _ := m.answer(9); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
		t.Fatalf("member's SetGrid: %+v", f)
	}
	if rev := a.ack(10, world.Command{Kind: world.CmdSetGrid, Grid: 15}); rev == 0 {
		t.Fatal("admin's SetGrid has no revision")
	}
}

func TestRestartKeepsStateAndRevision(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Backend")
	a := h.dial(true, "")
	a.handshake()
	var rev uint64
	for i := range 5 {
		rev = a.ack(uint32(i+1), newTask(svc, fmt.Sprintf("t%d", i)))
	}
	var before world.State
	h.eng.Read(context.Background(), func(w *world.World) { before = w.State() })
	h.stop()

	h2 := start(t, options{path: h.path})
	if got := h2.eng.Revision(); got != rev {
		t.Fatalf("revision after restart %d, want %d", got, rev)
	}
	c := h2.dial(true, "")
	_, snap := c.handshake()
	if !sameWorld(t, *snap, before) {
		t.Fatal("world after restart differs")
	}
	if next := c.ack(1, newTask(svc, "after")); next != rev+1 {
		t.Fatalf("first revision after restart %d, want %d", next, rev+1)
	}
}

func TestResume(t *testing.T) {
	h := start(t, options{engine: engine.Options{TailSize: 16}})
	svc := h.service("Backend")
	a := h.dial(true, "")
	_, snap := a.handshake()
	a.ws.Close(websocket.StatusNormalClosure, "")
	since := snap.Revision

	b := h.dial(true, "")
	b.handshake()
	var want []uint64
	for i := range 3 {
		want = append(want, b.ack(uint32(i+1), newTask(svc, fmt.Sprintf("missed %d", i))))
	}

	t.Run("exactly the missed events", func(t *testing.T) {
		c := h.dial(true, fmt.Sprintf("since=%d", since))
		c.expect(wire.TypeWelcome)
		for _, rev := range want {
			if f := c.next(); !wire.IsEvent(f.Type) || f.Event.Revision != rev {
				t.Fatalf("got 0x%02x at %d, want the event at %d", f.Type, f.Event.Revision, rev)
			}
		}
		// Then live.
		live := b.ack(10, newTask(svc, "live"))
		if f := c.next(); f.Event.Revision != live {
			t.Fatalf("live event at %d, want %d", f.Event.Revision, live)
		}
	})
	t.Run("older than the tail gets a snapshot", func(t *testing.T) {
		for i := range 20 {
			b.ack(uint32(100+i), newTask(svc, "filler"))
		}
		c := h.dial(true, fmt.Sprintf("since=%d", since))
		c.expect(wire.TypeWelcome)
		snap := c.expect(wire.TypeSnapshot).Snapshot
		if snap.Revision != h.eng.Revision() {
			t.Fatalf("snapshot at %d, world at %d", snap.Revision, h.eng.Revision())
		}
	})
	t.Run("a revision from the future gets a snapshot", func(t *testing.T) {
		c := h.dial(true, "since=999999")
		c.expect(wire.TypeWelcome)
		c.expect(wire.TypeSnapshot)
	})
	t.Run("since must be a number", func(t *testing.T) {
		_, res, err := h.dialRaw(true, "since=yesterday", http.Header{"Authorization": {"Bearer " + h.admin}})
		if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("dial with a bad since: %v %v", err, res)
		}
	})
}

func TestRetriedRequestIsNotAppliedTwice(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Backend")
	id := engine.RandomID()
	q := "client=" + id.String()
	a := h.dial(true, q)
	w, _ := a.handshake()
	if w.Client != id {
		t.Fatalf("welcome names client %s, want %s", w.Client, id)
	}
	rev := a.ack(5, newTask(svc, "once"))
	a.ws.Close(websocket.StatusNormalClosure, "")

	// The same command, the same client and request id, after a reconnect.
	b := h.dial(true, q)
	_, snap := b.handshake()
	b.send(5, newTask(svc, "once"))
	f, events := b.answer(5)
	if f.Type != wire.TypeAck || f.Ack.Revision != rev || len(events) != 0 {
		t.Fatalf("retry answered %+v after events %v; want the first Ack at %d and no event", f, events, rev)
	}
	if h.eng.Revision() != rev || len(snap.Tasks) != 1 {
		t.Fatalf("revision %d, tasks %d: applied twice", h.eng.Revision(), len(snap.Tasks))
	}
	// Another client's request 5 is its own command.
	c := h.dial(true, "")
	c.handshake()
	if got := c.ack(5, newTask(svc, "other")); got != rev+1 {
		t.Fatalf("another client's request 5 at %d", got)
	}
}

func TestPresence(t *testing.T) {
	h := start(t, options{})
	a := h.dial(true, "")
	wa, _ := a.handshake()
	b := h.dialAs(h.member, true, "")
	wb, _ := b.handshake()

	// b's full list holds both.
	full := waitPresence(t, b, wire.PresenceFull)
	if len(full.Entries) != 2 {
		t.Fatalf("full list %+v", full.Entries)
	}
	// a hears of b: as a join, or in a's full list when b came before
	// that list went out (a join waiting behind a full list is part of
	// it).
	heard := waitPresenceWith(t, a, func(p wire.Presence) bool {
		return p.Op == wire.PresenceJoined || p.Op == wire.PresenceFull && len(p.Entries) == 2
	})
	bEntry := wire.PresenceEntry{Session: wb.Session, User: wb.User}
	if heard.Op == wire.PresenceJoined && !slices.Equal(heard.Entries, []wire.PresenceEntry{bEntry}) || !slices.Contains(heard.Entries, bEntry) {
		t.Fatalf("a heard %+v, want b %s", heard, wb.Session)
	}
	b.ws.Close(websocket.StatusNormalClosure, "")
	left := waitPresence(t, a, wire.PresenceLeft)
	if left.Entries[0].Session != wb.Session {
		t.Fatalf("left %+v", left.Entries)
	}
	_ = wa
}

func waitPresence(t *testing.T, c *client, op uint8) wire.Presence {
	t.Helper()
	return waitPresenceWith(t, c, func(p wire.Presence) bool { return p.Op == op })
}

// waitPresenceWith returns the first Presence frame that ok accepts. It
// gives up after wait: other frames (telemetry) keep coming, so a read's
// own timeout would never end the wait.
func waitPresenceWith(t *testing.T, c *client, ok func(wire.Presence) bool) wire.Presence {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		_, f := c.read()
		if f.Type == wire.TypePresence && ok(f.Presence) {
			return f.Presence
		}
	}
	t.Fatalf("no such Presence frame within %s", wait)
	return wire.Presence{}
}

// A client that never reads must not hold up the others, nor make the
// server's memory grow; the server closes it once a write stalls.
func TestStalledClientDoesNotStopOthers(t *testing.T) {
	h := start(t, options{cfg: server.Config{Limits: server.Limits{WriteTimeout: 500 * time.Millisecond, PingInterval: time.Hour}}})
	svc := h.service("Backend")
	stalled := h.dial(true, "") // never reads from here on
	reader := h.dial(true, "")
	_, snap := reader.handshake()
	eventually(t, "both connections are open", func() bool { return h.status()["connections"].(float64) == 2 })

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	// Enough events (about 200 bytes each) to fill the stalled socket's
	// buffers many times over, submitted by many writers at once.
	const n = 40000
	title := strings.Repeat("t", world.MaxTitle)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c := newTask(svc, title)
				if res, err := h.eng.Do(context.Background(), engine.Request{Command: c}); err != nil || res.Err != nil {
					t.Errorf("submit: %v %v", err, res.Err)
				}
			}
		}()
	}
	var peak uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			next <- i
			if i%5000 == 0 {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
		close(next)
		wg.Wait()
	}()

	// The reader gets every event, in order, with no gap.
	want := snap.Revision + 1
	for want <= snap.Revision+n {
		f := reader.next()
		if !wire.IsEvent(f.Type) {
			continue
		}
		if f.Event.Revision != want {
			if f.Type == wire.TypeSnapshot {
				t.Fatalf("reader fell behind and got a snapshot at %d", f.Snapshot.Revision)
			}
			t.Fatalf("reader got revision %d, want %d", f.Event.Revision, want)
		}
		want++
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("waited %s for the 64 writers to end", wait)
	}
	// The server gave up on the stalled client.
	eventually(t, "the stalled connection is closed", func() bool { return h.status()["connections"].(float64) == 1 })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// What stays is the engine's world and its shared tail of events, the
	// same with or without the stalled client: far below what queueing the
	// 8 MB of events for it would take.
	t.Logf("heap in use: %d MB before, %d MB peak while stalled, %d MB after", base.HeapInuse>>20, peak>>20, after.HeapInuse>>20)
	if grown := int64(after.HeapInuse) - int64(base.HeapInuse); grown > 64<<20 {
		t.Fatalf("heap grew by %d MB", grown>>20)
	}
	if code := stalled.closedWith(); code == websocket.StatusNormalClosure {
		t.Fatalf("stalled client closed with %d", code)
	}
}

// A connection that answers no ping is closed 4004; one that reads (and
// so answers each ping) is kept. The pong timeout is one a loaded machine
// meets (the reading client's pong comes from its reader goroutine, which
// a busy machine may run late); the reading client counts the pings it
// gets, and the server sends the next ping only once the one before was
// answered, so each ping it gets is one more answered in time.
func TestKeepaliveClosesSilentConnection(t *testing.T) {
	const pongTimeout = 5 * time.Second
	h := start(t, options{cfg: server.Config{Limits: server.Limits{PingInterval: 50 * time.Millisecond, PongTimeout: pongTimeout}}})
	var pings atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	aliveWS, _, err := websocket.Dial(ctx, h.wsURL(""), &websocket.DialOptions{
		Subprotocols:   []string{wire.Subprotocol},
		HTTPHeader:     http.Header{"Authorization": {"Bearer " + h.admin}},
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	aliveWS.SetReadLimit(-1)
	t.Cleanup(func() { aliveWS.CloseNow() })
	aliveDone := make(chan error, 1)
	go func() { // reading answers pings
		for {
			if _, _, err := aliveWS.Read(context.Background()); err != nil {
				aliveDone <- err
				return
			}
		}
	}()
	eventually(t, "the first ping to the reading client", func() bool { return pings.Load() >= 1 })
	silent := h.dial(true, "") // never reads, so never answers a ping
	eventually(t, "both connections are open", func() bool { return h.status()["connections"].(float64) == 2 })
	// Not read until the server closed it: a read would answer its pings.
	eventually(t, "the silent connection is closed", func() bool { return h.status()["connections"].(float64) < 2 })
	if code := silent.closedWith(); code != 4004 {
		t.Fatalf("silent client closed with %d, want 4004", code)
	}
	// The reading client is kept through more pings, each answered.
	seen := pings.Load()
	eventually(t, "three more pings to the reading client", func() bool { return pings.Load() >= seen+3 })
	select {
	case err := <-aliveDone:
		t.Fatalf("the reading client was closed too: %v", err)
	default:
	}
	if n := h.status()["connections"].(float64); n != 1 {
		t.Fatalf("%v connections after the silent one closed, want 1 (the reading client)", n)
	}
}

func TestBadFrames(t *testing.T) {
	h := start(t, options{cfg: server.Config{Limits: server.Limits{MaxFrame: 1024, MaxBadFrames: 4}}})
	t.Run("garbage gets an error, then a close", func(t *testing.T) {
		c := h.dial(true, "")
		c.handshake()
		c.write([]byte{0x77, 1, 0, 0, 0})
		if f := c.expect(wire.TypeError); f.Error.Code != world.CodeUnknownType || f.Error.Request != 1 {
			t.Fatalf("unknown type answered %+v", f.Error)
		}
		c.write([]byte{wire.TypeCreateTask, 2, 0, 0, 0, 1})
		if f := c.expect(wire.TypeError); f.Error.Code != world.CodeBadFrame || f.Error.Request != 2 {
			t.Fatalf("short frame answered %+v", f.Error)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c.ws.Write(ctx, websocket.MessageText, []byte("hello"))
		if f := c.expect(wire.TypeError); f.Error.Code != world.CodeBadFrame {
			t.Fatalf("text frame answered %+v", f.Error)
		}
		// A good command in between resets the count.
		c.ack(3, world.Command{Kind: world.CmdCreateService, Text: "ok"})
		for range 5 {
			c.write([]byte{0x77})
		}
		if code := c.closedWith(); code != 4001 {
			t.Fatalf("closed with %d, want 4001", code)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		c := h.dial(true, "")
		c.handshake()
		c.write(append([]byte{wire.TypeCreateService, 1, 0, 0, 0}, bytes.Repeat([]byte("x"), 2000)...))
		if code := c.closedWith(); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d, want 1009", code)
		}
	})
	t.Run("the server is still up", func(t *testing.T) {
		c := h.dial(true, "")
		c.handshake()
		c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "still here"})
	})
}

func TestTooFastClientIsAnsweredNotDropped(t *testing.T) {
	// The server's clock stands still, so no token refills however slow
	// the machine: exactly the burst is accepted.
	frozen := time.Now()
	h := start(t, options{cfg: server.Config{Limits: server.Limits{CommandRate: 1, CommandBurst: 5}, Now: func() time.Time { return frozen }}})
	c := h.dial(true, "")
	c.handshake()
	const n = 20
	for i := range n {
		c.send(uint32(i+1), world.Command{Kind: world.CmdCreateService, Text: fmt.Sprintf("s%d", i)})
	}
	answered := map[uint32]bool{}
	limited := 0
	for len(answered) < n {
		f := c.next()
		var req uint32
		switch f.Type {
		case wire.TypeAck:
			req = f.Ack.Request
		case wire.TypeError:
			req = f.Error.Request
			if f.Error.Code != world.CodeRateLimited {
				t.Fatalf("error %+v", f.Error)
			}
			limited++
		default:
			continue
		}
		if answered[req] {
			t.Fatalf("request %d answered twice", req)
		}
		answered[req] = true
	}
	if limited != n-5 {
		t.Fatalf("%d of %d commands rate limited, want %d", limited, n, n-5)
	}
}

func TestUpgradeNeedsSessionAndOrigin(t *testing.T) {
	h := start(t, options{cfg: server.Config{AllowedOrigins: []string{"https://cal.example.com"}}})
	own := h.hs.URL // the server's own origin
	cookie := func(tok string) string { return "txxt_session=" + tok }
	cases := []struct {
		name   string
		header http.Header
		status int // 0: the upgrade succeeds
	}{
		{"no credentials", http.Header{}, 401},
		{"bad bearer token", http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"bearer token", http.Header{"Authorization": {"Bearer " + h.admin}}, 0},
		{"cookie from the own origin", http.Header{"Cookie": {cookie(h.admin)}, "Origin": {own}}, 0},
		{"cookie from a configured origin", http.Header{"Cookie": {cookie(h.admin)}, "Origin": {"https://cal.example.com"}}, 0},
		{"cookie without Origin", http.Header{"Cookie": {cookie(h.admin)}}, 401},
		{"cookie from a foreign origin", http.Header{"Cookie": {cookie(h.admin)}, "Origin": {"https://evil.example"}}, 403},
		{"bearer from a foreign origin", http.Header{"Authorization": {"Bearer " + h.admin}, "Origin": {"https://evil.example"}}, 403},
		{"bad cookie from the own origin", http.Header{"Cookie": {cookie("nope")}, "Origin": {own}}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws, res, err := h.dialRaw(true, "", tc.header)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ws.CloseNow()
				return
			}
			if err == nil {
				ws.CloseNow()
				t.Fatal("upgrade succeeded")
			}
			if res == nil || res.StatusCode != tc.status {
				t.Fatalf("got %v, want HTTP %d", err, tc.status)
			}
		})
	}
}

func TestLogoutClosesGameConnection(t *testing.T) {
	h := start(t, options{})
	tok := h.login("bob", "bob-pw")
	c := h.dialAs(tok, true, "")
	c.handshake()
	if res, body := h.do("POST", "/api/auth/logout", tok, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", res.StatusCode, body)
	}
	if code := c.closedWith(); code != 4002 {
		t.Fatalf("closed with %d, want 4002", code)
	}
	if _, _, err := h.dialRaw(true, "", http.Header{"Authorization": {"Bearer " + tok}}); err == nil {
		t.Fatal("a revoked token still connects")
	}
}

func TestGracefulShutdownClosesWith1001(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Backend")
	a, old := h.dial(true, ""), h.dial(false, "")
	a.handshake()
	old.handshake()
	rev := a.ack(1, newTask(svc, "before shutdown"))
	h.stop()
	if code := a.closedWith(); code != websocket.StatusGoingAway {
		t.Fatalf("v1 client closed with %d, want 1001", code)
	}
	if code := old.closedWith(); code != websocket.StatusGoingAway {
		t.Fatalf("v0 client closed with %d, want 1001", code)
	}
	h2 := start(t, options{path: h.path})
	if h2.eng.Revision() != rev {
		t.Fatalf("revision %d after restart, want %d", h2.eng.Revision(), rev)
	}
}

func sameWorld(t *testing.T, a, b world.State) bool {
	t.Helper()
	wa, err := world.FromState(a)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := world.FromState(b)
	if err != nil {
		t.Fatal(err)
	}
	return world.Equal(wa, wb)
}
