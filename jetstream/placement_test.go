package jetstream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/world"
	"txxt/worldlog"
)

var failovers = flag.Int("failovers", 5, "abrupt stops TestFailoverAfterAbruptStop measures (the figures in docs/RELIABILITY.md are of 20)")

// Rendezvous placement: every world has one preferred node, the worlds
// spread over the nodes, and a node joining or leaving moves only the
// worlds it wins or held.
func TestPreferred(t *testing.T) {
	nodes := []string{"node-a", "node-b", "node-c"}
	worlds := make([]string, 600)
	for i := range worlds {
		worlds[i] = "team-" + strconv.Itoa(i)
	}
	count := map[string]int{}
	for _, w := range worlds {
		p := Preferred(nodes, w)
		if p != Preferred([]string{"node-c", "node-a", "node-b"}, w) {
			t.Fatalf("%s: the node list's order changed its owner", w)
		}
		count[p]++
	}
	for _, n := range nodes {
		if count[n] < 150 || count[n] > 250 {
			t.Errorf("%s is preferred for %d of 600 worlds, want about 200: %v", n, count[n], count)
		}
	}
	moved := 0
	for _, w := range worlds {
		before, after := Preferred(nodes, w), Preferred(nodes[:2], w)
		if before != "node-c" && after != before {
			t.Fatalf("%s moved from %s to %s when node-c left", w, before, after)
		}
		joined := Preferred(append(slices.Clone(nodes), "node-d"), w)
		if joined != before && joined != "node-d" {
			t.Fatalf("%s moved from %s to %s when node-d joined", w, before, joined)
		}
		if joined == "node-d" {
			moved++
		}
	}
	if moved < 100 || moved > 200 {
		t.Errorf("node-d joining took %d of 600 worlds, want about 150", moved)
	}
	if Preferred(nil, "team") != "" {
		t.Error("a world is preferred on no node at all")
	}
}

// testNode is one txxt node of a test: a connection of its own (closing
// it is an abrupt stop), a Manager, and an engine for each world its
// Open was given, as the server will run them.
type testNode struct {
	t    *testing.T
	name string
	nc   *nats.Conn
	frz  freezer
	m    *Manager

	onOpen func(world string, e *engine.Engine) // called by Open, after the engine booted

	mu      sync.Mutex
	engines map[string]*engine.Engine
	leases  []*Lease // every lease Open was given
	closes  []closed
}

type closed struct {
	world string
	lost  error
}

func nodeID(name string) world.ID {
	var id world.ID
	copy(id[:], name)
	return id
}

