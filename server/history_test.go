package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

type historyPage struct {
	Changes []struct {
		Revision  uint64    `json:"revision"`
		Time      time.Time `json:"time"`
		ActorName string    `json:"actor_name"`
		Kind      string    `json:"kind"`
		Title     string    `json:"title"`
		Field     string    `json:"field"`
		From      string    `json:"from"`
		To        string    `json:"to"`
		Text      string    `json:"text"`
	} `json:"changes"`
	Next uint64 `json:"next"`
	Kept struct {
		Complete bool       `json:"complete"`
		From     uint64     `json:"from"`
		Time     *time.Time `json:"time"`
	} `json:"kept"`
}

func (h *harness) page(path string) historyPage {
	h.t.Helper()
	res, body := h.do("GET", path, h.member, nil)
	if res.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	var p historyPage
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return p
}

// A task's history says every change, who made it, when, and from what to
// what; it is read from the log, so it is the same after a restart; after
// compaction it shows what the kept log holds and says where it ends.
func TestHistoryAcrossRestartAndCompaction(t *testing.T) {
	opts := options{engine: engine.Options{SnapshotEvery: 20, KeepLog: 10}}
	h := start(t, opts)
	svc := h.service("Ops")
	c := h.dial(true, "")
	c.handshake()
	cmd := world.Command{Kind: world.CmdCreateTask, Task: engine.RandomID(), Service: svc, Slot: world.Slot{Date: 20424, Start: 540, Duration: 60}, Text: "Patch the routers"}
	id := createdTask(t, c, 1, cmd)
	moved := c.ack(2, world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20425, Start: 840, Duration: 60}})
	c.ack(3, world.Command{Kind: world.CmdRenameTask, Task: id, Text: "Patch the core routers"})

	p := h.page("/api/tasks/" + id.String() + "/history")
	if len(p.Changes) != 3 || !p.Kept.Complete {
		t.Fatalf("history: %+v", p)
	}
	m := p.Changes[1]
	// 20424 is Tue 2 Dec 2025.
	if m.Revision != moved || m.ActorName != "ann" || m.Field != "slot" || m.Text != "moved from Tue 2 Dec 09:00–10:00 to Wed 3 Dec 14:00–15:00" {
		t.Errorf("the move: %+v", m)
	}
	if r := p.Changes[0]; r.Text != "renamed it from “Patch the routers” to “Patch the core routers”" || r.Title != "Patch the core routers" {
		t.Errorf("the rename: %+v", r)
	}
	if time.Since(m.Time) > time.Hour || m.Time.After(time.Now().Add(time.Minute)) {
		t.Errorf("the move's time: %v", m.Time)
	}
	a := h.page("/api/activity?limit=2")
	if len(a.Changes) != 2 || a.Changes[0].Kind != "TaskRenamed" || a.Next != a.Changes[1].Revision {
		t.Errorf("activity: %+v", a)
	}
	if a := h.page("/api/activity?service=" + svc.String()); len(a.Changes) != 4 { // the service's creation and the task's three
		t.Errorf("activity of the service: %d changes", len(a.Changes))
	}
	if a := h.page("/api/activity?user=" + engine.RandomID().String()); len(a.Changes) != 0 {
		t.Errorf("activity of nobody: %d changes", len(a.Changes))
	}
	for path, code := range map[string]string{
		"/api/tasks/nope/history":                        "BAD_REQUEST",
		"/api/tasks/" + id.String() + "/history?limit=0": "BAD_REQUEST",
		"/api/activity?user=x":                           "BAD_REQUEST",
		"/api/past?rev=1&at=2026-12-01T10:41:00Z":        "BAD_REQUEST",
		"/api/past?rev=999":                              "BAD_REQUEST",
		"/api/past?at=yesterday":                         "BAD_REQUEST",
	} {
		if _, body := h.do("GET", path, h.member, nil); !strings.Contains(string(body), `"code":"`+code+`"`) {
			t.Errorf("GET %s: %s, want %s", path, body, code)
		}
	}

	// Across a restart: the same history.
	h.stop()
	opts.path = h.path
	h = start(t, opts)
	if again := h.page("/api/tasks/" + id.String() + "/history"); len(again.Changes) != 3 || again.Changes[1].Text != m.Text {
		t.Fatalf("after a restart: %+v", again)
	}

	// Enough changes for compaction: the history keeps what the log holds.
	c = h.dial(true, "")
	c.handshake()
	for i := range 60 {
		c.ack(uint32(10+i), world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.Priority(i % 4)})
	}
	h.stop()
	h = start(t, opts)
	p = h.page("/api/tasks/" + id.String() + "/history?limit=500")
	if p.Kept.Complete || p.Kept.Time == nil || p.Kept.From <= 4 {
		t.Fatalf("after compaction the history is said to be kept from %+v", p.Kept)
	}
	if n := len(p.Changes); n == 0 || n >= 63 || p.Changes[n-1].Revision <= p.Kept.From {
		t.Fatalf("after compaction: %d changes, the oldest at %d, kept from %d", n, p.Changes[n-1].Revision, p.Kept.From)
	}
	if _, body := h.do("GET", "/api/past?rev=2", h.member, nil); !strings.Contains(string(body), `"code":"NOT_FOUND"`) || !strings.Contains(string(body), "history kept starts") {
		t.Errorf("the past before the kept history: %s", body)
	}
	// The task's creation is no longer in the log, yet the oldest kept
	// change still says what it changed from: the task is rebuilt from
	// the snapshot the kept log continues.
	if o := p.Changes[len(p.Changes)-1]; o.Field != "priority" || o.From == "" || o.To == "" {
		t.Errorf("the oldest kept change: %+v", o)
	}

	// Every kind of change, from what to what, after compaction and a
	// restart, in the task's history and in the activity.
	other := h.service("Billing")
	var bob world.ID
	h.eng.Read(context.Background(), func(w *world.World) {
		for _, u := range w.Users() {
			if u.Name == "bob" {
				bob = u.ID
			}
		}
	})
	c = h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20426, Start: 600, Duration: 90}})
	c.ack(2, world.Command{Kind: world.CmdStartTask, Task: id})
	c.ack(3, world.Command{Kind: world.CmdCompleteTask, Task: id})
	c.ack(4, world.Command{Kind: world.CmdAssignTask, Task: id, Assignee: bob})
	c.ack(5, world.Command{Kind: world.CmdSetService, Task: id, Service: other})
	c.ack(6, world.Command{Kind: world.CmdRenameTask, Task: id, Text: "Patch every router"})
	c.ack(7, world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.Urgent})
	h.stop()
	h = start(t, opts)
	want := []string{
		"changed its priority from " + world.Priority(59%4).String() + " to urgent",
		"renamed it from “Patch the core routers” to “Patch every router”",
		"moved it to another service from Ops to Billing",
		"assigned it from nobody to bob",
		"completed it (it was active)",
		"started it (it was scheduled)",
		"moved from Wed 3 Dec 14:00–15:00 to Thu 4 Dec 10:00–11:30",
	}
	for _, path := range []string{"/api/tasks/" + id.String() + "/history?limit=7", "/api/activity?limit=7"} {
		p = h.page(path)
		var got []string
		for _, ch := range p.Changes {
			got = append(got, ch.Text)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s after compaction and a restart:\n got %q\nwant %q", path, got, want)
		}
	}
}

