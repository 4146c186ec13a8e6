package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// What one user may take of the server, whatever the number of their
// connections: a command budget, a fair place in the engine's batches,
// connections, pings, bytes read; and what a stalled connection may hold.
// Only lower bounds of time are exact here; upper bounds are in counts
// (batches, revisions, snapshot builds, bytes), never in seconds.

// TestConnectionsPerUserAndInTotal: with 3 per user and 4 in all, ann's
// fourth connection is refused 429 TOO_MANY_CONNECTIONS with the limit in
// its message, bob still gets in, the fifth of all is refused; closing one
// frees its slot.
func TestConnectionsPerUserAndInTotal(t *testing.T) {
	h := start(t, options{cfg: server.Config{Limits: server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: 3, MaxConns: 4}}})
	dial := func(token string) (*client, string) {
		t.Helper()
		ws, res, err := h.dialRaw(true, "", http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			if res == nil {
				t.Fatalf("dial: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			apiError(t, res, body, http.StatusTooManyRequests, world.CodeTooManyConnections)
			return nil, string(body)
		}
		t.Cleanup(func() { ws.CloseNow() })
		c := &client{t: t, ws: ws, v1: true}
		c.handshake()
		return c, ""
	}
	var anns []*client
	for range 3 {
		c, body := dial(h.admin)
		if c == nil {
			t.Fatalf("ann's connection %d refused: %s", len(anns)+1, body)
		}
		anns = append(anns, c)
	}
	if c, body := dial(h.admin); c != nil || !strings.Contains(body, "3 pages") {
		t.Fatalf("ann's fourth connection: let in, or refused without the limit: %s", body)
	}
	if c, body := dial(h.member); c == nil {
		t.Fatalf("bob refused while ann is full: %s", body)
	}
	if c, body := dial(h.member); c != nil || !strings.Contains(body, "4 pages") {
		t.Fatalf("the fifth connection of all: let in, or refused without the limit: %s", body)
	}
	anns[0].ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, "a closed connection's slot is free", func() bool {
		c, _ := dial(h.member)
		if c != nil {
			c.ws.CloseNow()
		}
		return c != nil
	})
}

// TestCommandBudgetIsPerUser: the clock stands still, so the budget
// (burst 5) is what there is: two connections of ann share it, and bob has
// his own.
func TestCommandBudgetIsPerUser(t *testing.T) {
	frozen := time.Now()
	h := start(t, options{cfg: server.Config{Limits: server.Limits{CommandRate: 1, CommandBurst: 5}, Now: func() time.Time { return frozen }}})
	svc := h.service("Ops")
	a1, a2, b := h.dial(true, ""), h.dial(true, ""), h.dialAs(h.member, true, "")
	for _, c := range []*client{a1, a2, b} {
		c.handshake()
	}
	codes := func(c *client, first uint32, n int) (ok, limited int) {
		for i := range n {
			req := first + uint32(i)
			c.send(req, newTask(svc, fmt.Sprint(req)))
			switch f, _ := c.answer(req); {
			case f.Type == wire.TypeAck:
				ok++
			case f.Type == wire.TypeError && f.Error.Code == world.CodeRateLimited:
				limited++
			default:
				t.Fatalf("request %d: %+v", req, f)
			}
		}
		return
	}
	if ok, _ := codes(a1, 1, 3); ok != 3 {
		t.Fatalf("ann's first connection: %d of 3 accepted", ok)
	}
	if ok, limited := codes(a2, 10, 4); ok != 2 || limited != 2 {
		t.Fatalf("ann's second connection: %d accepted, %d RATE_LIMITED; want 2 and 2 (a budget of 5 shared)", ok, limited)
	}
	if ok, _ := codes(b, 20, 5); ok != 5 {
		t.Fatalf("bob: %d of 5 accepted: ann's budget is not his", ok)
	}
}

