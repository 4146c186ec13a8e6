package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"txxt/wire"
	"txxt/world"
)

// Bus is a cluster's core messaging (NATS core subjects, not streams): at
// most once, in order from one publisher, kept nowhere. What travels on it
// is not durable state and may be lost: presence, which every node sends
// again in full every presenceRoster, and session revocations, which every
// node also enforces on the next request from the shared sessions table.
// A Cluster that is also a Bus (cmd/txxt's node is) gets presence and
// revocations across nodes.
type Bus interface {
	// Publish sends data on subject, without waiting for anyone.
	Publish(subject string, data []byte) error
	// Subscribe calls fn for each message on subject (wildcards as NATS
	// has them), one at a time, until stop is called.
	Subscribe(subject string, fn func(subject string, data []byte)) (stop func(), err error)
}

// Subjects of the bus, and the timing of presence across nodes.
const (
	// presenceSubject + a team's slug carries its presence: each node's
	// changes to the connections it lists, and its rosters.
	presenceSubject = "txxt.presence."
	// revokeSubject carries the sessions and members whose game
	// connections every node closes.
	revokeSubject = "txxt.revoke"
	// presenceRoster is how often a node sends, for each team it has
	// listed connections of, the whole list of them: a node that missed
	// a change or came late has it right within that.
	presenceRoster = 2 * time.Second
	// presenceStale is how long a node keeps another node's connections
	// of a team without hearing from it about that team (3.5 rosters): a
	// node killed, cut off or stalled that long drops out of the lists,
	// even before its key leaves WORLD_NODES (a lease TTL).
	presenceStale = 7 * time.Second
	// presenceRemoteMax bounds what one node makes another hold of one
	// team when Limits.PresenceListed does not (negative, or larger).
	presenceRemoteMax = 4096
	// presenceMessage bounds the entries of one message (64 KiB).
	presenceMessage = 2048
)

// presenceLink carries a team's presence between this node and the
// others, and session revocations. It keeps, for each team and each other
// live node, the connections that node lists (at most bound of them), and
// when it last heard of them; the team's hub mirrors them as remote
// entries. The link's state outlives a hub: a team that switches here
// from follower to owner gets a new hub, which attach fills. mu guards
// teams; a hub's methods are called with it held (a hub never calls the
// link with its own lock held: publish runs after hub.mu is released).
type presenceLink struct {
	s     *Server
	bus   Bus
	node  string
	bound int

	mu    sync.Mutex
	teams map[string]map[string]*nodePresence // team → node → what it told
	stops []func()
	// dropped counts messages refused: undecodable, from this node or a
	// node not live, about a team not known here.
	dropped int
}

// nodePresence is what one other node told of its connections to a team.
type nodePresence struct {
	entries map[world.ID]wire.PresenceEntry
	heard   time.Time
}

// Kinds of presence messages.
const (
	presenceChanges = 1 // joins, then leaves
	presenceFull    = 2 // the node's whole list of the team: joins only
)

// startPresenceLink subscribes to the bus and sends this node's rosters
// every presenceRoster, until the server stops.
func (s *Server) startPresenceLink(bus Bus) error {
	bound := s.limits.PresenceListed
	if bound < 0 || bound > presenceRemoteMax {
		bound = presenceRemoteMax
	}
	node := s.cluster.Node()
	if node == "" || len(node) > 255 {
		return fmt.Errorf("node name %q: presence needs 1 to 255 bytes", node)
	}
	l := &presenceLink{s: s, bus: bus, node: node, bound: bound, teams: map[string]map[string]*nodePresence{}}
	for subject, fn := range map[string]func(string, []byte){presenceSubject + "*": l.onPresence, revokeSubject: l.onRevoke} {
		stop, err := bus.Subscribe(subject, fn)
		if err != nil {
			l.close()
			return err
		}
		l.stops = append(l.stops, stop)
	}
	s.link = l
	go l.run()
	return nil
}

func (l *presenceLink) close() {
	for _, stop := range l.stops {
		stop()
	}
}

