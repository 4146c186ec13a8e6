package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/jetstream"
	"txxt/jetstream/natstest"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// histNATS runs one NATS server with JetStream inside the test process
// (file storage under the test's directory, fsync on every write, as
// production must) and sets up the worlds' streams, the snapshot bucket
// and the ownership buckets. It returns its URL; it ends with the test.
func histNATS(t *testing.T) string {
	t.Helper()
	url := natstest.Start(t)
	js := histConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := jetstream.Setup(ctx, js, jetstream.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := jetstream.SetupOwnership(ctx, js, jetstream.OwnershipOptions{}); err != nil {
		t.Fatal(err)
	}
	return url
}

// histConnect opens a NATS connection of its own (a node's), closed with
// the test.
func histConnect(t *testing.T, url string) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// histPlacement is a fixed placement: the team's world is owned by one
// node (the cluster's Manager moves worlds; these tests do not).
type histPlacement struct {
	node, owner string
	teams       []string
}

func (p *histPlacement) Node() string            { return p.node }
func (p *histPlacement) SetTeams(slugs []string) { p.teams = slugs }
func (p *histPlacement) Nodes() []string         { return []string{"node-a", "node-b"} }
func (p *histPlacement) Owned() []string {
	if p.node == p.owner {
		return p.teams
	}
	return []string{}
}
func (p *histPlacement) Owner(context.Context, string) (string, error) { return p.owner, nil }

const histTeam = "main"

// histNode starts a node of a cluster on the NATS server at url serving
// the team's world: as its owner (its engine on the world's stream,
// guarded by its lease, taking the commands other nodes forward) or as a
// follower (its engine following the stream and forwarding its commands).
// The first node registers the team and its accounts ann (admin) and bob
// (member). It returns the node as the tests' harness, and stop, which
// stops it (as the test's end does): its server, its engine (a final
// snapshot), its command subject and its lease, in that order.
func histNode(t *testing.T, url, name string, owner bool, opts engine.Options) (h *harness, stop func()) {
	t.Helper()
	var stops []func()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
		})
	}
	t.Cleanup(stop)
	js := histConnect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	accounts, err := jetstream.OpenTables(ctx, js, "TXXT_ACCOUNTS", jetstream.TablesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := jetstream.OpenTables(ctx, js, "TXXT_TEAM_"+histTeam, jetstream.TablesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var eng *engine.Engine
	if owner {
		leases, err := jetstream.OpenLeases(ctx, js, nil)
		if err != nil {
			t.Fatal(err)
		}
		lease, err := leases.Acquire(ctx, histTeam, name)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, func() { lease.Release(context.Background()) })
		log, err := jetstream.Open(ctx, js, histTeam, name, jetstream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if eng, err = engine.Open(lease.Guard(log), opts); err != nil {
			t.Fatal(err)
		}
		o, err := jetstream.Serve(js.Conn(), histTeam, eng)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, func() { o.Close() })
	} else {
		log, err := jetstream.OpenReader(ctx, js, histTeam, jetstream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if eng, err = engine.Follow(log, jetstream.NewForwarder(js.Conn(), histTeam, jetstream.ForwardOptions{}), opts); err != nil {
			t.Fatal(err)
		}
	}
	stops = append(stops, func() { eng.Close() })
	owners := "node-b"
	if owner {
		owners = name
	}
	srv, err := server.NewClustered(server.Config{HashParams: fastHash, Version: "test"}, accounts, &histPlacement{node: name, owner: owners})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := srv.Accounts().Teams(); len(info) == 0 {
		if err := srv.RegisterTeam(server.TeamInfo{Slug: histTeam, Name: "Main", Created: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.ServeTeam(histTeam, eng, tb); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = srv.HTTPServer()
	hs.Start()
	stops = append(stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("%s: shutdown: %v", name, err)
		}
		hs.Close()
	})
	h = &harness{t: t, eng: eng, srv: srv, hs: hs}
	h.once.Do(func() {}) // stop is this cleanup's, not the save file's
	if owner {
		for _, u := range []struct {
			name string
			role server.Role
		}{{"ann", server.RoleAdmin}, {"bob", server.RoleMember}} {
			if _, err := srv.Accounts().Get(u.name); err == nil {
				continue
			}
			if _, err := srv.Accounts().Create(u.name, u.name+"-pw", u.role); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.AddMember(ctx, histTeam, u.name, "", u.role); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.admin = h.login("ann", "ann-pw")
	h.member = h.login("bob", "bob-pw")
	return h, stop
}

// histCaughtUp waits until node's world is at revision rev.
func histCaughtUp(t *testing.T, node *harness, rev uint64) {
	t.Helper()
	eventually(t, fmt.Sprintf("the node's world to reach revision %d", rev), func() bool { return node.eng.Revision() >= rev })
}

// histTexts is the words of a page's changes, newest first.
func histTexts(p historyPage) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Text)
	}
	return out
}

// On a cluster every node answers a team's history, its activity and its
// past from the world's JetStream stream, exactly as one node answers
// from its save file (the checks of TestHistoryAcrossRestartAndCompaction
// and TestPastView): the owner of the world and a follower give the same
// pages, before and after compaction and after the owner's restart; the
// backup download alone stays unavailable, saying what to back up.
func TestHistoryOnACluster(t *testing.T) {
	url := histNATS(t)
	opts := engine.Options{SnapshotEvery: 20, KeepLog: 10}
	a, stopA := histNode(t, url, "node-a", true, opts)
	b, _ := histNode(t, url, "node-b", false, opts)
	nodes := map[string]*harness{"owner": a, "follower": b}
	svc := a.service("Ops")

	// Created on the owner's node, changed through the follower's (which
	// forwards to the owner).
	ca := a.dial(true, "")
	ca.handshake()
	cb := b.dial(true, "")
	cb.handshake()
	id := createdTask(t, ca, 1, world.Command{Kind: world.CmdCreateTask, Task: engine.RandomID(), Service: svc, Slot: world.Slot{Date: 20424, Start: 540, Duration: 60}, Text: "Patch the routers"})
	moved := cb.ack(2, world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20425, Start: 840, Duration: 60}})
	rev := cb.ack(3, world.Command{Kind: world.CmdRenameTask, Task: id, Text: "Patch the core routers"})
	histCaughtUp(t, a, rev)
	histCaughtUp(t, b, rev)
	for name, h := range nodes {
		p := h.page("/api/tasks/" + id.String() + "/history")
		if len(p.Changes) != 3 || !p.Kept.Complete {
			t.Fatalf("%s: history: %+v", name, p)
		}
		if m := p.Changes[1]; m.Revision != moved || m.ActorName != "ann" || m.Field != "slot" || m.Text != "moved from Tue 2 Dec 09:00–10:00 to Wed 3 Dec 14:00–15:00" {
			t.Errorf("%s: the move: %+v", name, m)
		}
		if r := p.Changes[0]; r.Text != "renamed it from “Patch the routers” to “Patch the core routers”" || r.Title != "Patch the core routers" {
			t.Errorf("%s: the rename: %+v", name, r)
		}
		if a := h.page("/api/activity?limit=2"); len(a.Changes) != 2 || a.Changes[0].Kind != "TaskRenamed" || a.Next != a.Changes[1].Revision {
			t.Errorf("%s: activity: %+v", name, a)
		}
		if a := h.page("/api/activity?service=" + svc.String()); len(a.Changes) != 4 {
			t.Errorf("%s: activity of the service: %d changes", name, len(a.Changes))
		}
		for path, code := range map[string]string{
			"/api/tasks/nope/history":                 "BAD_REQUEST",
			"/api/past?rev=1&at=2026-12-01T10:41:00Z": "BAD_REQUEST",
			"/api/past?rev=999":                       "BAD_REQUEST",
		} {
			if _, body := h.do("GET", path, h.member, nil); !strings.Contains(string(body), `"code":"`+code+`"`) {
				t.Errorf("%s: GET %s: %s, want %s", name, path, body, code)
			}
		}
		res, body := h.do("GET", "/api/backup", h.admin, nil)
		if res.StatusCode != 501 || !strings.Contains(string(body), "back up the JetStream streams") || strings.Contains(string(body), "history") {
			t.Errorf("%s: the backup download: %d %s", name, res.StatusCode, body)
		}
	}

	// The past at a revision and at a moment, on both nodes.
	var then world.State
	a.eng.Read(context.Background(), func(w *world.World) { then = w.State() })
	time.Sleep(2 * time.Millisecond) // the moment between must be a distinct instant
	between := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	rev = ca.ack(4, world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.High})
	histCaughtUp(t, b, rev)
	for name, h := range nodes {
		for _, q := range []string{fmt.Sprint("rev=", then.Revision), "at=" + between.Format(time.RFC3339Nano)} {
			res, body := h.do("GET", "/api/past?"+q, h.member, nil)
			if res.StatusCode != 200 || res.Header.Get("X-Txxt-Revision") != fmt.Sprint(then.Revision) || res.Header.Get("X-Txxt-Time") == "" {
				t.Fatalf("%s: GET /api/past?%s: %d %v %.200s", name, q, res.StatusCode, res.Header, body)
			}
			got, err := wire.DecodeSnapshot(body)
			if err != nil {
				t.Fatalf("%s: past %s: %v", name, q, err)
			}
			x, _ := world.FromState(*got)
			y, _ := world.FromState(then)
			if !world.Equal(x, y) {
				t.Errorf("%s: past %s differs from the world at revision %d", name, q, then.Revision)
			}
		}
	}

	// Enough changes for compaction (the engine compacts after each
	// snapshot, on a goroutine of its own).
	for i := range 60 {
		rev = ca.ack(uint32(10+i), world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.Priority(i % 4)})
	}
	histCaughtUp(t, b, rev)
	for name, h := range nodes {
		eventually(t, name+": a compaction", func() bool { return !h.page("/api/activity?limit=1").Kept.Complete })
	}
	compacted := func(name string, h *harness) {
		t.Helper()
		p := h.page("/api/tasks/" + id.String() + "/history?limit=500")
		if p.Kept.Complete || p.Kept.Time == nil || p.Kept.From <= 4 {
			t.Fatalf("%s: after compaction the history is said to be kept from %+v", name, p.Kept)
		}
		if n := len(p.Changes); n == 0 || n >= 63 || p.Changes[n-1].Revision <= p.Kept.From {
			t.Fatalf("%s: after compaction: %d changes, kept from %d", name, n, p.Kept.From)
		}
		if _, body := h.do("GET", "/api/past?rev=2", h.member, nil); !strings.Contains(string(body), `"code":"NOT_FOUND"`) || !strings.Contains(string(body), "history kept starts") {
			t.Errorf("%s: the past before the kept history: %s", name, body)
		}
		// The task's creation is no longer in the stream, yet the oldest
		// kept change still says what it changed from.
		if o := p.Changes[len(p.Changes)-1]; o.Field != "priority" || o.From == "" || o.To == "" {
			t.Errorf("%s: the oldest kept change: %+v", name, o)
		}
	}
	for name, h := range nodes {
		compacted(name, h)
	}

	// Every kind of change, from what to what, after compaction, on both
	// nodes, and on the owner after a restart of its engine.
	other := a.service("Billing")
	var bob world.ID
	a.eng.Read(context.Background(), func(w *world.World) {
		for _, u := range w.Users() {
			if u.Name == "bob" {
				bob = u.ID
			}
		}
	})
	cb.ack(101, world.Command{Kind: world.CmdMoveTask, Task: id, Slot: world.Slot{Date: 20426, Start: 600, Duration: 90}})
	ca.ack(102, world.Command{Kind: world.CmdStartTask, Task: id})
	cb.ack(103, world.Command{Kind: world.CmdCompleteTask, Task: id})
	ca.ack(104, world.Command{Kind: world.CmdAssignTask, Task: id, Assignee: bob})
	cb.ack(105, world.Command{Kind: world.CmdSetService, Task: id, Service: other})
	ca.ack(106, world.Command{Kind: world.CmdRenameTask, Task: id, Text: "Patch every router"})
	rev = cb.ack(107, world.Command{Kind: world.CmdSetPriority, Task: id, Priority: world.Urgent})
	histCaughtUp(t, a, rev)
	want := []string{
		"changed its priority from " + world.Priority(59%4).String() + " to urgent",
		"renamed it from “Patch the core routers” to “Patch every router”",
		"moved it to another service from Ops to Billing",
		"assigned it from nobody to bob",
		"completed it (it was active)",
		"started it (it was scheduled)",
		"moved from Wed 3 Dec 14:00–15:00 to Thu 4 Dec 10:00–11:30",
	}
	check := func(name string, h *harness) {
		t.Helper()
		for _, path := range []string{"/api/tasks/" + id.String() + "/history?limit=7", "/api/activity?limit=7"} {
			if got := histTexts(h.page(path)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s after compaction:\n got %q\nwant %q", name, path, got, want)
			}
		}
	}
	for name, h := range nodes {
		check(name, h)
	}
	stopA()
	a, _ = histNode(t, url, "node-a", true, opts)
	check("owner after a restart", a)
	compacted("owner after a restart", a)
}