// TestAFloodDoesNotQueueABystander: bob floods from 8 connections while
// the engine is held, until his own queue is full and he is refused
// OVERLOADED; ann's 10 commands are all taken, and, released, the engine
// applies them among the first 20 revisions (one of each user in turn),
// not behind bob's backlog of 64.
func TestAFloodDoesNotQueueABystander(t *testing.T) {
	h := start(t, options{noSync: true,
		cfg:    server.Config{Limits: server.Limits{CommandRate: 1e9, CommandBurst: 1e9}},
		engine: engine.Options{QueueSize: 128, UserQueue: 64}})
	svc := h.service("Ops")
	// Every connection is open (its Welcome reads the world) before the
	// engine is held.
	bobs := make([]*client, 8)
	for i := range bobs {
		bobs[i] = h.dialAs(h.member, true, "")
		bobs[i].handshake()
	}
	ann := h.dial(true, "")
	ann.handshake()
	entered, held := make(chan struct{}), make(chan struct{})
	go h.eng.Read(context.Background(), func(*world.World) { close(entered); <-held })
	recvT(t, entered, "the engine to be held")
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(held) }) })
	base := h.eng.Revision()

	overloaded := make(chan struct{}, 1)
	var floods sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	defer func() { stop(); floods.Wait() }()
	for i, c := range bobs {
		floods.Add(2)
		go func() { // reads the answers: OVERLOADED once bob's queue is full
			defer floods.Done()
			for {
				_, raw, err := c.ws.Read(ctx)
				if err != nil {
					return
				}
				if f, err := wire.DecodeServerFrame(raw, true); err == nil && f.Type == wire.TypeError && f.Error.Code == world.CodeOverloaded {
					select {
					case overloaded <- struct{}{}:
					default:
					}
				}
			}
		}()
		go func() {
			defer floods.Done()
			for n := uint32(1); ctx.Err() == nil; n++ {
				cmd := newTask(svc, fmt.Sprintf("flood %d.%d", i, n))
				if c.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, n, &cmd)) != nil {
					return
				}
			}
		}()
	}
	recvT(t, overloaded, "bob to be refused OVERLOADED")
	for i := range 10 {
		cmd := newTask(svc, fmt.Sprint("ann ", i))
		ann.send(uint32(1000+i), cmd)
	}
	eventually(t, "ann's 10 commands are queued", func() bool { return h.eng.Stats().QueueLength >= 64+10 })
	release.Do(func() { close(held) })
	for i := range 10 {
		f, _ := ann.answer(uint32(1000 + i))
		if f.Type != wire.TypeAck {
			t.Fatalf("ann's command %d: %+v %+v, want an Ack", i, f.Ack, f.Error)
		}
		if f.Ack.Revision > base+20 {
			t.Fatalf("ann's command %d applied at revision %d, %d after the hold: behind bob's backlog", i, f.Ack.Revision, f.Ack.Revision-base)
		}
	}
}

func recvT[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("waited %s for %s", wait, what)
	}
	var zero T
	return zero
}

// TestReadRateIsBounded: at 1 MiB a second (bursts of 64 KiB), the server
// takes 2 MiB of frames in no less than about 1.9 s, so the Pong to a Ping
// sent after them comes no sooner than 1.5 s.
func TestReadRateIsBounded(t *testing.T) {
	h := start(t, options{cfg: server.Config{TelemetryEvery: time.Hour, Limits: server.Limits{ReadRate: 1 << 20, ReadBurst: 64 << 10}}})
	c := h.dial(true, "")
	c.handshake()
	stats := wire.AppendClientStats(nil, &wire.ClientStats{RTTp50: 1, RTTp95: 2, FPS: 60})
	perFrame := len(stats) + 6 // a client's frame header: 2 bytes and the 4 of its mask
	frames := make([][]byte, 2<<20/perFrame)
	for i := range frames {
		frames[i] = stats
	}
	frames = append(frames, wire.AppendPing(nil, &wire.Ping{Nonce: 77}))
	began := time.Now()
	sent := flood(c, frames)
	for {
		f := c.next()
		if f.Type == wire.TypePong && f.Pong.Nonce == 77 {
			break
		}
	}
	if took := time.Since(began); took < 1500*time.Millisecond {
		t.Fatalf("2 MiB read in %s at 1 MiB/s", took)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestPresenceIsJoinsAndLeaves: a watcher gets the full list once, then
// 300 connections arriving come as joins (batched), never as a full list
// again; each newcomer's first Presence frame is the full list, with
// itself in it; leaving is a Left.
func TestPresenceIsJoinsAndLeaves(t *testing.T) {
	h := start(t, options{cfg: server.Config{TelemetryEvery: time.Hour, Limits: server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: -1, PresenceListed: -1}}})
	watcher := h.dial(true, "")
	watcher.handshake()
	if full := waitPresence(t, watcher, wire.PresenceFull); len(full.Entries) != 1 {
		t.Fatalf("the watcher's full list: %+v", full.Entries)
	}
	const n = 300
	crowd := make([]*client, n)
	var wg sync.WaitGroup
	for i := range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := h.dialRaw(true, "", http.Header{"Authorization": {"Bearer " + h.member}})
			if err != nil {
				t.Error(err)
				return
			}
			crowd[i] = &client{t: t, ws: ws, v1: true}
		}()
	}
	wg.Wait()
	for _, c := range crowd {
		if c == nil {
			t.FailNow()
		}
		t.Cleanup(func() { c.ws.CloseNow() })
	}
	// Each newcomer reads its Welcome and its first Presence frame.
	first := crowd[n-1]
	welcome, _ := first.handshake()
	p := waitPresenceWith(t, first, func(wire.Presence) bool { return true })
	if p.Op != wire.PresenceFull {
		t.Fatalf("a newcomer's first Presence frame has op %d, want the full list", p.Op)
	}
	if !containsSession(p.Entries, welcome.Session) {
		t.Fatal("a newcomer's full list does not hold itself")
	}
	joined := map[world.ID]bool{}
	frames := 0
	for len(joined) < n {
		p := waitPresenceWith(t, watcher, func(wire.Presence) bool { return true })
		frames++
		if p.Op != wire.PresenceJoined {
			t.Fatalf("the watcher got op %d after %d joins, want only joins", p.Op, len(joined))
		}
		for _, e := range p.Entries {
			joined[e.Session] = true
		}
	}
	t.Logf("%d joins in %d frames", n, frames)
	first.ws.Close(websocket.StatusNormalClosure, "")
	left := waitPresence(t, watcher, wire.PresenceLeft)
	if len(left.Entries) != 1 || left.Entries[0].Session != welcome.Session {
		t.Fatalf("left: %+v", left.Entries)
	}
}