// run sends the rosters and drops the nodes not heard of, every
// presenceRoster, until the server stops.
func (l *presenceLink) run() {
	tick := time.NewTicker(presenceRoster)
	defer tick.Stop()
	for {
		select {
		case <-l.s.stop:
			l.close()
			return
		case <-tick.C:
			for _, t := range l.s.teams.all() {
				entries, done := t.hub.roster()
				if len(entries) > 0 {
					l.send(t.slug, presenceFull, entries, nil)
				}
				done()
			}
			l.expire(time.Now(), l.s.cluster.Nodes())
		}
	}
}

// publisher returns a hub's publish: its batch's changes to the team's
// subject.
func (l *presenceLink) publisher(slug string) func(joined, left []wire.PresenceEntry) {
	return func(joined, left []wire.PresenceEntry) { l.send(slug, presenceChanges, joined, left) }
}

// send publishes joins and leaves (or a roster) on the team's subject, in
// messages of presenceMessage entries at most. A roster longer than that
// goes as a roster, then changes.
func (l *presenceLink) send(slug string, kind byte, joined, left []wire.PresenceEntry) {
	for first := true; first || len(joined)+len(left) > 0; first = false {
		nj := min(len(joined), presenceMessage)
		nl := min(len(left), presenceMessage-nj)
		msg := appendPresenceMessage(nil, kind, l.node, joined[:nj], left[:nl])
		joined, left = joined[nj:], left[nl:]
		kind = presenceChanges
		if err := l.bus.Publish(presenceSubject+slug, msg); err != nil {
			l.s.logger.Warn("telling the other nodes of presence", "team", slug, "err", err)
			return
		}
	}
}

// onPresence applies another node's message about a team.
func (l *presenceLink) onPresence(subject string, data []byte) {
	slug := strings.TrimPrefix(subject, presenceSubject)
	kind, node, joined, left, err := decodePresenceMessage(data)
	if err != nil || node == l.node || !l.known(slug) || !l.live(node) {
		l.mu.Lock()
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	nodes := l.teams[slug]
	if nodes == nil {
		nodes = map[string]*nodePresence{}
		l.teams[slug] = nodes
	}
	np := nodes[node]
	if np == nil {
		np = &nodePresence{entries: map[world.ID]wire.PresenceEntry{}}
		nodes[node] = np
	}
	np.heard = time.Now()
	// Leaves first, so that a node at its bound that lists new ones in
	// place of old ones has them held; one that came and went within one
	// message is not held at all.
	var gone []world.ID
	skip := map[world.ID]struct{}{}
	if kind == presenceFull {
		for _, e := range joined {
			skip[e.Session] = struct{}{}
		}
		for id := range np.entries {
			if _, ok := skip[id]; !ok {
				gone = append(gone, id)
			}
		}
		clear(skip)
	}
	for _, e := range left {
		gone = append(gone, e.Session)
		skip[e.Session] = struct{}{}
	}
	for _, id := range gone {
		delete(np.entries, id)
	}
	var came []wire.PresenceEntry
	for _, e := range joined {
		_, held := np.entries[e.Session]
		if _, out := skip[e.Session]; !held && !out && len(np.entries) < l.bound {
			np.entries[e.Session] = e
			came = append(came, e)
		}
	}
	if t := l.s.teams.get(slug); t != nil {
		t.hub.remoteLeave(node, gone, false)
		t.hub.remoteJoin(node, came, l.bound)
	}
}

// known reports whether slug is a team of the deployment.
func (l *presenceLink) known(slug string) bool {
	return l.s.teams.get(slug) != nil || l.s.teams.away(slug)
}

// live reports whether node is in the cluster's live node list (taken as
// true while this node knows of none: it is starting).
func (l *presenceLink) live(node string) bool {
	nodes := l.s.cluster.Nodes()
	return len(nodes) == 0 || slices.Contains(nodes, node)
}

// expire drops the connections of every node not heard of about a team
// for presenceStale, and of every node not in live (unless live is empty:
// the node list is not known yet).
func (l *presenceLink) expire(now time.Time, live []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for slug, nodes := range l.teams {
		t := l.s.teams.get(slug)
		for node, np := range nodes {
			if now.Sub(np.heard) < presenceStale && (len(live) == 0 || slices.Contains(live, node)) {
				continue
			}
			delete(nodes, node)
			if t != nil {
				t.hub.remoteLeave(node, nil, true)
			}
		}
		if len(nodes) == 0 {
			delete(l.teams, slug)
		}
	}
}

// attach fills a team's new hub with what the other nodes told.
func (l *presenceLink) attach(t *team) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for node, np := range l.teams[t.slug] {
		entries := make([]wire.PresenceEntry, 0, len(np.entries))
		for _, e := range np.entries {
			entries = append(entries, e)
		}
		t.hub.remoteJoin(node, entries, l.bound)
	}
}

