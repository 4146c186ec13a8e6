package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// Close codes a game connection can end with, besides the standard 1001
// (server going away: reconnect), 1008 (policy: not allowed) and 1009 (frame
// over the size limit).
const (
	closeGarbage  websocket.StatusCode = 4001 // too many malformed frames in a row
	closeRevoked  websocket.StatusCode = 4002 // the login session ended: log in again
	closeTooSlow  websocket.StatusCode = 4003 // writes stalled past the deadline: resume from your revision
	closeNoAnswer websocket.StatusCode = 4004 // keepalive ping unanswered
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

	answers  answerQueue
	ctrl     chan []byte
	resync   chan struct{}
	joinedIn uint64 // the presence batch holding this connection's join (hub.mu)
	seen     uint64 // the last presence batch sent (hub.mu; 0: none, the full list is due)
	inflight chan struct{}
	limiter  *budget     // the user's, in this team: shared by their connections
	pace     *time.Timer // the writer's, while its user floods (see paced)
	pings    bucket      // this connection's protocol Pings (reader only)

	dying     chan struct{}
	dieOnce   sync.Once
	closeCode websocket.StatusCode
	closeWhy  string
	draining  chan struct{} // closed when commands must no longer be taken
	drainOnce sync.Once
	closing   bool     // the close handshake has started (writer only)
	batch     []answer // the answers being written (writer only)
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
		}
	}
}

// sendResync replaces what the control queue holds with the current
// server state.
func (c *conn) sendResync(ctx context.Context) bool {
	for len(c.ctrl) > 0 {
		<-c.ctrl
	}
	c.s.metrics.dropped("control_resync")
	return c.send(ctx, c.t.stateFrame())
}

// kill asks the writer to close the connection with code.
func (c *conn) kill(code websocket.StatusCode, why string) {
	c.dieOnce.Do(func() {
		c.closeCode, c.closeWhy = code, why
		close(c.dying)
	})
}

func (c *conn) drain() { c.drainOnce.Do(func() { close(c.draining) }) }

