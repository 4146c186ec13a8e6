package server

import (
	"container/list"
	"sync"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// answer is one command's answer on its way to the writer.
type answer struct {
	request  uint32
	kind     world.CommandKind // 0 for a frame that did not decode
	received time.Time         // when its frame was read (monotonic clock)
	decode   time.Duration     // how long decoding it took
	res      engine.Result
	err      *world.Error // refused before reaching the engine
}

// answerQueue carries answers from the reader and the engine to the
// writer. It never blocks the engine, and an idle connection holds no
// buffer.
type answerQueue struct {
	mu    sync.Mutex
	q     []answer
	ready chan struct{} // holds a token while q is not empty
}

func (aq *answerQueue) put(a answer) {
	aq.mu.Lock()
	aq.q = append(aq.q, a)
	aq.mu.Unlock()
	select {
	case aq.ready <- struct{}{}:
	default:
	}
}

// take appends the queued answers to dst and empties the queue.
func (aq *answerQueue) take(dst []answer) []answer {
	aq.mu.Lock()
	defer aq.mu.Unlock()
	dst = append(dst, aq.q...)
	clear(aq.q)
	aq.q = aq.q[:0]
	if cap(aq.q) > 64 {
		aq.q = nil
	}
	return dst
}

// conn is one game connection, served by two goroutines. The reader
// decodes frames and submits commands; the writer owns the socket's
// writes: Welcome, the subscription's events, the answers, the control
// frames and presence.
//
// Bounds: at most Limits.MaxInflight commands are unanswered at a time (the
// reader waits for a slot, which is backpressure on a client that floods),
// so the answers queue holds at most that many. Control frames wait in a
// queue of controlQueue: when it is full, droppable ones (telemetry, pongs)
// are dropped and the others (server state) are replaced by a resync, the
// current state. Presence is not queued per connection either: it is
// read from the hub's shared log of batches (see hub). Events are not
// queued per connection at all: they are read from the engine's shared
// ring, and a connection that falls behind it gets a fresh snapshot, the
// engine's shared frame, written in pieces (corkedConn).
type conn struct {
	s      *Server
	t      *team // the team whose world this connection plays in
	ws     *websocket.Conn
	out    *corkedConn // under ws's writes: the writer corks it around runs of frames
	host   string      // the remote host, whose connection slot this holds
	v1     bool
	id     world.ID // this connection, in presence
	client world.ID // the client's id for retries (Welcome tells it)
	login  Session
	since  uint64 // resume point; 0: start from a snapshot
	resume bool

	answers  answerQueue   // its ready is notify
	ctrl     chan []byte   // then notify
	resync   chan struct{} // then notify
	notify   chan struct{} // holds a token when the writer has work of this connection's (answers, control, resync, pings, dying)
	joinedIn uint64        // the presence batch holding this connection's join (hub.mu)
	seen     uint64        // the last presence batch sent (hub.mu; 0: none, the full list is due)
	listed   bool          // in the presence list (hub.mu)
	waiting  *list.Element // unlisted: its place in the hub's queue (hub.mu)
	inflight chan struct{}
	limiter  *budget       // the user's, in this team: shared by their connections
	pace     *time.Timer   // the writer's, while its user floods (see paced)
	phase    time.Duration // where in each floodPace its pace ticks
	pings    bucket        // this connection's protocol Pings (reader only)

	dying     chan struct{}
	dieOnce   sync.Once
	closeCode websocket.StatusCode
	closeWhy  string
	draining  chan struct{} // closed when commands must no longer be taken
	drainOnce sync.Once
	closing   bool     // the close handshake has started (writer only)
	batch     []answer // the answers being written (writer only)
	scratch   []byte   // an answer's frame being encoded (writer only)
}

const controlQueue = 16

func (c *conn) presence() wire.PresenceEntry {
	return wire.PresenceEntry{Session: c.id, User: c.login.User}
}

// control queues a control frame. When the queue is full, a droppable
// frame is dropped, and any other asks the writer for a resync.
func (c *conn) control(frame []byte, must bool) {
	select {
	case c.ctrl <- frame:
	default:
		if must {
			select {
			case c.resync <- struct{}{}:
			default:
			}
		} else {
			c.s.metrics.dropped("control_queue_full")
			return
		}
	}
	c.signal()
}

// signal wakes the writer for work of this connection's. A token already
// there stands for this one too: the writer looks at everything it has
// each time it wakes.
func (c *conn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// kill asks the writer to close the connection with code.
func (c *conn) kill(code websocket.StatusCode, why string) {
	c.dieOnce.Do(func() {
		c.closeCode, c.closeWhy = code, why
		close(c.dying)
		c.signal()
	})
}

func (c *conn) drain() { c.drainOnce.Do(func() { close(c.draining) }) }

func (c *conn) serve() {
	s := c.s
	defer s.perHost.release(c.host)
	defer s.conns.release(c.login.User)
	c.limiter = c.t.budgets.acquire(c.login.User, s.limits.CommandRate, s.limits.CommandBurst, s.now())
	defer c.t.budgets.release(c.login.User, c.limiter)
	if !c.t.hub.join(c) {
		c.out.uncork() // the upgrade's answer waits there (smallBuffers)
		c.close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer c.t.hub.leave(c)
	s.logger.Debug("game connection", "conn", c.id, "user", c.login.Name, "v1", c.v1, "since", c.since)

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		c.read()
	}()
	c.write()
	if !c.closing {
		c.ws.CloseNow()
		<-readDone
	}
	// Else the close handshake has started, and the reader ends with it:
	// at once if the client answers, or when the library gives up on it.
}