// The plan as it stood, at a revision or a moment, is a Snapshot frame of
// the world then, the same as the world replayed to that revision.
func TestPastView(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Ops")
	c := h.dial(true, "")
	c.handshake()
	cmd := world.Command{Kind: world.CmdCreateTask, Task: engine.RandomID(), Service: svc, Slot: world.Slot{Date: 20424, Start: 540, Duration: 60}, Text: "A"}
	cmd.Task = createdTask(t, c, 1, cmd)
	rev := h.eng.Revision()
	var then world.State
	h.eng.Read(context.Background(), func(w *world.World) { then = w.State() })
	time.Sleep(2 * time.Millisecond) // the moment between must be a distinct instant
	between := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	c.ack(2, world.Command{Kind: world.CmdMoveTask, Task: cmd.Task, Slot: world.Slot{Date: 20426, Start: 600, Duration: 60}})
	c.ack(3, world.Command{Kind: world.CmdDeleteTask, Task: cmd.Task})

	for _, q := range []string{fmt.Sprint("rev=", rev), "at=" + between.Format(time.RFC3339Nano)} {
		res, body := h.do("GET", "/api/past?"+q, h.member, nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("X-Txxt-Revision") != fmt.Sprint(rev) {
			t.Fatalf("GET /api/past?%s: %d %v %.200s", q, res.StatusCode, res.Header, body)
		}
		got, err := wire.DecodeSnapshot(body)
		if err != nil {
			t.Fatalf("past %s: %v", q, err)
		}
		a, _ := world.FromState(*got)
		b, _ := world.FromState(then)
		if !world.Equal(a, b) {
			t.Errorf("past %s differs from the world at revision %d", q, rev)
		}
	}
}

// createdTask sends a CreateTask and returns the new task's id (the
// server gives it).
func createdTask(t *testing.T, c *client, request uint32, cmd world.Command) world.ID {
	t.Helper()
	c.send(request, cmd)
	f, events := c.answer(request)
	if f.Type != wire.TypeAck || len(events) != 1 {
		t.Fatalf("create: %+v, %d events", f, len(events))
	}
	return events[0].Task.ID
}

// A calendar feed: made by a member, fetched without a session by its
// token, listed and revoked only by its owner, rate limited per token.
func TestCalendarFeeds(t *testing.T) {
	h := start(t, options{})
	h.service("Ops")
	res, body := h.do("POST", "/api/feeds", h.member, map[string]string{"scope": "team"})
	var made struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &made) != nil || !strings.HasSuffix(made.URL, ".ics") {
		t.Fatalf("POST /api/feeds: %d %s", res.StatusCode, body)
	}
	path := made.URL[strings.Index(made.URL, "/feeds/"):]
	res, body = h.do("GET", path, "", nil)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/calendar") || !strings.HasPrefix(string(body), "BEGIN:VCALENDAR\r\n") {
		t.Fatalf("GET the feed: %d %v %.200s", res.StatusCode, res.Header, body)
	}
	for _, bad := range []map[string]string{{"scope": "everything"}, {"scope": "service", "service": engine.RandomID().String()}} {
		if _, body := h.do("POST", "/api/feeds", h.member, bad); !strings.Contains(string(body), `"code":"BAD_REQUEST"`) && !strings.Contains(string(body), `"code":"SERVICE_NOT_FOUND"`) {
			t.Errorf("POST /api/feeds %v: %s", bad, body)
		}
	}
	if _, body := h.do("GET", "/api/feeds", h.member, nil); !strings.Contains(string(body), made.ID) || strings.Contains(string(body), "url") {
		t.Errorf("the owner's list: %s", body)
	}
	if _, body := h.do("GET", "/api/feeds", h.admin, nil); strings.Contains(string(body), made.ID) {
		t.Errorf("another member's list holds it: %s", body)
	}
	if res, _ := h.do("DELETE", "/api/feeds/"+made.ID, h.admin, nil); res.StatusCode != 404 {
		t.Errorf("another member revoked it: %d", res.StatusCode)
	}
	limited := false
	for range 30 {
		if res, _ := h.do("GET", path, "", nil); res.StatusCode == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("30 fetches at once were not rate limited")
	}
	if res, _ := h.do("DELETE", "/api/feeds/"+made.ID, h.member, nil); res.StatusCode != 204 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if res, body := h.do("GET", path, "", nil); res.StatusCode != 404 || !strings.Contains(string(body), "NOT_FOUND") {
		t.Errorf("a revoked feed: %d %s", res.StatusCode, body)
	}
	if res, _ := h.do("GET", "/feeds/short.ics", "", nil); res.StatusCode != 404 {
		t.Errorf("a made-up feed: %d", res.StatusCode)
	}
}