// handleGame is a team's /api/game: take one of the remote host's
// connection slots, authenticate, check the origin and the membership,
// upgrade, serve.
func (s *Server) handleGame() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := s.teamOf(w, r)
		if t == nil {
			return
		}
		host := remoteHost(r)
		if !s.perHost.acquire(host) {
			s.metrics.dropped("too_many_connections")
			s.logger.Debug("game connection refused: too many from its address", "remote", r.RemoteAddr)
			writeError(w, http.StatusTooManyRequests, world.CodeTooManyConnections,
				fmt.Sprintf("Your address has %d pages of this server open, the most it may: close one, then reload this one.", s.limits.MaxConnsPerHost))
			return
		}
		served := false // from here on, the slot is released by serve
		defer func() {
			if !served {
				s.perHost.release(host)
			}
		}()
		login, status, err := s.authenticateUpgrade(r)
		if err != nil {
			s.logger.Warn("game connection refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
			if status == http.StatusServiceUnavailable || errors.Is(err, ErrNoSession) || errors.Is(err, ErrSessionExpiry) {
				s.apiError(w, r, err) // a store's error reaches the log, never the client
				return
			}
			writeError(w, status, world.CodeUnauthorized, sentence(err.Error()))
			return
		}
		role, ok, err := s.roleIn(t, login)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, world.CodeNotFound, noTeam(t.slug))
			return
		}
		login.Role = role // the Welcome says the role in this team
		if ok, userFull := s.conns.acquire(login.User); !ok {
			s.metrics.dropped("too_many_connections")
			msg := fmt.Sprintf("The server has %d pages open, the most it may: try again in a while.", s.limits.MaxConns)
			if userFull {
				msg = fmt.Sprintf("You have %d pages of this server open, the most one person may: close one, then reload this one.", s.limits.MaxConnsPerUser)
			}
			s.logger.Debug("game connection refused: too many", "remote", r.RemoteAddr, "user", login.Name, "per_user", userFull)
			writeError(w, http.StatusTooManyRequests, world.CodeTooManyConnections, msg)
			return
		}
		defer func() {
			if !served {
				s.conns.release(login.User)
			}
		}()
		q := r.URL.Query()
		c := &conn{
			s:        s,
			t:        t,
			host:     host,
			id:       engine.RandomID(),
			client:   engine.RandomID(),
			login:    login,
			answers:  answerQueue{ready: make(chan struct{}, 1)},
			ctrl:     make(chan []byte, controlQueue),
			resync:   make(chan struct{}, 1),
			inflight: make(chan struct{}, s.limits.MaxInflight),
			pings:    newBucket(s.limits.PingRate, s.limits.PingBurst, s.now()),
			dying:    make(chan struct{}),
			draining: make(chan struct{}),
		}
		if v := q.Get("client"); v != "" {
			id, ok := world.ParseID(v)
			if !ok || id.IsZero() {
				writeError(w, http.StatusBadRequest, world.CodeBadRequest, "The client parameter must be a UUID.")
				return
			}
			c.client = id
		}
		if v := q.Get("since"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, world.CodeBadRequest, "The since parameter must be a revision number.")
				return
			}
			c.since, c.resume = n, true
		}
		sb := &smallBuffers{ResponseWriter: w, readRate: s.limits.ReadRate, readBurst: s.limits.ReadBurst, pieceTimeout: s.limits.WriteTimeout}
		ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
			Subprotocols: []string{wire.Subprotocol},
			// The origin was checked by authenticateUpgrade, with the
			// rules of this server (own origin, configured list, no
			// origin only with a bearer token).
			InsecureSkipVerify: true,
		})
		if err != nil {
			return // Accept has answered the request
		}
		c.ws, c.out = ws, sb.out
		c.v1 = ws.Subprotocol() == wire.Subprotocol
		ws.SetReadLimit(int64(s.limits.MaxFrame))
		if login.insecure {
			s.logger.Warn("INSECURE: game connection without login (--insecure-no-auth)", "remote", r.RemoteAddr)
		}
		// The socket is hijacked: the request's goroutine returns, and
		// with it the request and its headers are garbage.
		served = true
		go c.serve()
	})
}

