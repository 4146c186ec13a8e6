package server

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"txxt/wire"
	"txxt/world"
)

// presCluster is a cluster of fixed live nodes, this one "here": what the
// link asks of a Cluster. (The link on real nodes and NATS is
// cmd/txxt's TestClusterPresence.)
type presCluster struct{ nodes []string }

func (presCluster) Node() string                                  { return "here" }
func (presCluster) SetTeams([]string)                             {}
func (presCluster) Owned() []string                               { return nil }
func (c presCluster) Nodes() []string                             { return c.nodes }
func (presCluster) Owner(context.Context, string) (string, error) { return "", nil }

// presLink returns a link of a server that serves team "t" with a hub
// listing at most listed connections, and knows team "away".
func presLink(t *testing.T, listed int, nodes ...string) (*presenceLink, *hub) {
	t.Helper()
	h := newHub(listed)
	t.Cleanup(func() { h.close() })
	s := &Server{cluster: presCluster{nodes: nodes}, logger: slog.New(slog.DiscardHandler), limits: Limits{PresenceListed: listed}}
	s.teams.m = map[string]*team{"t": {slug: "t", hub: h}}
	s.teams.elsewhere = map[string]bool{"away": false}
	return &presenceLink{s: s, node: "here", bound: listed, teams: map[string]map[string]*nodePresence{}}, h
}

func presEntries(n int, seed byte) []wire.PresenceEntry {
	out := make([]wire.PresenceEntry, n)
	for i := range out {
		out[i].Session[0], out[i].Session[1] = seed, byte(i)
		out[i].User[0] = seed
	}
	return out
}

func presMsg(kind byte, node string, joined, left []wire.PresenceEntry) []byte {
	return appendPresenceMessage(nil, kind, node, joined, left)
}

// remote returns how many remote entries h holds, and how many it lists.
func (h *hub) presRemote() (held, listed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.remote {
		held++
		if r.listed {
			listed++
		}
	}
	return held, listed
}

// TestPresenceLinkBoundsWhatANodeMakesUsHold: a node that tells of more
// connections than PresenceListed is held to that many, in the link and
// in the hub; two such nodes fill the list to its bound, the rest wait.
func TestPresenceLinkBoundsWhatANodeMakesUsHold(t *testing.T) {
	l, h := presLink(t, 4, "here", "b", "c")
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "b", presEntries(10, 'b'), nil))
	l.onPresence(presenceSubject+"t", presMsg(presenceFull, "b", presEntries(12, 'b'), nil))
	if n := len(l.teams["t"]["b"].entries); n != 4 {
		t.Fatalf("the link holds %d of b's connections, want 4", n)
	}
	if held, listed := h.presRemote(); held != 4 || listed != 4 {
		t.Fatalf("the hub holds %d of b's connections and lists %d, want 4 and 4", held, listed)
	}
	// A roster at the bound that lists others in their place: they are held.
	l.onPresence(presenceSubject+"t", presMsg(presenceFull, "b", presEntries(4, 'x'), nil))
	h.mu.Lock()
	_, has := h.remote[presEntries(4, 'x')[3].Session]
	h.mu.Unlock()
	if held, listed := h.presRemote(); held != 4 || listed != 4 || !has {
		t.Fatalf("after a roster of 4 others the hub holds %d and lists %d (the last of them: %v), want 4, 4, true", held, listed, has)
	}
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "c", presEntries(10, 'c'), nil))
	if held, listed := h.presRemote(); held != 8 || listed != 4 {
		t.Fatalf("the hub holds %d remote connections and lists %d, want 8 and 4", held, listed)
	}
}

// TestPresenceLinkRosterReplaces: a roster is the node's whole list: one
// held and not in it leaves, a new one joins; a leave removes one.
func TestPresenceLinkRosterReplaces(t *testing.T) {
	l, h := presLink(t, 8, "b")
	e := presEntries(3, 'b')
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "b", e[:2], nil))
	l.onPresence(presenceSubject+"t", presMsg(presenceFull, "b", e[1:], nil))
	h.mu.Lock()
	_, has0 := h.remote[e[0].Session]
	_, has2 := h.remote[e[2].Session]
	h.mu.Unlock()
	if has0 || !has2 {
		t.Fatalf("after the roster the hub holds the first: %v, the third: %v; want false, true", has0, has2)
	}
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "b", nil, e[1:2]))
	if held, listed := h.presRemote(); held != 1 || listed != 1 {
		t.Fatalf("after a leave the hub holds %d and lists %d, want 1 and 1", held, listed)
	}
}

// TestPresenceLinkDropsNodes: a node that leaves the live list, or is not
// heard of about a team for presenceStale, drops out of the team's list.
func TestPresenceLinkDropsNodes(t *testing.T) {
	l, h := presLink(t, 8, "b", "c")
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "b", presEntries(2, 'b'), nil))
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "c", presEntries(3, 'c'), nil))
	l.expire(time.Now(), []string{"b", "c"})
	if held, _ := h.presRemote(); held != 5 {
		t.Fatalf("the hub holds %d, want 5", held)
	}
	l.expire(time.Now(), []string{"c"})
	if held, _ := h.presRemote(); held != 3 {
		t.Fatalf("with b no longer live the hub holds %d, want c's 3", held)
	}
	l.expire(time.Now().Add(presenceStale), []string{"c"})
	if held, _ := h.presRemote(); held != 0 || len(l.teams) != 0 {
		t.Fatalf("with c not heard of for %s the hub holds %d and the link %d teams, want none", presenceStale, held, len(l.teams))
	}
}

