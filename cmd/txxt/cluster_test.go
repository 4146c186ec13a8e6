package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/coder/websocket"

	"txxt/jetstream"
	"txxt/jetstream/natstest"
	"txxt/lab"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

var clusterKills = flag.Int("cluster.kills", 3, "how many times TestClusterFailover kills a world's owner (the figure: -cluster.kills 100)")

// clusterTTL is the lease TTL the failover test runs on (-cluster.ttl);
// steadyTTL the one of the tests in which no node dies, long enough that a
// node the loaded machine stalls for seconds keeps its worlds (only a
// hand-over moves one then), so that nothing in them hangs on the
// machine's speed.
var clusterTTL time.Duration

const steadyTTL = 30 * time.Second

func init() {
	flag.DurationVar(&clusterTTL, "cluster.ttl", time.Second, "the lease TTL TestClusterFailover runs on (its figures at another TTL: -cluster.ttl 3s)")
}

// startNATS runs a nats-server with JetStream (sync always: an
// acknowledgement means fsynced) in the test process, and returns its URL.
func startNATS(t *testing.T) string {
	t.Helper()
	return natstest.Start(t)
}

// spawnNode starts `txxt serve --demo --nats url --node name` (this test
// binary, as TestMain lets it) with a data directory of its own; it is
// stopped when the test ends (SIGTERM, then SIGKILL), and dies with the
// test binary.
func spawnNode(t *testing.T, url, name string) *spawned {
	t.Helper()
	return spawnNodeTTL(t, url, name, clusterTTL)
}

// spawnNodeTTL is spawnNode on a lease TTL of ttl.
func spawnNodeTTL(t *testing.T, url, name string, ttl time.Duration) *spawned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log syncBuffer
	dir := t.TempDir()
	s, err := spawnServerOn(ctx, dir, []string{"--nats", url, "--node", name, "--lease-ttl", ttl.String(), "--demo-tasks", "20"}, &log)
	if err != nil {
		t.Fatalf("start node %s: %v\n%s", name, err, log.String())
	}
	nodeDirs.Store(s, dir)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("node %s's log:\n%s", name, log.String())
		}
	})
	return s
}

// nodeDirs is each spawned node's data directory (its admin socket).
var nodeDirs sync.Map // *spawned → string

func dirOf(s *spawned) string { d, _ := nodeDirs.Load(s); return d.(string) }

