package server

import (
	"container/list"
	"sync"
	"time"

	"txxt/wire"
	"txxt/world"
)

// hub is the registry of open game connections: presence, shutdown and
// revocation reach every connection through it. Its mutex guards the map
// and the presence log; frames are never written while it is held.
//
// Presence is a log shared by every connection, like the engine's feed:
// joins and leaves gather in the hub for presenceEvery, then are sealed
// into one batch (a Joined and a Left frame, encoded once), which every v1
// connection's writer sends when it gets to it. A new connection sends the
// full list once (built once per batch, shared by all who need it), when
// the batch holding its own join is sealed, then the batches after it. A
// connection further behind than the log holds sends the full list again.
// So a join costs the hub O(1), each connection a shared frame per batch,
// and a stalled connection holds nothing.
//
// The list holds at most maxListed connections, the earliest to arrive of
// those still here; the others wait in arrival order, unlisted, and the
// first of them is listed when a listed one leaves (in the next batch, a
// few a batch: see promote). Every connection must
// hear of every listed one, so without that bound a crowd of N costs N²
// entries in all (5,000 connections: 800 MB of presence, the whole of a
// connect storm's cost); with it, a crowd's arrival past maxListed is no
// news, and each newcomer costs one full list of at most maxListed.
//
// On a cluster the list is of the team's connections on every node: the
// other nodes' listed connections come in as remote entries (see
// presenceLink in cluster_presence.go) and take places in the same list,
// and wait in the same queue, as this node's own; the hub tells the other
// nodes only of its own connections, and only of those it lists, so what
// one node makes another hold is bounded by maxListed too.
type hub struct {
	mu        sync.Mutex
	conns     map[*conn]struct{}
	v1        int // v1 connections, the ones presence lists
	maxListed int // < 0: no bound
	listed    int // v1 connections in the list
	waiting   list.List
	closed    bool
	wg        sync.WaitGroup // one per joined connection, done when it leaves

	joined, left []wire.PresenceEntry // changes of the batch being gathered
	sealing      *time.Timer          // set while a batch is being gathered
	sealed       uint64               // the last sealed batch (0: none yet)
	log          [presenceLog]presenceBatch
	fullAt       uint64 // the batch the cached full list is of
	fullFrames   [][]byte
	wake         chan struct{} // closed when a batch is sealed

	// On a cluster: the other nodes' listed connections, by session, and
	// how many each node has here; the changes to this node's own listed
	// connections since the last batch, and publish, which tells them to
	// the other nodes (nil on a single node). out orders what is published:
	// taken before mu, held from reading the state to publishing it.
	remote           map[world.ID]*remoteEntry
	perNode          map[string]int
	outJoin, outLeft []wire.PresenceEntry
	publish          func(joined, left []wire.PresenceEntry)
	out              sync.Mutex
}

// remoteEntry is a connection of another node, as that node told of it.
// Its fields are guarded by hub.mu.
type remoteEntry struct {
	e       wire.PresenceEntry
	node    string
	listed  bool
	waiting *list.Element
}

// presenceBatch is one sealed batch of presence changes, as frames.
type presenceBatch struct {
	seq    uint64
	frames [][]byte
}

const (
	// presenceEvery is the shortest time between two presence batches;
	// past presenceCrowd v1 connections, it grows with them (every).
	presenceEvery = 200 * time.Millisecond
	presenceCrowd = 1000
	// presenceLog is how many batches the hub keeps (13 s of them, or
	// more in a crowd): a connection further behind gets the full list.
	presenceLog = 64
	// presenceFrame bounds the entries of one Presence frame (32 bytes
	// each: 64 KiB).
	presenceFrame = 2048
	// presencePromote bounds the waiting connections listed in one
	// batch (see promote).
	presencePromote = 8
)

// DefaultPresenceListed is Limits.PresenceListed's default: more people
// and windows than a team's top bar can show, and a full list of 8 KiB.
const DefaultPresenceListed = 256

// newHub returns a hub whose presence lists at most maxListed connections
// (< 0: all of them).
func newHub(maxListed int) *hub {
	return &hub{conns: make(map[*conn]struct{}), wake: make(chan struct{}), maxListed: maxListed}
}

// join registers c and puts its arrival in the batch being gathered. It
// refuses when the hub is closed (the server is shutting down).
func (h *hub) join(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	if !c.v1 {
		return true
	}
	h.v1++
	if h.maxListed >= 0 && (h.listed >= h.maxListed || h.waiting.Len() > 0) {
		// Unlisted: its arrival is no news, and its full list (of the
		// last sealed batch) is due at once.
		c.waiting = h.waiting.PushBack(c)
		c.joinedIn = h.sealed
		return true
	}
	h.list(c)
	return true
}