// TestPresenceLinkRefuses: a message from this node, from a node not
// live, about a team not known, or not well formed is dropped; a team
// served elsewhere is kept for its hub to come.
func TestPresenceLinkRefuses(t *testing.T) {
	l, h := presLink(t, 8, "here", "b")
	good := presMsg(presenceChanges, "b", presEntries(1, 'b'), nil)
	for name, m := range map[string]struct {
		subject string
		data    []byte
	}{
		"own":       {presenceSubject + "t", presMsg(presenceChanges, "here", presEntries(1, 'h'), nil)},
		"not live":  {presenceSubject + "t", presMsg(presenceChanges, "x", presEntries(1, 'x'), nil)},
		"no team":   {presenceSubject + "nope", good},
		"truncated": {presenceSubject + "t", good[:len(good)-1]},
		"long":      {presenceSubject + "t", append(bytes.Clone(good), 0)},
		"empty":     {presenceSubject + "t", nil},
		"kind":      {presenceSubject + "t", append([]byte{9}, good[1:]...)},
		"no node":   {presenceSubject + "t", []byte{presenceChanges, 0, 0, 0, 0, 0}},
		"full left": {presenceSubject + "t", presMsg(presenceFull, "b", nil, presEntries(1, 'b'))},
	} {
		before := l.dropped
		l.onPresence(m.subject, m.data)
		if l.dropped != before+1 {
			t.Errorf("%s: not dropped", name)
		}
	}
	if held, _ := h.presRemote(); held != 0 || len(l.teams) != 0 {
		t.Fatalf("the hub holds %d and the link %d teams, want none", held, len(l.teams))
	}
	l.onPresence(presenceSubject+"away", good)
	if len(l.teams["away"]["b"].entries) != 1 {
		t.Fatal("a team served elsewhere: the link did not keep b's connection for its hub")
	}
}

// TestPresenceLinkAttach: a team's new hub (a switch between follower and
// owner) starts with what the other nodes told.
func TestPresenceLinkAttach(t *testing.T) {
	l, _ := presLink(t, 8, "b")
	l.onPresence(presenceSubject+"t", presMsg(presenceChanges, "b", presEntries(3, 'b'), nil))
	fresh := &team{slug: "t", hub: newHub(8)}
	defer fresh.hub.close()
	l.attach(fresh)
	if held, listed := fresh.hub.presRemote(); held != 3 || listed != 3 {
		t.Fatalf("the new hub holds %d and lists %d, want 3 and 3", held, listed)
	}
}

// TestHubListsRemoteInArrivalOrder: a remote connection past the bound
// waits, and is listed (a join in the next batch) when a listed one
// leaves, local or remote; the full list holds both kinds.
func TestHubListsRemoteInArrivalOrder(t *testing.T) {
	h := newHub(2)
	defer h.close()
	var published [][]wire.PresenceEntry
	h.publish = func(joined, left []wire.PresenceEntry) { published = append(published, joined, left) }
	local := &conn{v1: true, id: world.ID{'l'}}
	if !h.join(local) {
		t.Fatal("join refused")
	}
	e := presEntries(2, 'b')
	h.remoteJoin("b", e, 8)
	if held, listed := h.presRemote(); held != 2 || listed != 1 {
		t.Fatalf("the hub holds %d remote and lists %d, want 2 and 1", held, listed)
	}
	h.seal()
	if len(published) != 2 || len(published[0]) != 1 || published[0][0].Session != local.id || len(published[1]) != 0 {
		t.Fatalf("the other nodes were told %v, want the local join alone", published)
	}
	h.leave(local)
	h.seal() // the leave
	h.seal() // the waiting one listed
	if held, listed := h.presRemote(); held != 2 || listed != 2 {
		t.Fatalf("after the local one left the hub holds %d remote and lists %d, want 2 and 2", held, listed)
	}
	h.mu.Lock()
	full := h.full()
	h.mu.Unlock()
	p, err := wire.DecodePresence(full[0])
	if err != nil || len(p.Entries) != 2 {
		t.Fatalf("the full list: %+v, %v; want the two remote", p, err)
	}
	if len(published) != 4 || len(published[3]) != 1 || published[3][0].Session != local.id {
		t.Fatalf("the other nodes were told %v, want the local leave", published)
	}
}

// FuzzDecodePresenceMessage: any bytes another node sends decode without
// a panic, and what decodes encodes back to the same bytes.
func FuzzDecodePresenceMessage(f *testing.F) {
	f.Add(presMsg(presenceChanges, "b", presEntries(2, 'b'), presEntries(1, 'c')))
	f.Add(presMsg(presenceFull, "node-1", presEntries(3, 'x'), nil))
	f.Add([]byte{presenceChanges, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, node, joined, left, err := decodePresenceMessage(b)
		if err != nil {
			return
		}
		if again := appendPresenceMessage(nil, kind, node, joined, left); !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to what encodes as %x", b, again)
		}
	})
}