// spawnNodes starts the nodes at once, each with --demo: the demo is
// seeded once, whichever starts first.
func spawnNodes(t *testing.T, url string, ttl time.Duration, names ...string) map[string]*spawned {
	t.Helper()
	out := map[string]*spawned{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() {
			s := spawnNodeTTL(t, url, n, ttl)
			mu.Lock()
			out[n] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// teamStatus asks a node for the team's status with a session: the
// owner the node names ("" when none yet) and whether this node owns the
// world; "?" when the node does not know the team yet (404) or serves it
// through nobody yet (503).
func teamStatus(t *testing.T, url, token, slug string) (owner string, here bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/t/"+slug+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("status of %s at %s: %v", slug, url, err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		var st struct {
			Cluster struct {
				Owner     string `json:"owner"`
				OwnedHere bool   `json:"owned_here"`
			} `json:"cluster"`
		}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Cluster.Owner, st.Cluster.OwnedHere
	case http.StatusNotFound, http.StatusServiceUnavailable:
		return "?", false // it reads the teams table every second; a follower starts then
	default:
		t.Fatalf("status of %s at %s: %s", slug, url, res.Status)
	}
	return "", false
}

// ownerOf waits until every node serves the team and names the same
// owner, which says it owns it, and returns it.
func ownerOf(t *testing.T, nodes map[string]*spawned, token, slug string, within time.Duration, what string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		agreed, owning := "", 0
		for name, n := range nodes {
			owner, here := teamStatus(t, n.url, token, slug)
			if here {
				owning++
				if owner != name {
					agreed = "?"
				}
			}
			if agreed == "" {
				agreed = owner
			} else if owner != agreed {
				agreed = "?"
			}
		}
		if agreed != "" && agreed != "?" && owning == 1 && nodes[agreed] != nil {
			return agreed
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: the nodes name %q as %s's owner, %d say they own it", within, what, agreed, slug, owning)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledOwner waits until the team is owned by its preferred node among
// the live ones (jetstream.Preferred): after a node comes back, the world
// moves to it by a hand-over, which closes the owner's connections, and a
// writer there before the kill would take that for the kill.
func settledOwner(t *testing.T, nodes map[string]*spawned, token, slug, what string) string {
	t.Helper()
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	want := jetstream.Preferred(names, slug)
	deadline := time.Now().Add(30 * time.Second)
	for {
		owner := ownerOf(t, nodes, token, slug, 30*time.Second, what)
		if owner == want {
			return owner
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s: %s owns %s, %s is preferred", what, owner, slug, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func login(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target, err := lab.Login(ctx, url, server.DemoUser, server.DemoPassword)
	if err != nil {
		t.Fatalf("log in at %s: %v", url, err)
	}
	return target.Token
}

// TestClusterServe runs three txxt nodes on one NATS, all started at once
// with --demo: the demo is seeded once; a login made on one node is valid
// on the others; exactly one node owns the team's world and every node
// names it; a team made on one node is known to all, and owned by one.
func TestClusterServe(t *testing.T) {
	url := startNATS(t)
	nodes := spawnNodes(t, url, steadyTTL, "a", "b", "c")
	token := login(t, nodes["a"].url)
	for _, name := range []string{"b", "c"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", nodes[name].url+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the session made on node a, on node %s: %s", name, res.Status)
		}
	}
	owner := ownerOf(t, nodes, token, server.DemoTeam, 30*time.Second, "the demo's owner")
	// Seeded once: the demo's five services, not ten or fifteen, on every
	// node.
	for name, n := range nodes {
		names, rev := services(t, n.url, token)
		if len(names) != 5 {
			t.Fatalf("the demo on node %s has %d services, want 5 (seeded once)", name, len(names))
		}
		t.Logf("node %s serves the demo at revision %d (its owner: %s)", name, rev, owner)
	}

	// A team made on node b (over its admin socket, as the operator) is
	// known to every node and owned by one.
	admin, err := openAdmin(context.Background(), dirOf(nodes["b"]))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.call(ctx, "POST", "/api/teams", map[string]string{"slug": "ops", "name": "Ops"}, nil); err != nil {
		t.Fatalf("create a team on node b: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		served, named := 0, map[string]bool{}
		for name, n := range nodes {
			owned, owners := operatorStatus(t, dirOf(n))
			if slices.Contains(owned, "ops") {
				served++
			}
			named[name+"→"+owners["ops"]] = true
			if owners["ops"] == "" || owners[server.DemoTeam] != owner {
				named["?"] = true
			}
		}
		if served == 1 && !named["?"] {
			t.Logf("team ops: %v", named)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for the team made on node b to be served by one node and named by all: %d serve it; %v", served, named)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterFailover kills the demo's owner with SIGKILL under a trickle
// of commands, -cluster.kills times: each time another node owns the
// world within the lease TTL and its replay, and at the end the world's
// log in JetStream holds every acknowledged command exactly once, at the
// revision it was acknowledged at, with no revision missing or doubled.
// Two writers are on the owner (the kill ends them) and one on the node
// that follows the world and will not take it (of the two left, the one
// not preferred: jetstream.Preferred): its commands, forwarded, are
// retried across the failover, so it goes on without an error unless its
// node becomes the owner after all (which closes its connection with
// 1001, to reconnect). Right after the kill a probe writes on the node
// that will take the world, one command at a time on a new connection
// each time, until one is accepted. The killed node is started again each
// time, so three nodes stay.
//
// It logs, per kill and as min/p50/p90/max over the kills, three times
// from the kill: every live node names one new owner that says it owns
// the world; the first command accepted on the new owner (the probe's);
// the first answer to a command the follower's client sent after the
// kill. It asserts none of them (the machine's load decides them); the
// figures (docs/BENCHMARKS.md) are of
//
//	go test -count=1 -run 'TestClusterFailover$' -v ./cmd/txxt/ -args -cluster.kills 20 -cluster.ttl 1s
func TestClusterFailover(t *testing.T) {
	url := startNATS(t)
	nodes := spawnNodes(t, url, clusterTTL, "a", "b", "c")
	token := login(t, nodes["a"].url)
	var mu sync.Mutex
	var all []acked
	record := func(a acked) { mu.Lock(); all = append(all, a); mu.Unlock() }
	var named, accepted, answered []time.Duration
	defer func() { // also when a round fails: the figures so far
		t.Logf("lease TTL %s, %d kills, from the kill:", clusterTTL, len(named))
		t.Logf("  every live node names one new owner that owns the world: %s", figQuantiles(named))
		t.Logf("  the first command accepted on the new owner: %s", figQuantiles(accepted))
		t.Logf("  a client on a surviving node that does not own the world gets its next command answered: %s", figQuantiles(answered))
	}()
	for k := 0; k < *clusterKills; k++ {
		owner := settledOwner(t, nodes, token, server.DemoTeam, fmt.Sprintf("the placement to settle before kill %d", k))
		var survivors []string
		for name := range nodes {
			if name != owner {
				survivors = append(survivors, name)
			}
		}
		heir := jetstream.Preferred(survivors, server.DemoTeam) // who takes the world after the kill
		follower := survivors[0]
		if follower == heir {
			follower = survivors[1]
		}
		var wg sync.WaitGroup
		var killed, done atomic.Bool
		var killedAt atomic.Pointer[time.Time]
		var followerErr error
		var followerAnswered atomic.Int64 // kill → the answer to its first command sent after the kill, ns; 0 until then
		var followerEnded atomic.Bool
		wg.Go(func() {
			defer followerEnded.Store(true)
			sent := time.Now() // when its next command went out: the previous answer's moment
			followerErr = writeWhile(nodes[follower].url, token, fmt.Sprintf("k%d-f", k), &done, func(a acked) {
				record(a)
				now := time.Now()
				if at := killedAt.Load(); at != nil && !sent.Before(*at) && followerAnswered.Load() == 0 {
					followerAnswered.Store(int64(now.Sub(*at)))
				}
				sent = now
			})
			if !killed.Load() && !moved(followerErr) {
				t.Errorf("before kill %d, on follower %s: %v", k, follower, followerErr)
			}
		})
		for w := range 2 {
			wg.Go(func() {
				err := write(nodes[owner].url, token, fmt.Sprintf("k%d-w%d", k, w), record)
				if !killed.Load() && !moved(err) {
					t.Errorf("before kill %d: %v", k, err)
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // a trickle, then the kill
		killed.Store(true)
		victim := nodes[owner]
		now := time.Now()
		killedAt.Store(&now)
		victim.cmd.Process.Kill()
		victim.cmd.Wait()
		delete(nodes, owner)
		// TTL for the lease and the node's key, plus the replay, plus a
		// loaded machine's slack.
		bound := 10*clusterTTL + 20*time.Second
		var probe sync.WaitGroup
		var probeAccepted time.Duration
		var probeErr error
		probe.Go(func() {
			var at time.Time
			at, probeErr = figProbe(nodes[heir].url, token, fmt.Sprintf("k%d-after", k), now.Add(bound), record)
			probeAccepted = at.Sub(now)
		})
		next := ownerOf(t, nodes, token, server.DemoTeam, bound, fmt.Sprintf("a new owner after kill %d of %s", k, owner))
		took := time.Since(now)
		named = append(named, took)
		waitGroup(t, &probe, bound+2*answerWait, fmt.Sprintf("a command accepted on %s after kill %d", heir, k))
		if probeErr != nil {
			t.Fatalf("after kill %d, on %s: %v", k, heir, probeErr)
		}
		// The follower's writer goes on until a command it sent after the
		// kill is answered (or it ends), for its figure.
		for deadline := time.Now().Add(2 * answerWait); followerAnswered.Load() == 0 && !followerEnded.Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited %s after kill %d for the writer on %s to have a command sent after the kill answered", 2*answerWait, k, follower)
			}
		}
		done.Store(true)
		waitGroup(t, &wg, 2*answerWait, fmt.Sprintf("the writers to end after kill %d", k))
		fa := time.Duration(followerAnswered.Load())
		if next == heir {
			accepted = append(accepted, probeAccepted)
			if fa > 0 {
				answered = append(answered, fa)
			}
		}
		t.Logf("kill %d of %s: %s owns the world (%s preferred); named by every node after %s, a command accepted there after %s, the client on %s answered after %s (its writer ended: %v)",
			k, owner, next, heir, took.Round(time.Millisecond), probeAccepted.Round(time.Millisecond), follower, fa.Round(time.Millisecond), followerErr)
		// The follower's writer goes through the failover: its commands
		// are forwarded again until the new owner answers. It may end
		// when its own node takes the world (1001, or SHUTTING_DOWN for
		// a command its follower could not send before it closed: never
		// applied), with 1001 if the world moved before, or with
		// NO_OWNER if the failover outlasted the forwarder's bound
		// (10 s) on a machine that stalled; nothing else.
		if followerErr != nil && next != follower && !moved(followerErr) && !(took > 10*time.Second && strings.Contains(followerErr.Error(), world.CodeNoOwner.String())) {
			t.Errorf("kill %d: the writer on %s, which follows the world (now %s's, %s after the kill), failed: %v", k, follower, next, took.Round(time.Millisecond), followerErr)
		}
		if t.Failed() {
			t.FailNow()
		}
		nodes[owner] = spawnNode(t, url, owner) // back, as it restarts in production
	}
	for _, n := range nodes {
		n.stop()
	}
	verifyCluster(t, url, all)
	t.Logf("%d kills, %d acknowledged commands kept exactly once", len(named), len(all))
}

// moved reports whether a writer ended because its connection was closed
// with 1001: the world changed hands on its node (it reconnects, in a
// browser). A lease lost on a machine stalled past the TTL moves a world
// without a kill.
func moved(err error) bool { return websocket.CloseStatus(err) == websocket.StatusGoingAway }

// writeWhile creates services named prefix-N one after another, on one
// connection, reporting each acknowledgement, until stop is set (nil) or
// something stops it (its error).
func writeWhile(url, token, prefix string, stop *atomic.Bool, ack func(acked)) error {
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	ws, err := dialNode(ctx, url, token)
	cancel()
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	for n := uint32(1); !stop.Load(); n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		rev, err := writeOne(ws, n, name)
		if err != nil {
			return fmt.Errorf("writer %s: %s: %w", prefix, name, err)
		}
		ack(acked{name: name, rev: rev})
	}
	return nil
}

// writeUntil writes one command and reports its acknowledgement.
func writeUntil(url, token, name string, ack func(acked)) error {
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	defer cancel()
	ws, err := dialNode(ctx, url, token)
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	rev, err := writeOne(ws, 1, name)
	if err != nil {
		return err
	}
	ack(acked{name: name, rev: rev})
	return nil
}

// verifyCluster reads the demo's log from JetStream after every node
// stopped: revisions follow one another from 1, and every acknowledged
// command's event is at its revision, once.
func verifyCluster(t *testing.T, url string, all []acked) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, err := jetstream.Open(ctx, js, server.DemoTeam, "verifier", jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := map[uint64]string{}
	for _, a := range all {
		if other, dup := at[a.rev]; dup {
			t.Fatalf("revision %d acknowledged twice: %s and %s", a.rev, other, a.name)
		}
		at[a.rev] = a.name
	}
	seen := map[string]int{}
	prev := uint64(0)
	err = log.Records(ctx, 0, func(r worldlog.Record) error {
		if r.Revision != prev+1 {
			return fmt.Errorf("revision %d follows %d", r.Revision, prev)
		}
		prev = r.Revision
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("revision %d: %w", r.Revision, err)
		}
		if ev.Kind == world.EvServiceCreated {
			seen[ev.Service.Name]++
		}
		if name, ok := at[r.Revision]; ok {
			if ev.Kind != world.EvServiceCreated || ev.Service.Name != name {
				return fmt.Errorf("revision %d holds %v %q, but %s was acknowledged there", r.Revision, ev.Kind, ev.Service.Name, name)
			}
			delete(at, r.Revision)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(at) > 0 {
		t.Fatalf("%d acknowledged commands are not in the log (it ends at %d)", len(at), prev)
	}
	for _, a := range all {
		if seen[a.name] != 1 {
			t.Fatalf("%s is in the log %d times", a.name, seen[a.name])
		}
	}
	t.Logf("the log holds revisions 1 to %d, no hole; %d acknowledged commands each once at its revision", prev, len(all))
}

// dialNode opens a game connection of the demo's team.
func dialNode(ctx context.Context, url, token string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	ws.SetReadLimit(-1)
	return ws, nil
}

// operatorStatus reads /api/status over a node's admin socket, as its
// operator: the cluster's part with the teams it owns and every team's
// owner.
func operatorStatus(t *testing.T, dir string) (owned []string, owners map[string]string) {
	t.Helper()
	path := filepath.Join(dir, store.AdminSocket)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	defer client.CloseIdleConnections()
	res, err := client.Get("http://txxt/api/status")
	if err != nil {
		t.Fatalf("status over %s: %v", path, err)
	}
	defer res.Body.Close()
	var st struct {
		Cluster struct {
			Owned  []string          `json:"owned"`
			Owners map[string]string `json:"owners"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Cluster.Owned, st.Cluster.Owners
}

// TestClusterSameRevision connects a client to each of three nodes (one
// owns the demo's world, two follow it), waits for each client's
// snapshot, and sends a command on each node in turn: the sender is
// acknowledged at a revision, and every client, on every node, sees the
// command's event at that same revision.
func TestClusterSameRevision(t *testing.T) {
	url := startNATS(t)
	nodes := spawnNodes(t, url, steadyTTL, "a", "b", "c")
	token := login(t, nodes["a"].url)
	owner := settledOwner(t, nodes, token, server.DemoTeam, "the demo's owner")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := map[string]*websocket.Conn{}
	for name, n := range nodes {
		ws, err := dialNode(ctx, n.url, token)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		// Every client has its snapshot before the first command: one
		// still without it would get the command in its snapshot (its
		// writer subscribes after the upgrade, and on the owner the
		// command commits within a millisecond), not as an event.
		if _, err := fixSnapshot(ctx, ws); err != nil {
			t.Fatalf("node %s's client, waiting for its snapshot: %v", name, err)
		}
		clients[name] = ws
	}
	for i, sender := range []string{"a", "b", "c"} {
		name := fmt.Sprintf("from-%s", sender)
		cmd := world.Command{Kind: world.CmdCreateService, Text: name}
		ws := clients[sender]
		if err := ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, uint32(i+1), &cmd)); err != nil {
			t.Fatal(err)
		}
		var rev uint64
		seen := map[string]uint64{}
		for rev == 0 || len(seen) < len(clients) {
			for node, c := range clients {
				if seen[node] != 0 && (node != sender || rev != 0) {
					continue
				}
				_, raw, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("node %s's client, waiting for %s: %v", node, name, err)
				}
				f, err := wire.DecodeServerFrame(raw, true)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case f.Type == wire.TypeServiceCreated && f.Event.Service.Name == name:
					seen[node] = f.Event.Revision
				case node == sender && f.Type == wire.TypeAck && f.Ack.Request == uint32(i+1):
					rev = f.Ack.Revision
				case node == sender && f.Type == wire.TypeError && f.Error.Request == uint32(i+1):
					t.Fatalf("%s refused on node %s: %s %s", name, sender, f.Error.Code, f.Error.Message)
				}
			}
		}
		for node, r := range seen {
			if r != rev {
				t.Fatalf("%s, sent on node %s and acknowledged at revision %d, reached node %s's client at %d", name, sender, rev, node, r)
			}
		}
		t.Logf("%s (sent on %s; %s owns the world): acknowledged at %d, seen at %d on every node", name, sender, owner, rev, rev)
	}
}

// fixSnapshot reads a new game connection's frames until its first
// snapshot, within ctx, and returns the snapshot's revision.
func fixSnapshot(ctx context.Context, ws *websocket.Conn) (uint64, error) {
	for {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			return 0, err
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			return 0, err
		}
		if f.Type == wire.TypeSnapshot {
			return f.Snapshot.Revision, nil
		}
	}
}

// TestClusterHandOver stops the demo's owner with SIGTERM under a trickle
// of commands sent on a node that follows the world, on a lease TTL of
// 30 s: so only a hand-over (the owner's last batch durable, its lease
// released) can move the world within the 15 s the test waits. The
// follower's writer goes on without an error unless its own node becomes
// the owner, and the log holds every acknowledged command once.
func TestClusterHandOver(t *testing.T) {
	url := startNATS(t)
	nodes := map[string]*spawned{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Go(func() {
			s := spawnNodeTTL(t, url, name, 30*time.Second)
			mu.Lock()
			nodes[name] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	token := login(t, nodes["a"].url)
	owner := ownerOf(t, nodes, token, server.DemoTeam, 30*time.Second, "the demo's owner")
	follower := ""
	for name := range nodes {
		if name != owner {
			follower = name
			break
		}
	}
	var all []acked
	var done atomic.Bool
	var writerErr error
	var writers sync.WaitGroup
	writers.Go(func() {
		writerErr = writeWhile(nodes[follower].url, token, "h", &done, func(a acked) {
			mu.Lock()
			all = append(all, a)
			mu.Unlock()
		})
	})
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	nodes[owner].stop() // SIGTERM, and wait for it to exit
	exited := time.Since(stopped)
	delete(nodes, owner)
	next := ownerOf(t, nodes, token, server.DemoTeam, 15*time.Second, "a new owner after a hand-over")
	moved := time.Since(stopped)
	done.Store(true)
	waitGroup(t, &writers, 2*answerWait, "the follower's writer to end")
	if writerErr != nil && next != follower {
		t.Fatalf("the writer on %s, which follows the world (handed from %s to %s), failed: %v", follower, owner, next, writerErr)
	}
	for _, n := range nodes {
		n.stop()
	}
	verifyCluster(t, url, all)
	t.Logf("SIGTERM of %s: it exited after %s; %s owned the world %s after the signal; %d commands written on %s through it",
		owner, exited.Round(time.Millisecond), next, moved.Round(time.Millisecond), len(all), follower)
}