func containsSession(list []wire.PresenceEntry, s world.ID) bool {
	for _, e := range list {
		if e.Session == s {
			return true
		}
	}
	return false
}

// fillWorld creates n tasks through the engine.
func fillWorld(t *testing.T, h *harness, n int) world.ID {
	svc := h.service("Bulk")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				res, err := h.eng.Do(context.Background(), engine.Request{Command: newTask(svc, fmt.Sprintf("task %d", i))})
				if err == nil && res.Err != nil {
					err = res.Err
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitGroupT(t, &wg, fmt.Sprintf("%d tasks created", n))
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return svc
}

func waitGroupT(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recvT(t, done, what)
}

// smallWindow is an HTTP client whose connections have a small receive
// buffer: a test client that stops reading holds up the server's writes
// sooner.
func smallWindow() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// heapBytes is the live heap after a collection.
func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStalledClientsShareOneSnapshot: on a world of 20,000 tasks (a
// snapshot of about 3.8 MB), 128 connections that stop reading after the
// first byte of their snapshot, while a writer changes the world, hold
// the server's heap within 6 snapshots (not 128), the engine builds at
// most 2; then a storm of 200 ?since=0 connections at one revision builds
// none or one.
func TestStalledClientsShareOneSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a world of 20,000 tasks")
	}
	h := start(t, options{noSync: true, cfg: server.Config{TelemetryEvery: time.Hour,
		Limits: server.Limits{MaxConnsPerHost: -1, MaxConnsPerUser: -1, WriteTimeout: time.Minute, PingInterval: time.Hour, CommandRate: 1e9, CommandBurst: 1e9}}})
	svc := fillWorld(t, h, 20000)
	snap, err := h.eng.Snapshot(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(len(snap.Frame))

	// firstByte opens a connection and reads its Welcome and the first
	// byte of its snapshot: the server has it and is writing it.
	firstByte := func(query string) (*websocket.Conn, error) {
		ws, _, err := h.dialVia(smallWindow(), true, query, http.Header{"Authorization": {"Bearer " + h.member}})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if _, _, err := ws.Read(ctx); err != nil { // Welcome
			ws.CloseNow()
			return nil, err
		}
		_, r, err := ws.Reader(ctx)
		if err == nil {
			_, err = r.Read(make([]byte, 1))
		}
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		return ws, nil
	}
	open := func(n int, query string) []*websocket.Conn {
		conns := make([]*websocket.Conn, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws, err := firstByte(query)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = ws
			}()
		}
		waitGroupT(t, &wg, fmt.Sprintf("%d connections to start their snapshot", n))
		for _, ws := range conns {
			if ws != nil {
				t.Cleanup(func() { ws.CloseNow() })
			}
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		return conns
	}

	base := heapBytes()
	builds := h.eng.Stats().SnapshotBuilds
	writer := h.dial(true, "")
	writer.handshake()
	stopWriting := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for n < 2000 { // fewer than half the ring: one shared snapshot may serve them all
			select {
			case <-stopWriting:
				return
			default:
			}
			n++
			writer.send(uint32(n), newTask(svc, fmt.Sprint("w", n)))
			if f, _ := writer.answer(uint32(n)); f.Type != wire.TypeAck {
				t.Errorf("the writer's command %d: %+v", n, f.Error)
				return
			}
		}
	}()
	open(128, "")
	close(stopWriting)
	t.Logf("the writer made %d changes", <-wrote)
	held := heapBytes()
	built := h.eng.Stats().SnapshotBuilds - builds
	t.Logf("snapshot %d bytes; heap %d → %d with 128 stalled connections; %d snapshots built", size, base, held, built)
	if built > 2 {
		t.Fatalf("%d snapshots built for 128 connections under one writer, want at most 2", built)
	}
	if held > base+6*size {
		t.Fatalf("the heap grew by %d bytes (%.1f snapshots) with 128 stalled connections, want at most 6 snapshots", held-base, float64(held-base)/float64(size))
	}

	builds = h.eng.Stats().SnapshotBuilds
	open(200, "since=0")
	if built := h.eng.Stats().SnapshotBuilds - builds; built > 1 {
		t.Fatalf("a storm of 200 ?since=0 connections at one revision built %d snapshots, want at most 1", built)
	}
}