// list puts c in the presence list. h.mu is held.
func (h *hub) list(c *conn) {
	c.listed = true
	h.listed++
	h.change(c.presence(), true)
	h.tell(c.presence(), true)
	c.joinedIn = h.sealed + 1
}

// tell adds a change to this node's own list to what the other nodes are
// told with the next batch. h.mu is held.
func (h *hub) tell(e wire.PresenceEntry, joined bool) {
	if h.publish == nil {
		return
	}
	if joined {
		h.outJoin = append(h.outJoin, e)
	} else {
		h.outLeft = append(h.outLeft, e)
	}
}

// leave removes c and puts its departure in the batch being gathered.
func (h *hub) leave(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	h.wg.Done()
	if !c.v1 {
		return
	}
	h.v1--
	if !c.listed {
		h.waiting.Remove(c.waiting)
		c.waiting = nil
		return
	}
	c.listed = false
	h.listed--
	h.change(c.presence(), false) // the earliest waiting takes its place when the batch is sealed
	h.tell(c.presence(), false)
}

// promote lists the earliest waiting connections in the places free, at
// most presencePromote of them, and returns whether more wait for a free
// place. h.mu is held.
//
// The bound is for a crowd that leaves in the order it came (a server's
// clients after a restart, a load tool ending): each listed one that
// leaves would list the next, who leaves soon after, so every one of
// them would be listed once and be news for all the others, N² entries
// again. Bounded, the list fills back at presencePromote a batch.
func (h *hub) promote() bool {
	for range presencePromote {
		if h.maxListed < 0 || h.listed >= h.maxListed || h.waiting.Len() == 0 {
			break
		}
		switch o := h.waiting.Remove(h.waiting.Front()).(type) {
		case *conn:
			o.waiting = nil
			o.listed = true
			h.joined = append(h.joined, o.presence())
			h.tell(o.presence(), true)
		case *remoteEntry:
			o.waiting = nil
			o.listed = true
			h.joined = append(h.joined, o.e)
		}
		h.listed++
	}
	return h.maxListed >= 0 && h.listed < h.maxListed && h.waiting.Len() > 0
}

// change adds a join or a leave to the batch being gathered, and has it
// sealed presenceEvery from its first change. h.mu is held.
func (h *hub) change(e wire.PresenceEntry, joined bool) {
	if joined {
		h.joined = append(h.joined, e)
	} else {
		h.left = append(h.left, e)
	}
	if h.sealing == nil {
		h.sealing = time.AfterFunc(h.every(), h.seal)
	}
}

// every is the time between two batches: presenceEvery, and longer in a
// crowd, so that every connection's frame per batch costs the server at
// most about presenceCrowd/presenceEvery writes a second (5,000; with
// 20,000 connections, a batch every 4 s). h.mu is held.
func (h *hub) every() time.Duration {
	return presenceEvery * time.Duration(max(1, h.v1/presenceCrowd))
}

// seal makes the gathered changes a batch and wakes the writers, and
// tells the other nodes of the changes to this node's own list.
func (h *hub) seal() {
	h.out.Lock()
	defer h.out.Unlock()
	h.mu.Lock()
	h.sealing = nil
	if h.promote() && !h.closed {
		h.sealing = time.AfterFunc(h.every(), h.seal) // the next ones, in the next batch
	}
	h.sealed++
	var frames [][]byte
	// Joins before leaves: a connection that came and went in one batch
	// ends up gone.
	frames = appendPresence(frames, wire.PresenceJoined, h.joined)
	frames = appendPresence(frames, wire.PresenceLeft, h.left)
	h.log[h.sealed%presenceLog] = presenceBatch{seq: h.sealed, frames: frames}
	h.joined, h.left = nil, nil
	joined, left := h.outJoin, h.outLeft
	h.outJoin, h.outLeft = nil, nil
	wake := h.wake
	h.wake = make(chan struct{})
	h.mu.Unlock()
	close(wake)
	if len(joined)+len(left) > 0 {
		h.publish(joined, left)
	}
}

// appendPresence appends entries as Presence frames of op, presenceFrame
// entries at most each.
func appendPresence(frames [][]byte, op uint8, entries []wire.PresenceEntry) [][]byte {
	for len(entries) > 0 {
		n := min(len(entries), presenceFrame)
		frames = append(frames, wire.AppendPresence(nil, &wire.Presence{Op: op, Entries: entries[:n]}))
		entries = entries[n:]
	}
	return frames
}

// presence returns the presence frames c is due (shared: they must not be
// modified), and a channel closed when more may be. Writer of c only.
func (h *hub) presence(c *conn) ([][]byte, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sealed < c.joinedIn {
		return nil, h.wake // its own join is not out yet
	}
	if c.seen == 0 || c.seen+presenceLog <= h.sealed {
		// New, or further behind than the log: the full list, then
		// what comes after it (changes still gathered are in the list
		// already; joins and leaves sent twice are harmless).
		c.seen = h.sealed
		return h.full(), h.wake
	}
	var out [][]byte
	for seq := c.seen + 1; seq <= h.sealed; seq++ {
		out = append(out, h.log[seq%presenceLog].frames...)
	}
	c.seen = h.sealed
	return out, h.wake
}