func (c *conn) serve() {
	s := c.s
	defer s.perHost.release(c.host)
	defer s.conns.release(c.login.User)
	c.limiter = c.t.budgets.acquire(c.login.User, s.limits.CommandRate, s.limits.CommandBurst, s.now())
	defer c.t.budgets.release(c.login.User, c.limiter)
	if !c.t.hub.join(c) {
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

// read decodes frames and submits commands until the socket fails.
func (c *conn) read() {
	s := c.s
	bad := 0
	for {
		typ, frame, err := c.ws.Read(context.Background())
		if err != nil {
			// The library has closed the connection with 1009; its
			// error wraps ErrMessageTooBig (it is not a CloseError).
			if errors.Is(err, websocket.ErrMessageTooBig) {
				s.metrics.dropped("frame_too_large")
			}
			c.kill(websocket.StatusNormalClosure, "")
			return
		}
		received := time.Now()
		if typ != websocket.MessageBinary {
			frame = nil // a text frame is never a command
		}
		var f wire.ClientFrame
		var werr *world.Error
		if frame == nil {
			werr = &world.Error{Code: world.CodeBadFrame, Message: "text frames are not part of the protocol: send binary frames"}
		} else if f, err = wire.DecodeCommand(frame, c.v1); err != nil {
			if !errors.As(err, &werr) {
				werr = &world.Error{Code: world.CodeBadFrame, Message: err.Error()}
			}
		}
		if werr != nil {
			bad++
			s.metrics.dropped("bad_frame")
			if bad > c.s.limits.MaxBadFrames {
				c.kill(closeGarbage, "too many malformed frames")
				return
			}
			if !c.answer(answer{request: f.Request, received: received, err: werr}) {
				return
			}
			continue
		}
		decode := time.Since(received)
		// Control frames are answered but do not end a run of malformed
		// frames: garbage between Pings still reaches the limit.
		switch f.Type {
		case wire.TypePing:
			if !c.pings.take(s.now()) {
				// Pings cost the server a frame each: a flood is refused
				// like commands, and the refusals wait for an inflight
				// slot, so the reader slows to the writer's pace.
				s.metrics.dropped("ping_rate_limited")
				if !c.answer(answer{err: &world.Error{Code: world.CodeRateLimited, Message: "You are sending pings faster than the server answers them: wait a moment."}}) ||
					!c.holdOff(time.Duration(float64(time.Second)/s.limits.PingRate)) {
					return
				}
				continue
			}
			pong := wire.AppendPong(nil, &wire.Pong{Nonce: f.Ping.Nonce, ClientTime: f.Ping.ClientTime, ServerTime: uint64(s.now().UnixMilli())})
			c.control(pong, false)
			continue
		case wire.TypeClientStats:
			s.metrics.clientStats(f.Stats)
			continue
		}
		bad = 0
		if !c.submit(f, received, decode) {
			return
		}
	}
}

// answer hands a to the writer, waiting for an inflight slot first. It
// returns false when the connection is closing.
func (c *conn) answer(a answer) bool {
	select {
	case c.inflight <- struct{}{}:
	case <-c.dying:
		return false
	}
	c.answers.put(a)
	return true
}

func (c *conn) submit(f wire.ClientFrame, received time.Time, decode time.Duration) bool {
	select {
	case c.inflight <- struct{}{}:
	case <-c.dying:
		return false
	}
	refuse := func(code world.Code, msg string) bool {
		c.answers.put(answer{request: f.Request, kind: f.Command.Kind, received: received, decode: decode, err: &world.Error{Code: code, Message: msg}})
		return true
	}
	select {
	case <-c.draining:
		return refuse(world.CodeShuttingDown, msgShuttingDown)
	default:
	}
	if !c.limiter.take(c.s.now(), c.s.stalls.within) {
		c.s.metrics.dropped("rate_limited")
		refuse(world.CodeRateLimited, "You are making changes faster than the server takes them, so this one was not made: wait a moment and try again.")
		return c.holdOff(c.limiter.holdOff())
	}
	if msg := forbiddenCommand(c.login.Role, c.login.User, &f.Command); msg != "" {
		return refuse(world.CodeForbidden, msg)
	}
	if f.Command.Kind == world.CmdSetSchedule {
		// The world checks a zone's shape; only the server can look it up.
		if tz := f.Command.Schedule.TimeZone; !knownZone(tz) {
			return refuse(world.CodeInvalidTimeZone, fmt.Sprintf("There is no time zone called %q: use a name such as Europe/Berlin or America/New_York.", tz))
		}
	}
	req := engine.Request{
		Command: f.Command,
		Actor:   c.login.User,
		Done: func(res engine.Result) {
			c.answers.put(answer{request: f.Request, kind: f.Command.Kind, received: received, decode: decode, res: res})
		},
	}
	if c.v1 {
		req.Origin = engine.Origin{Client: c.client, Request: f.Request}
	}
	switch err := c.t.eng.Submit(req); {
	case errors.Is(err, engine.ErrOverloaded):
		return refuse(world.CodeOverloaded, msgOverloaded)
	case errors.Is(err, engine.ErrNotOwner):
		return refuse(world.CodeNotOwner, msgNotOwner)
	case err != nil:
		return refuse(world.CodeShuttingDown, msgShuttingDown)
	}
	return true
}

// write owns the socket's writes: Welcome, then the subscription's
// deliveries, the answers and the control frames, until the connection dies.
func (c *conn) write() {
	s := c.s
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c.v1 {
		if !c.send(ctx, c.welcome(ctx)) {
			return
		}
		if h := c.t.eng.Health(); h.Degraded {
			c.send(ctx, wire.AppendServerState(nil, &wire.ServerState{State: wire.StateDegraded, Reason: h.Reason}))
		}
	}
	var sub *engine.Subscription
	if c.resume && c.v1 {
		sub = c.t.eng.Resume(c.since, true)
	} else {
		sub = c.t.eng.Subscribe(c.v1)
	}
	ping := time.NewTicker(s.limits.PingInterval)
	defer ping.Stop()
	var pinging chan error
	var presence <-chan struct{} // nil on a v0 connection: it is not told
	if c.v1 {
		now := make(chan struct{})
		close(now)
		presence = now // ask the hub at once
	}
	for {
		c.out.cork()
		wake, ok := c.catchUp(ctx, sub)
		if !ok || !c.flush() {
			return
		}
		wake, paced := c.paced(wake)
		select {
		case <-wake:
		case <-paced:
		case <-c.answers.ready:
			// The engine publishes a batch before it answers, so
			// catching up first puts every event up to the answers'
			// revisions on the wire before the answers. All in one
			// write: the loop flushes before it waits again.
			c.out.cork()
			if _, ok := c.catchUp(ctx, sub); !ok || !c.writeAnswers(ctx) {
				return
			}
		case f := <-c.ctrl:
			if !c.send(ctx, f) {
				return
			}
		case <-c.resync:
			if !c.sendResync(ctx) {
				return
			}
		case <-presence:
			// The hub seals at most one batch every presenceEvery, and
			// its frames are shared: a crowd arriving costs each
			// connection a few frames.
			var frames [][]byte
			frames, presence = c.t.hub.presence(c)
			for _, f := range frames {
				if !c.send(ctx, f) {
					return
				}
			}
		case <-ping.C:
			// A session that expired while connected ends here too.
			if !c.login.Expires.IsZero() && !s.now().Before(c.login.Expires) {
				c.kill(closeRevoked, "session expired: log in again")
				continue
			}
			if pinging == nil {
				pinging = make(chan error, 1)
				go func(ch chan error) {
					pctx, cancel := context.WithTimeout(ctx, s.limits.PongTimeout)
					defer cancel()
					ch <- c.ws.Ping(pctx)
				}(pinging)
			}
		case err := <-pinging:
			pinging = nil
			if err != nil {
				c.kill(closeNoAnswer, "keepalive ping unanswered")
			}
		case <-c.dying:
			c.finish(ctx, sub)
			return
		}
	}
}

// flush sends what the writer gathered while corked. A client that does
// not take it within WriteTimeout is closed: it resumes from its revision.
func (c *conn) flush() bool {
	if err := c.out.uncork(); err != nil {
		c.s.metrics.dropped("write_timeout")
		c.kill(closeTooSlow, "write timed out")
		return false
	}
	return true
}

// catchUp delivers everything the subscription has. It returns the channel
// that is closed on the next publish (nil once the engine has closed, after
// killing the connection with 1001), and false when a write failed.
func (c *conn) catchUp(ctx context.Context, sub *engine.Subscription) (<-chan struct{}, bool) {
	for {
		d, wake, err := sub.Poll(ctx)
		if err != nil {
			reason := "server shutting down"
			if c.t.eng.Health().NotOwner {
				reason = "another server keeps this team now" // reconnecting reaches it
			}
			c.kill(websocket.StatusGoingAway, reason)
			return nil, true
		}
		if wake != nil {
			return wake, true
		}
		if !c.deliver(ctx, d) {
			return nil, false
		}
	}
}

// finish writes the events and answers already due, then closes with the
// kill's code.
func (c *conn) finish(ctx context.Context, sub *engine.Subscription) {
	if c.closeCode == websocket.StatusNormalClosure {
		return // the peer went away: nothing to say
	}
	if _, ok := c.catchUp(ctx, sub); !ok || !c.writeAnswers(ctx) {
		return
	}
	c.close(c.closeCode, c.closeWhy)
}

// closeWait bounds how long a connection waits for the client's answer to
// its close frame before it counts as ended.
const closeWait = time.Second

// close sends a close frame and waits up to closeWait for the client's
// answer. A client that does not answer (it stalled, or it is gone) is left
// to the library, which drops the socket 5 s after the close frame: the
// connection is over for the server already.
func (c *conn) close(code websocket.StatusCode, why string) {
	c.closing = true
	done := make(chan struct{})
	go func() {
		c.ws.Close(code, why)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
}

// deliver writes a snapshot or a run of events.
func (c *conn) deliver(ctx context.Context, d engine.Delivery) bool {
	if d.Snapshot != nil {
		// A snapshot is big, and shared: straight to the socket, not
		// copied into the cork's buffer first, in pieces each with the
		// write deadline (corkedConn), not one deadline for the whole.
		if !c.flush() {
			return false
		}
		ok := true
		if err := c.ws.Write(ctx, websocket.MessageBinary, d.Snapshot.Frame); err != nil {
			c.s.metrics.dropped("write_timeout")
			c.kill(closeTooSlow, "write timed out")
			ok = false
		}
		c.out.cork()
		return ok
	}
	for _, p := range d.Events {
		if c.v1 {
			if !c.send(ctx, p.Frame) {
				return false
			}
		} else {
			for _, f := range p.Legacy {
				if !c.send(ctx, f) {
					return false
				}
			}
		}
		if !p.At.IsZero() { // the first event of a batch: time the fan-out
			c.s.metrics.observe(wire.StageFanout, time.Since(p.At))
		}
	}
	return true
}

// writeAnswers writes every queued answer.
func (c *conn) writeAnswers(ctx context.Context) bool {
	c.batch = c.answers.take(c.batch[:0])
	for _, a := range c.batch {
		if !c.writeAnswer(ctx, a) {
			return false
		}
	}
	if cap(c.batch) > 64 {
		c.batch = nil // a burst's buffer is not kept by an idle connection
	}
	return true
}

func (c *conn) writeAnswer(ctx context.Context, a answer) bool {
	defer func() { <-c.inflight }()
	werr := a.err
	if werr == nil {
		werr = a.res.Err
	}
	if !c.v1 {
		if werr != nil {
			c.s.logger.Debug("command refused (original protocol: no error frame)", "conn", c.id, "code", werr.Code, "err", werr.Message)
		}
		c.answered(a, werr)
		return true
	}
	var frame []byte
	if werr != nil {
		frame = wire.AppendError(nil, &wire.ErrorFrame{Request: a.request, Code: werr.Code, Message: werr.Message})
	} else {
		frame = wire.AppendAck(nil, &wire.Ack{Request: a.request, Revision: a.res.Revision})
	}
	if !c.send(ctx, frame) {
		return false
	}
	c.answered(a, werr)
	return true
}

// answered records an answered command's timings; with -v it logs them, and
// with --trace-slow a slow one triggers a trace.
func (c *conn) answered(a answer, werr *world.Error) {
	s := c.s
	total := time.Since(a.received)
	s.metrics.command(total, a.decode, a.res.Timing)
	if s.tracer != nil && total >= s.cfg.TraceSlow {
		s.tracer.trigger(total, a.kind, a.res.Revision)
	}
	if s.logger.Enabled(context.Background(), slog.LevelDebug) {
		t := a.res.Timing
		attrs := []slog.Attr{slog.String("conn", c.id.String()), slog.Uint64("request", uint64(a.request)),
			slog.String("command", a.kind.String()), slog.Uint64("revision", a.res.Revision),
			slog.Int64("total_us", total.Microseconds()), slog.Int64("decode_ns", a.decode.Nanoseconds()),
			slog.Int64("queue_us", t.Queue.Microseconds()), slog.Int64("apply_ns", t.Apply.Nanoseconds()),
			slog.Int64("encode_ns", t.Encode.Nanoseconds()), slog.Int64("commit_us", t.Commit.Microseconds()),
			slog.Int("batch", t.Batch)}
		if werr != nil {
			attrs = append(attrs, slog.String("code", werr.Code.String()))
		}
		s.logger.LogAttrs(context.Background(), slog.LevelDebug, "command", attrs...)
	}
}

// send writes one frame with the write deadline. A client that cannot
// take a frame within it is closed: it resumes from its last revision.
func (c *conn) send(ctx context.Context, frame []byte) bool {
	wctx, cancel := context.WithTimeout(ctx, c.s.limits.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageBinary, frame); err != nil {
		if wctx.Err() != nil {
			c.s.metrics.dropped("write_timeout")
		}
		c.kill(closeTooSlow, "write timed out")
		return false
	}
	return true
}

func (c *conn) welcome(ctx context.Context) []byte {
	s := c.s
	var grid uint16
	c.t.eng.Read(ctx, func(w *world.World) { grid = w.Grid() })
	return wire.AppendWelcome(nil, &wire.Welcome{
		Protocol:      wire.ProtocolVersion,
		ServerTime:    uint64(s.now().UnixMilli()),
		Grid:          grid,
		Role:          uint8(c.login.Role),
		Session:       c.id,
		User:          c.login.User,
		Client:        c.client,
		ServerVersion: s.cfg.Version,
		UserName:      c.login.Name,
		Profile:       c.t.activeProfile(c.login.User),
	})
}

// connBuffer is the size of a game connection's read and write buffers.
// Client frames are small, and bufio passes a bigger read or write (a
// snapshot) straight through, so 1 KiB each is enough; net/http's 4 KiB
// each would be most of an idle connection's memory.
const connBuffer = 1 << 10

// smallBuffers hands the WebSocket library, which keeps the hijacked
// connection's buffers for the life of the connection, smaller ones, and
// puts a corkedConn under its writes.
type smallBuffers struct {
	http.ResponseWriter
	readRate, readBurst float64       // bytes a second the reader takes (see slowReader)
	pieceTimeout        time.Duration // each piece of a write must go within this (see corkedConn)
	out                 *corkedConn   // set by Hijack
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	// Bytes the client sent after its request (its first frames, when it
	// writes at once) are in the old reader. They must be in the new
	// reader's buffer, not behind it: the library takes what is buffered
	// and reads the rest from nc itself.
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	// The library reads the socket itself past what is buffered: the
	// read rate's bound is on the conn it gets.
	slow := slowConn{Conn: nc, r: newSlowReader(nc, w.readRate, w.readBurst)}
	in := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), slow), max(connBuffer, len(early)))
	if len(early) > 0 {
		in.Peek(len(early)) // fills from the early bytes alone: nc is not read
	}
	w.out = &corkedConn{Conn: nc, timeout: w.pieceTimeout}
	return slow, bufio.NewReadWriter(in, bufio.NewWriterSize(w.out, connBuffer)), nil
}

