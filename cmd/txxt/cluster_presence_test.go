package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// presClient is a game connection of the demo's team that keeps the
// presence list as a browser does, from the frames it reads on its own
// goroutine (until the connection ends).
type presClient struct {
	node    string
	ws      *websocket.Conn
	welcome chan world.ID // its own session, once

	mu     sync.Mutex
	now    map[world.ID]bool
	frames int   // Presence frames read
	err    error // why the connection ended
	ended  chan struct{}
}

// presDial connects to a node and reads its frames until the connection
// ends; it is closed when the test ends. It returns when the Welcome came.
func presDial(t *testing.T, node, url, token string) (*presClient, world.ID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, err := dialNode(ctx, url, token)
	if err != nil {
		t.Fatalf("connect to node %s: %v", node, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &presClient{node: node, ws: ws, welcome: make(chan world.ID, 1), now: map[world.ID]bool{}, ended: make(chan struct{})}
	go c.read()
	select {
	case id := <-c.welcome:
		return c, id
	case <-c.ended:
		t.Fatalf("node %s's connection ended before its Welcome: %v", node, c.err)
	case <-ctx.Done():
		t.Fatalf("waited 20 s for node %s's Welcome", node)
	}
	return nil, world.ID{}
}

func (c *presClient) read() {
	defer close(c.ended)
	for {
		_, raw, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			continue
		}
		switch f.Type {
		case wire.TypeWelcome:
			c.welcome <- f.Welcome.Session
		case wire.TypePresence:
			c.mu.Lock()
			c.frames++
			if f.Presence.Op == wire.PresenceFull {
				clear(c.now)
			}
			for _, e := range f.Presence.Entries {
				if f.Presence.Op == wire.PresenceLeft {
					delete(c.now, e.Session)
				} else {
					c.now[e.Session] = true
				}
			}
			c.mu.Unlock()
		}
	}
}

// list returns the sessions c's presence list holds, sorted.
func (c *presClient) list() []world.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.SortedFunc(maps.Keys(c.now), func(a, b world.ID) int { return slices.Compare(a[:], b[:]) })
}

// presWaitAll waits until every client's list is exactly want, failing
// the test after within with what each one holds, and returns how long it
// took.
func presWaitAll(t *testing.T, clients []*presClient, want []world.ID, within time.Duration, what string) time.Duration {
	t.Helper()
	slices.SortFunc(want, func(a, b world.ID) int { return slices.Compare(a[:], b[:]) })
	start := time.Now()
	for {
		ok := true
		for _, c := range clients {
			if !slices.Equal(c.list(), want) {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			for _, c := range clients {
				t.Logf("node %s's client lists %v", c.node, c.list())
			}
			t.Fatalf("waited %s for %s: every client to list %v", within, what, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterPresence connects clients of the demo's team to nodes a, b
// and c of three (c's watches): every client lists all three, on every
// node, though each node holds only its own connection; b's leaving and
// coming back reach every list; and a node killed with SIGKILL (one that
// does not own the world, so nothing else moves) drops out of the others'
// lists within the presence bound (it sends no more rosters), long
// before its key leaves the live node list (a 30 s lease TTL here).
func TestClusterPresence(t *testing.T) {
	url := startNATS(t)
	nodes := spawnNodes(t, url, steadyTTL, "a", "b", "c")
	token := login(t, nodes["a"].url)
	owner := settledOwner(t, nodes, token, server.DemoTeam, "the demo's owner")

	ca, sa := presDial(t, "a", nodes["a"].url, token)
	cb, sb := presDial(t, "b", nodes["b"].url, token)
	cc, sc := presDial(t, "c", nodes["c"].url, token)
	// Joins reach the other nodes with the next batch; a node that
	// missed one has it with the next roster (2 s).
	took := presWaitAll(t, []*presClient{ca, cb, cc}, []world.ID{sa, sb, sc}, 15*time.Second, "the three connections, each on its own node")
	t.Logf("every node lists the three connections after %s (%s owns the world)", took, owner)

	cb.ws.Close(websocket.StatusNormalClosure, "")
	took = presWaitAll(t, []*presClient{ca, cc}, []world.ID{sa, sc}, 15*time.Second, "b's connection to leave every list")
	t.Logf("b's leave reached a and c after %s", took)

	cb, sb = presDial(t, "b", nodes["b"].url, token)
	took = presWaitAll(t, []*presClient{ca, cb, cc}, []world.ID{sa, sb, sc}, 15*time.Second, "b's new connection in every list")
	t.Logf("b's join reached a and c after %s", took)

	// Kill a node of a or b that does not own the world.
	victim, keep, want := "a", cb, []world.ID{sb, sc}
	if owner == "a" {
		victim, keep, want = "b", ca, []world.ID{sa, sc}
	}
	nodes[victim].cmd.Process.Kill()
	nodes[victim].cmd.Wait()
	killed := time.Now()
	// The bound: presenceStale (7 s) after the victim's last roster, which
	// came at most a roster (2 s) before the kill, plus a roster tick of
	// the receivers and a loaded machine's slack.
	presWaitAll(t, []*presClient{keep, cc}, want, 25*time.Second, fmt.Sprintf("node %s's connection to leave the lists after its kill", victim))
	t.Logf("node %s, killed with SIGKILL, left the other nodes' lists after %s", victim, time.Since(killed))
}

// TestClusterRevokeEverywhere logs a session out on node a while it has a
// game connection open on node b and one on a: both close with 4002 (the
// session ended), as on a single node.
func TestClusterRevokeEverywhere(t *testing.T) {
	url := startNATS(t)
	nodes := spawnNodes(t, url, steadyTTL, "a", "b")
	token := login(t, nodes["a"].url)
	ownerOf(t, nodes, token, server.DemoTeam, 30*time.Second, "the demo served on both nodes")
	ca, _ := presDial(t, "a", nodes["a"].url, token)
	cb, _ := presDial(t, "b", nodes["b"].url, token)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", nodes["a"].url+"/api/auth/logout", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("log out on node a: %s", res.Status)
	}
	loggedOut := time.Now()
	for _, c := range []*presClient{ca, cb} {
		select {
		case <-c.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("node %s's game connection of the session logged out on a is still open after 10 s", c.node)
		}
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if code := websocket.CloseStatus(err); code != 4002 {
			t.Fatalf("node %s's game connection ended with %v (code %d), not 4002 (session ended)", c.node, err, code)
		}
		t.Logf("node %s's connection closed with 4002 %s after the logout", c.node, time.Since(loggedOut))
	}
}