// A presence message, on presenceSubject + slug:
//
//	0      kind u8: 1 changes, 2 the node's whole list
//	1      node name length u8 (n, 1–255)
//	2      node name, n bytes
//	2+n    joined count u16 (j)
//	4+n    left count u16 (k)
//	6+n    (j + k) × (session_id 16 · user_id 16): the joined, then the left
const presenceEntrySize = 32

func appendPresenceMessage(dst []byte, kind byte, node string, joined, left []wire.PresenceEntry) []byte {
	dst = append(dst, kind, byte(len(node)))
	dst = append(dst, node...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(joined)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(left)))
	for _, list := range [][]wire.PresenceEntry{joined, left} {
		for _, e := range list {
			dst = append(dst, e.Session[:]...)
			dst = append(dst, e.User[:]...)
		}
	}
	return dst
}

var errPresenceMessage = errors.New("not a presence message")

func decodePresenceMessage(b []byte) (kind byte, node string, joined, left []wire.PresenceEntry, err error) {
	if len(b) < 2 || b[0] != presenceChanges && b[0] != presenceFull {
		return 0, "", nil, nil, errPresenceMessage
	}
	kind, n := b[0], int(b[1])
	if n == 0 || len(b) < 6+n {
		return 0, "", nil, nil, errPresenceMessage
	}
	node = string(b[2 : 2+n])
	j := int(binary.LittleEndian.Uint16(b[2+n:]))
	k := int(binary.LittleEndian.Uint16(b[4+n:]))
	body := b[6+n:]
	if len(body) != (j+k)*presenceEntrySize || kind == presenceFull && k != 0 {
		return 0, "", nil, nil, errPresenceMessage
	}
	entries := make([]wire.PresenceEntry, j+k)
	for i := range entries {
		e := body[i*presenceEntrySize:]
		copy(entries[i].Session[:], e[:16])
		copy(entries[i].User[:], e[16:32])
	}
	return kind, node, entries[:j:j], entries[j:], nil
}

// revocation is a message on revokeSubject: close the game connections of
// these sessions, in every team; and those of User in Team (every team
// when Team is empty).
type revocation struct {
	Node     string     `json:"node"`
	Sessions []world.ID `json:"sessions,omitempty"`
	User     world.ID   `json:"user,omitzero"`
	Team     string     `json:"team,omitempty"`
}

// spread tells the other nodes of a revocation made here (a no-op on a
// single node).
func (l *presenceLink) spread(r revocation) {
	if l == nil {
		return
	}
	r.Node = l.node
	data, err := json.Marshal(r)
	if err == nil {
		err = l.bus.Publish(revokeSubject, data)
	}
	if err != nil {
		// The other nodes still refuse the session's next request and
		// its next connection; only their open game connections stay.
		l.s.logger.Warn("telling the other nodes of a revocation", "err", err)
	}
}

// onRevoke closes this node's game connections of another node's
// revocation, as that node closed its own.
func (l *presenceLink) onRevoke(_ string, data []byte) {
	var r revocation
	if err := json.Unmarshal(data, &r); err != nil || r.Node == l.node {
		return
	}
	l.s.revokeHere(r.Sessions)
	if r.User.IsZero() {
		return
	}
	for _, t := range l.s.teams.all() {
		if r.Team == "" || r.Team == t.slug {
			t.hub.revokeUser(r.User)
		}
	}
}
