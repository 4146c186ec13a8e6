package server

import (
	"sync"

	"txxt/wire"
	"txxt/world"
)

// hub is the registry of open game connections: presence, shutdown and
// revocation reach every connection through it. Its mutex guards only the
// map; presence changes are handed to each connection's presence queue and
// frames to its bounded control queue, never written while the lock is
// held.
type hub struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup // one per joined connection, done when it leaves
}

func newHub() *hub { return &hub{conns: make(map[*conn]struct{})} }

// join registers c, tells the others that it came, and gives c the full
// list. It refuses when the hub is closed (the server is shutting down).
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
	me := c.presence()
	for o := range h.conns {
		if o != c && o.v1 {
			o.people.add(me, true)
		}
	}
	c.people.resync()
	return true
}

// full returns a Presence frame listing every v1 connection.
func (h *hub) full() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := wire.Presence{Op: wire.PresenceFull}
	for o := range h.conns {
		if o.v1 {
			list.Entries = append(list.Entries, o.presence())
		}
	}
	return wire.AppendPresence(nil, &list)
}

// presenceQueue holds the presence changes a connection has yet to send.
// Changes that pile up are sent together, one Joined and one Left frame
// with many entries, so a crowd connecting at once (after a restart) costs
// each connection a few frames, not one per newcomer; past maxPending
// they are replaced by a full list, so a stalled connection holds a
// bounded amount.
type presenceQueue struct {
	mu           sync.Mutex
	joined, left []wire.PresenceEntry
	full         bool          // send the full list instead
	ready        chan struct{} // holds a token while something is queued
}

const maxPending = 256

func newPresenceQueue() presenceQueue { return presenceQueue{ready: make(chan struct{}, 1)} }

func (q *presenceQueue) add(e wire.PresenceEntry, joined bool) {
	q.mu.Lock()
	switch {
	case q.full:
	case len(q.joined)+len(q.left) >= maxPending:
		q.full, q.joined, q.left = true, nil, nil
	case joined:
		q.joined = append(q.joined, e)
	default:
		q.left = append(q.left, e)
	}
	q.mu.Unlock()
	q.signal()
}

// resync asks for the full list.
func (q *presenceQueue) resync() {
	q.mu.Lock()
	q.full, q.joined, q.left = true, nil, nil
	q.mu.Unlock()
	q.signal()
}

func (q *presenceQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// frames returns what to send, and empties the queue. The full list is
// read from the hub now, so it is never older than a change queued after
// it (and a change both queued and in the list is harmless: joins and
// leaves are idempotent).
func (q *presenceQueue) frames(h *hub) [][]byte {
	q.mu.Lock()
	full, joined, left := q.full, q.joined, q.left
	q.full, q.joined, q.left = false, nil, nil
	q.mu.Unlock()
	if full {
		return [][]byte{h.full()}
	}
	var out [][]byte
	if len(joined) > 0 {
		out = append(out, wire.AppendPresence(nil, &wire.Presence{Op: wire.PresenceJoined, Entries: joined}))
	}
	if len(left) > 0 { // after joined: a connection that came and went in one batch ends up gone
		out = append(out, wire.AppendPresence(nil, &wire.Presence{Op: wire.PresenceLeft, Entries: left}))
	}
	return out
}

// leave removes c and tells the others.
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
	me := c.presence()
	for o := range h.conns {
		if o.v1 {
			o.people.add(me, false)
		}
	}
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
