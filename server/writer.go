package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

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
		select {
		case <-wake:
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

// sendResync replaces what the control queue holds with the current
// server state.
func (c *conn) sendResync(ctx context.Context) bool {
	for len(c.ctrl) > 0 {
		<-c.ctrl
	}
	c.s.metrics.dropped("control_resync")
	return c.send(ctx, c.t.stateFrame())
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