// full returns the list of listed v1 connections as frames: the first a
// PresenceFull, the rest (past presenceFrame entries) PresenceJoined. It
// is built once per batch. h.mu is held.
func (h *hub) full() [][]byte {
	if h.fullFrames != nil && h.fullAt == h.sealed {
		return h.fullFrames
	}
	list := make([]wire.PresenceEntry, 0, h.listed)
	for o := range h.conns {
		if o.listed {
			list = append(list, o.presence())
		}
	}
	for _, r := range h.remote {
		if r.listed {
			list = append(list, r.e)
		}
	}
	n := min(len(list), presenceFrame)
	frames := [][]byte{wire.AppendPresence(nil, &wire.Presence{Op: wire.PresenceFull, Entries: list[:n]})}
	frames = appendPresence(frames, wire.PresenceJoined, list[n:])
	h.fullAt, h.fullFrames = h.sealed, frames
	return frames
}

// each calls fn for every connection, outside the lock.
func (h *hub) each(fn func(*conn)) {
	h.mu.Lock()
	list := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		fn(c)
	}
}

// broadcast queues a control frame on every v1 connection; droppable frames
// (telemetry) are skipped where the queue is full.
func (h *hub) broadcast(frame []byte, droppable bool) {
	h.each(func(c *conn) {
		if c.v1 {
			c.control(frame, !droppable)
		}
	})
}

// close stops new joins and returns the connections that were open.
func (h *hub) close() []*conn {
	h.mu.Lock()
	h.closed = true
	if h.sealing != nil {
		h.sealing.Stop()
		h.sealing = nil
	}
	h.mu.Unlock()
	var list []*conn
	h.each(func(c *conn) { list = append(list, c) })
	return list
}

// count returns the number of open connections.
func (h *hub) count() (total, v1 int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		total++
		if c.v1 {
			v1++
		}
	}
	return total, v1
}

// revoke closes every connection of the given login sessions.
func (h *hub) revoke(sessions []world.ID) {
	if len(sessions) == 0 {
		return
	}
	h.each(func(c *conn) {
		for _, id := range sessions {
			if c.login.ID == id {
				c.kill(closeRevoked, "session ended")
			}
		}
	})
}

// revokeUser closes every connection of a user, whose membership or role
// changed: they reconnect (a member with the new role) or are refused.
func (h *hub) revokeUser(user world.ID) {
	h.each(func(c *conn) {
		if c.login.User == user {
			c.kill(closeRevoked, "your membership of this team changed")
		}
	})
}

// remoteJoin adds other nodes' listed connections to the list, as this
// node's own arrive: listed when a place is free and nobody waits, else
// waiting in arrival order. An entry held already is skipped, and so is
// one past bound entries of its node (< 0: no bound).
func (h *hub) remoteJoin(node string, entries []wire.PresenceEntry, bound int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if h.remote == nil {
		h.remote, h.perNode = map[world.ID]*remoteEntry{}, map[string]int{}
	}
	for _, e := range entries {
		if _, ok := h.remote[e.Session]; ok || bound >= 0 && h.perNode[node] >= bound {
			continue
		}
		r := &remoteEntry{e: e, node: node}
		h.remote[e.Session] = r
		h.perNode[node]++
		if h.maxListed >= 0 && (h.listed >= h.maxListed || h.waiting.Len() > 0) {
			r.waiting = h.waiting.PushBack(r)
			continue
		}
		r.listed = true
		h.listed++
		h.change(r.e, true)
	}
}

// remoteLeave removes other nodes' connections (by session) that node
// told of; all of node's when all is set.
func (h *hub) remoteLeave(node string, sessions []world.ID, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	drop := func(r *remoteEntry) {
		delete(h.remote, r.e.Session)
		if h.perNode[node]--; h.perNode[node] <= 0 {
			delete(h.perNode, node)
		}
		if !r.listed {
			h.waiting.Remove(r.waiting)
			r.waiting = nil
			return
		}
		r.listed = false
		h.listed--
		h.change(r.e, false)
	}
	if all {
		for _, r := range h.remote {
			if r.node == node {
				drop(r)
			}
		}
		return
	}
	for _, id := range sessions {
		if r := h.remote[id]; r != nil && r.node == node {
			drop(r)
		}
	}
}

// roster returns this node's own listed connections, and holds h.out
// until done is called: what is published of it then cannot pass, or be
// passed by, a batch's changes.
func (h *hub) roster() (entries []wire.PresenceEntry, done func()) {
	h.out.Lock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.listed {
			entries = append(entries, c.presence())
		}
	}
	return entries, h.out.Unlock
}