type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// startNode starts a node on url placing worlds, with opts for its
// manager's config.
func startNode(t *testing.T, url, name string, worlds []string, onOpen func(string, *engine.Engine)) *testNode {
	t.Helper()
	nc, js := ownConnect(t, []string{url})
	n := &testNode{t: t, name: name, nc: nc, onOpen: onOpen, engines: map[string]*engine.Engine{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := StartManager(ctx, js, ManagerConfig{
		Node:   name,
		Worlds: worlds,
		Log:    Options{Shards: 2},
		Open:   n.open,
		Close:  n.close,
		hold:   n.frz.hold,
		Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	t.Cleanup(func() {
		n.frz.thaw()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("node %s: %v", name, err)
		}
	})
	return n
}

func (n *testNode) open(ctx context.Context, w string, log worldlog.Log) error {
	e, err := engine.Open(log, engine.Options{})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.engines[w] = e
	n.leases = append(n.leases, log.(*guardedLog).lease)
	n.mu.Unlock()
	if n.onOpen != nil {
		n.onOpen(w, e)
	}
	return nil
}

func (n *testNode) close(w string, lost error) {
	n.mu.Lock()
	e := n.engines[w]
	delete(n.engines, w)
	n.closes = append(n.closes, closed{w, lost})
	n.mu.Unlock()
	e.Close()
}

func (n *testNode) engine(w string) *engine.Engine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.engines[w]
}

// kill stops the node abruptly: its connection closes, so from NATS's
// side it is gone at once, with its leases and its key left to expire.
func (n *testNode) kill() { n.nc.Close() }

// do sends one command to the node's engine for w: a service named after
// the node, so the log says which node wrote each record.
func (n *testNode) do(t *testing.T, w string) (engine.Result, error) {
	e := n.engine(w)
	if e == nil {
		return engine.Result{}, engine.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.Do(ctx, engine.Request{
		Command: world.Command{Kind: world.CmdCreateService, Service: engine.RandomID(), Text: n.name},
		Actor:   nodeID(n.name),
	})
}

// waitPlacement waits until every world is owned by its preferred node
// among want (all running), and by no other node of nodes.
func waitPlacement(t *testing.T, within time.Duration, nodes []*testNode, want []*testNode, worlds []string) time.Duration {
	t.Helper()
	names := make([]string, len(want))
	for i, n := range want {
		names[i] = n.name
	}
	return eventually(t, within, fmt.Sprintf("the worlds placed on %v", names), func() bool {
		for _, w := range worlds {
			pref := Preferred(names, w)
			for _, n := range nodes {
				if slices.Contains(n.m.Owned(), w) != (n.name == pref) || n.name == pref && n.engine(w) == nil {
					return false
				}
			}
		}
		return true
	})
}

// checkLog reads world w's whole stream and checks what the fence
// promises: every batch was written by the node whose ownership marker
// precedes it, and every acknowledged revision is there, by the node
// that had it acknowledged. It appends a marker of its own.
func checkLog(t *testing.T, js natsjs.JetStream, w string, acked map[uint64]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, js, w, "checker", Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	owner, markers, got := "", 0, map[uint64]string{}
	err = l.messages(ctx, 1, func(m *natsjs.RawStreamMsg) (bool, error) {
		if o := m.Header.Get(headerOwner); o != "" {
			owner = o
			markers++
			return true, nil
		}
		return true, decodeRecords(m.Data, func(r worldlog.Record) error {
			if r.Actor != nodeID(owner) {
				return fmt.Errorf("revision %d was written by %q after %s's ownership marker", r.Revision, string(r.Actor[:]), owner)
			}
			got[r.Revision] = owner
			return nil
		})
	})
	if err != nil {
		t.Fatalf("world %s: %v", w, err)
	}
	if err := l.Records(ctx, 0, func(worldlog.Record) error { return nil }); err != nil {
		t.Fatalf("world %s: %v", w, err)
	}
	for rev, node := range acked {
		if got[rev] != node {
			t.Errorf("world %s: revision %d acknowledged to %s is in the log as %q", w, rev, node, got[rev])
		}
	}
	t.Logf("world %s: %d ownership markers, %d records, %d acknowledged", w, markers, len(got), len(acked))
}

// load keeps sending commands to every world each node serves, until the
// test ends, and remembers every acknowledged revision and its node.
type load struct {
	mu    sync.Mutex
	acked map[string]map[uint64]string // world → revision → node
	// fenced counts commands refused NOT_OWNER, by node.
	fenced map[string]int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad() *load {
	return &load{acked: map[string]map[uint64]string{}, fenced: map[string]int{}, stop: make(chan struct{})}
}

func (ld *load) drive(t *testing.T, n *testNode, worlds []string) {
	ld.wg.Add(1)
	go func() {
		defer ld.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ld.stop:
				return
			case <-tick.C:
			}
			for _, w := range worlds {
				if n.engine(w) == nil {
					continue
				}
				res, err := n.do(t, w)
				ld.mu.Lock()
				switch {
				case err == nil && res.Err == nil:
					if ld.acked[w] == nil {
						ld.acked[w] = map[uint64]string{}
					}
					if prev, dup := ld.acked[w][res.Revision]; dup {
						t.Errorf("world %s: revision %d acknowledged to %s and to %s", w, res.Revision, prev, n.name)
					}
					ld.acked[w][res.Revision] = n.name
				case errors.Is(err, engine.ErrNotOwner), err == nil && res.Err.Code == world.CodeNotOwner:
					ld.fenced[n.name]++
				}
				ld.mu.Unlock()
			}
		}
	}()
}

func (ld *load) end() {
	close(ld.stop)
	ld.wg.Wait()
}

// Two nodes never both own a world, checked by the fence: three nodes
// with commands flowing to every world they serve, through a node
// joining, one leaving gracefully, one stopped abruptly and one frozen
// past the TTL; the stream shows every batch written by the node whose
// ownership marker precedes it, no acknowledged command lost, and no
// node's write fenced while its lease held.
//
// On three clustered servers the TTL is 2 s: each renewal is a write
// replicated three ways, and at 1 s a loaded machine (three servers and
// three nodes in one process, with the race detector) let renewals come
// late, so worlds left their nodes as soon as they opened them, and the
// placement churned past its 20 s wait.
func TestManagersNeverBothOwnAWorld(t *testing.T) {
	worlds := []string{"team-1", "team-2", "team-3", "team-4", "team-5", "team-6"}
	for _, tc := range []struct {
		name string
		urls func(*testing.T) []string
	}{
		{"one NATS server", func(t *testing.T) []string { return []string{ownNATS(t, time.Second)} }},
		{"three clustered", func(t *testing.T) []string { return ownCluster(t, 2*time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			urls := tc.urls(t)
			url := func(i int) string { return urls[i%len(urls)] }
			ld := startLoad()
			var nodes []*testNode
			start := func(i int, name string) *testNode {
				n := startNode(t, url(i), name, worlds, nil)
				nodes = append(nodes, n)
				ld.drive(t, n, worlds)
				return n
			}
			a, b := start(0, "node-a"), start(1, "node-b")
			waitPlacement(t, 20*time.Second, nodes, []*testNode{a, b}, worlds)
			t.Log("a and b own their share")

			c := start(2, "node-c")
			took := waitPlacement(t, 20*time.Second, nodes, []*testNode{a, b, c}, worlds)
			t.Logf("c joined and got its share in %v", took)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := b.m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			took = waitPlacement(t, 20*time.Second, nodes, []*testNode{a, c}, worlds)
			t.Logf("b left gracefully; its worlds moved in %v", took)

			a.kill()
			took = waitPlacement(t, 20*time.Second, nodes[1:], []*testNode{c}, worlds)
			t.Logf("a stopped abruptly; its worlds moved in %v", took)

			b2 := start(1, "node-b") // b again, with a new connection and manager
			took = waitPlacement(t, 20*time.Second, []*testNode{c, b2}, []*testNode{c, b2}, worlds)
			t.Logf("b came back and got its share in %v", took)

			c.frz.freeze()
			eventually(t, 20*time.Second, "a write of c's to reach the freeze", func() bool { return c.frz.blocked("write") > 0 })
			took = eventually(t, 20*time.Second, "b to own every world while c is frozen", func() bool {
				return len(b2.m.Owned()) == len(worlds)
			})
			t.Logf("c froze; b owned every world after %v", took)
			dfLearnLeasesLost(c)
			c.frz.thaw()
			took = waitPlacement(t, 20*time.Second, []*testNode{c, b2}, []*testNode{c, b2}, worlds)
			t.Logf("c thawed, let go of its worlds and got its share back in %v", took)

			ld.end()
			for _, n := range nodes {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				n.m.Stop(ctx)
				cancel()
			}
			lost := 0
			for _, n := range nodes {
				n.mu.Lock()
				for _, l := range n.leases {
					if k := l.fencedWhileValid.Load(); k > 0 {
						t.Errorf("node %s: %d writes to %s fenced while its lease held", n.name, k, l.world)
					}
				}
				for _, cl := range n.closes {
					if cl.lost != nil {
						lost++
					}
				}
				n.mu.Unlock()
			}
			t.Logf("worlds closed on a lost lease: %d; commands refused NOT_OWNER: %v", lost, ld.fenced)
			if ld.fenced["node-c"] == 0 {
				t.Error("no command of the frozen node was refused NOT_OWNER")
			}
			fencedC := int64(0)
			c.mu.Lock()
			for _, l := range c.leases {
				fencedC += l.fencedWrites.Load()
			}
			c.mu.Unlock()
			if fencedC == 0 {
				t.Error("no write of the frozen node reached the log's fence")
			}
			_, js := ownConnect(t, urls)
			for _, w := range worlds {
				checkLog(t, js, w, ld.acked[w])
			}
		})
	}
}

// dfLearnLeasesLost has frozen node n see that its leases' deadlines
// passed (they did: another node took its worlds, which it can only once
// n's keys expired), as a stopped process whose deadline timer runs first
// when it goes on. Its held writes then go out as they would have and the
// log's fence answers them. Without it the thawed write races the lease's
// end: a write still unanswered a tenth of the TTL after the loss is
// given up as of unknown outcome, not fenced (safe, and what a cut-off
// owner must do), which on a loaded machine it sometimes was, and the
// tests that check the fence found no fenced write.
func dfLearnLeasesLost(n *testNode) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.leases {
		if l.Valid() {
			n.t.Fatalf("node %s: its lease of %s still valid after another node took the world", n.name, l.world)
		}
	}
}

// A frozen owner (SIGSTOP) holding a write: another node takes the world
// after the TTL and serves it; thawed, the old owner's held write is
// refused by the fence (NOT_OWNER), its renewal is refused, and it closes
// the world. One NATS server, and three clustered (where a refused
// compare-and-set is another error code).
func TestManagerFrozenOwnerIsFenced(t *testing.T) {
	const ttl = time.Second
	for _, tc := range []struct {
		name string
		urls func(*testing.T) []string
	}{
		{"one NATS server", func(t *testing.T) []string { return []string{ownNATS(t, ttl)} }},
		{"three clustered", func(t *testing.T) []string { return ownCluster(t, ttl) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			urls := tc.urls(t)
			worlds := []string{"team"}
			a := startNode(t, urls[0], "node-a", worlds, nil)
			b := startNode(t, urls[len(urls)-1], "node-b", worlds, nil)
			all := []*testNode{a, b}
			waitPlacement(t, 20*time.Second, all, all, worlds)
			owner, other := a, b
			if Preferred([]string{"node-a", "node-b"}, "team") == "node-b" {
				owner, other = b, a
			}
			if res, err := owner.do(t, "team"); err != nil || res.Err != nil || res.Revision != 1 {
				t.Fatalf("a command on the owner: %+v, %v", res, err)
			}

			owner.frz.freeze()
			held := make(chan engine.Result, 1)
			go func() {
				res, err := owner.do(t, "team")
				if err != nil {
					res.Err = &world.Error{Message: err.Error()}
				}
				held <- res
			}()
			eventually(t, 10*time.Second, "the owner's write and renewal to reach the freeze", func() bool {
				return owner.frz.blocked("write") > 0 && owner.frz.blocked("renew") > 0
			})
			var res engine.Result
			took := eventually(t, 20*time.Second, "the other node to serve the world", func() bool {
				if other.engine("team") == nil {
					return false
				}
				var err error
				res, err = other.do(t, "team")
				return err == nil && res.Err == nil
			})
			if res.Revision != 2 {
				t.Fatalf("the new owner's first command got revision %d, want 2", res.Revision)
			}
			t.Logf("the owner froze; the other node served the world after %v (TTL %v)", took, ttl)

			dfLearnLeasesLost(owner)
			owner.frz.thaw()
			select {
			case res := <-held:
				if res.Err == nil || res.Err.Code != world.CodeNotOwner {
					t.Fatalf("the frozen owner's held command: %+v, want NOT_OWNER", res)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("waited 20s for the frozen owner's held command to be answered")
			}
			var lost error
			eventually(t, 20*time.Second, "the thawed owner to close the world", func() bool {
				owner.mu.Lock()
				defer owner.mu.Unlock()
				for _, cl := range owner.closes {
					lost = cl.lost
					return true
				}
				return false
			})
			if !errors.Is(lost, ErrLeaseLost) {
				t.Fatalf("the thawed owner closed the world for %v, want its lease lost", lost)
			}
			owner.mu.Lock()
			lease := owner.leases[0]
			owner.mu.Unlock()
			eventually(t, 10*time.Second, "the thawed owner's held renewal to be answered", func() bool {
				select {
				case <-lease.done:
					return true
				default:
					return false
				}
			})
			if n := lease.refusedRenewals.Load(); n != 1 {
				t.Errorf("%d renewals of the thawed owner refused, want 1", n)
			}
			if n := lease.fencedWrites.Load(); n != 1 {
				t.Errorf("%d writes of the thawed owner fenced by the log, want 1", n)
			}
			if n := lease.fencedWhileValid.Load(); n != 0 {
				t.Errorf("%d writes fenced while the lease held", n)
			}
			t.Logf("the thawed owner closed the world: %v", lost)
			// The thawed node is live again and preferred: the world
			// comes back to it by a hand-over, with nothing lost.
			waitPlacement(t, 20*time.Second, all, all, worlds)
			if rev := owner.engine("team").Revision(); rev != 2 {
				t.Fatalf("back on the first node at revision %d, want 2", rev)
			}
		})
	}
}

// A node that stops gracefully hands its worlds over at once, not after
// the TTL, with every acknowledged revision on the next owner; a node
// joining gets its share the same way.
func TestManagerHandsOverGracefully(t *testing.T) {
	const ttl = 30 * time.Second // long, so that only a hand-over can move a world in time
	url := ownNATS(t, ttl)
	worlds := []string{"team-1", "team-2", "team-3", "team-4", "team-5", "team-6", "team-7", "team-8"}
	a := startNode(t, url, "node-a", worlds, nil)
	waitPlacement(t, 10*time.Second, []*testNode{a}, []*testNode{a}, worlds)
	revs := map[string]uint64{}
	for _, w := range worlds {
		res, err := a.do(t, w)
		if err != nil || res.Err != nil {
			t.Fatalf("world %s: %+v, %v", w, res, err)
		}
		revs[w] = res.Revision
	}

	b := startNode(t, url, "node-b", worlds, nil)
	all := []*testNode{a, b}
	took := waitPlacement(t, ttl/3, all, all, worlds)
	t.Logf("b joined: its %d worlds moved in %v (TTL %v)", len(b.m.Owned()), took, ttl)
	if len(b.m.Owned()) == 0 || len(a.m.Owned()) == 0 {
		t.Fatalf("after b joined, a owns %v and b %v", a.m.Owned(), b.m.Owned())
	}
	for _, w := range b.m.Owned() {
		if rev := b.engine(w).Revision(); rev != revs[w] {
			t.Errorf("world %s came to b at revision %d, want %d", w, rev, revs[w])
		}
	}
	for _, w := range worlds {
		n := a
		if b.engine(w) != nil {
			n = b
		}
		res, err := n.do(t, w)
		if err != nil || res.Err != nil {
			t.Fatalf("world %s on %s: %+v, %v", w, n.name, res, err)
		}
		revs[w] = res.Revision
	}

	ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
	defer cancel()
	stopped := time.Now()
	if err := a.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	took = waitPlacement(t, ttl/3, []*testNode{b}, []*testNode{b}, worlds)
	t.Logf("a stopped: Stop took %v, b owned every world %v after it began (TTL %v)", took, time.Since(stopped), ttl)
	for _, w := range worlds {
		if rev := b.engine(w).Revision(); rev != revs[w] {
			t.Errorf("world %s came to b at revision %d, want %d", w, rev, revs[w])
		}
	}
	a.mu.Lock()
	for _, cl := range a.closes {
		if cl.lost != nil {
			t.Errorf("world %s closed on a for %v, want a hand-over", cl.world, cl.lost)
		}
	}
	a.mu.Unlock()

	// A world removed from the list is closed and released; one added
	// is taken.
	worlds = append(worlds[:4:4], "team-9")
	b.m.SetWorlds(worlds)
	waitPlacement(t, ttl/3, []*testNode{b}, []*testNode{b}, worlds)
	if got := b.m.Owned(); !slices.Equal(got, worlds) {
		t.Fatalf("b owns %v, want %v", got, worlds)
	}
	ctx, cancel = context.WithTimeout(context.Background(), ttl/3)
	defer cancel()
	if owner, err := b.m.Owner(ctx, "team-5"); err != nil || owner != "" {
		t.Fatalf("a world removed is owned by %q (%v)", owner, err)
	}
	if owner, err := b.m.Owner(ctx, "team-9"); err != nil || owner != "node-b" {
		t.Fatalf("a world added is owned by %q (%v)", owner, err)
	}
}

// Failover after an abrupt stop takes about the TTL: the owner's
// connection is closed (as kill -9 would), and the time to the first
// command accepted by the next owner is measured, -failovers times. The
// figures are logged, not asserted: they depend on the machine.
func TestFailoverAfterAbruptStop(t *testing.T) {
	const ttl = time.Second
	url := ownNATS(t, ttl)
	worlds := []string{"team"}
	firstWrite := make(chan time.Time, 1)
	onOpen := func(w string, e *engine.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := e.Do(ctx, engine.Request{Command: world.Command{Kind: world.CmdCreateService, Service: engine.RandomID(), Text: "first"}})
		if err == nil && res.Err == nil {
			select {
			case firstWrite <- time.Now():
			default:
			}
		}
	}
	next := 0
	start := func() *testNode {
		next++
		return startNode(t, url, fmt.Sprintf("node-%d", next), worlds, onOpen)
	}
	live := []*testNode{start(), start()}
	var took []time.Duration
	for round := range *failovers {
		waitPlacement(t, 20*time.Second, live, live, worlds)
		// The owner is the node whose engine is open: wait until one is
		// (placement settles before the owner's Open has returned).
		i := -1
		for deadline := time.Now().Add(20 * time.Second); i < 0; time.Sleep(10 * time.Millisecond) {
			for k, n := range live {
				if n.engine("team") != nil {
					i = k
				}
			}
			if i < 0 && time.Now().After(deadline) {
				t.Fatalf("round %d: waited 20s for a node to open the world", round)
			}
		}
		select {
		case <-firstWrite: // the hand-overs' first writes
		default:
		}
		killed := time.Now()
		live[i].kill()
		select {
		case at := <-firstWrite:
			took = append(took, at.Sub(killed))
		case <-time.After(60 * time.Second): // a deadline for failing, not a pace
			t.Fatalf("round %d: waited 60s for another node to write after the owner's abrupt stop", round)
		}
		live[i] = start()
	}
	slices.Sort(took)
	q := func(p float64) time.Duration { return took[int(p*float64(len(took)-1)+0.5)] }
	t.Logf("failover after an abrupt stop, TTL %v, %d stops: min %v, p50 %v, p90 %v, max %v; all %v",
		ttl, len(took), took[0].Round(time.Millisecond), q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took)
}