// corkedConn is the socket under the WebSocket library's writes. While the
// connection's writer has it corked, what the library writes (each frame,
// flushed on its own) is gathered; uncork sends it all in one write. So a
// run of events, or of answers, costs the connection one syscall, not one
// per frame. Writes from other goroutines (pings, pongs) while it is not
// corked go straight through. The mutex keeps every byte in the order the
// library wrote it.
//
// What a connection holds in flight is bounded: the gathered bytes never
// pass corkLimit (past it they are sent first), and a big write (a
// snapshot, which every connection that needs it shares: it is never
// copied here) goes out in pieces of writePiece, each with its own
// deadline, timeout. A client that takes no piece within it is stalled:
// the write fails and the connection is closed (4003). One that is slow
// but moving gets a snapshot bigger than it can take within one deadline.
type corkedConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	corked  bool
	buf     []byte
}

const (
	corkLimit  = 64 << 10
	writePiece = 64 << 10
)

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= corkLimit {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.writeBuf(); err != nil {
		return 0, err
	}
	if c.corked && len(p) <= corkLimit {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.writePieces(p)
}

// writePieces writes p in pieces, each within the timeout. c.mu is held.
func (c *corkedConn) writePieces(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), writePiece)
		if c.timeout > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
		}
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	if c.timeout > 0 {
		c.Conn.SetWriteDeadline(time.Time{})
	}
	return written, nil
}

// writeBuf sends what was gathered. c.mu is held.
func (c *corkedConn) writeBuf() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.writePieces(c.buf)
	clear(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > corkLimit {
		c.buf = nil // cannot happen: the buffer is bounded
	}
	return err
}

func (c *corkedConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered, each piece within the timeout.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.writeBuf()
}

// knownZone reports whether tz names a time zone this server knows.
func knownZone(tz string) bool {
	if tz == "" || len(tz) > world.MaxTimeZone || strings.ContainsAny(tz, "\\.") {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
