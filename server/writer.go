package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// write owns the socket's writes: Welcome, then the subscription's
// deliveries, the answers and the control frames, until the connection dies.
//
// It waits on three channels only: the engine's next publish (shared by
// every subscriber), the hub's next presence batch (shared too) and
// notify, the connection's own (answers, control frames, a resync, the
// keepalive, the kill). Each wake does everything due while the socket is
// corked, then flushes once: a burst costs one write.
func (c *conn) write() {
	s := c.s
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.out.cork()
	var sub *engine.Subscription
	if c.resume && c.v1 {
		sub = c.t.eng.Resume(c.since, true)
	} else {
		sub = c.t.eng.Subscribe(c.v1)
	}
	if c.v1 {
		// A new subscription's first delivery is its snapshot, which
		// holds the grid the Welcome tells: one question to the engine
		// instead of two. A resume asks the world.
		var first engine.Delivery
		grid, known := uint16(0), false
		if !c.resume {
			if d, _, err := sub.Poll(ctx); err == nil && d.Snapshot != nil {
				first = d
				grid, known = wire.SnapshotGrid(d.Snapshot.Frame)
			} // else catchUp meets the engine's error again, and closes
		}
		if !known {
			c.t.eng.Read(ctx, func(w *world.World) { grid = w.Grid() })
		}
		if !c.send(c.welcome(grid)) {
			return
		}
		if h := c.t.eng.Health(); h.Degraded {
			c.send(wire.AppendServerState(nil, &wire.ServerState{State: wire.StateDegraded, Reason: h.Reason}))
		}
		if first.Snapshot != nil && !c.deliver(first) {
			return
		}
	}
	var pingDue atomic.Bool
	ping := time.AfterFunc(s.limits.PingInterval, func() {
		pingDue.Store(true)
		c.signal()
	})
	defer ping.Stop()
	var pinging chan error
	var presence <-chan struct{}
	presenceDue := c.v1 // a v0 connection is not told; a v1 one asks the hub at once
	own := true         // look at the connection's own work
	for {
		// Corked from here to the flush.
		if own {
			select {
			case <-c.dying:
				c.finish(ctx, sub)
				return
			default:
			}
			// Taken before catching up: the engine publishes a batch
			// before it answers it, so the events of every answer taken
			// here are in the feed already, and catchUp puts them on
			// the wire before the answers.
			c.batch = c.answers.take(c.batch[:0])
		}
		wake, ok := c.catchUp(ctx, sub)
		if !ok {
			return
		}
		if own {
			if !c.writeAnswers() || !c.writeControl() {
				return
			}
			if pingDue.CompareAndSwap(true, false) {
				ping.Reset(s.limits.PingInterval)
				// A session that expired while connected ends here too.
				if !c.login.Expires.IsZero() && !s.now().Before(c.login.Expires) {
					c.kill(closeRevoked, "session expired: log in again")
				} else if pinging == nil {
					pinging = make(chan error, 1)
					go func(ch chan error) {
						pctx, cancel := context.WithTimeout(ctx, s.limits.PongTimeout)
						defer cancel()
						ch <- c.ws.Ping(pctx)
						c.signal()
					}(pinging)
				}
			}
			if pinging != nil {
				select {
				case err := <-pinging:
					pinging = nil
					if err != nil {
						c.kill(closeNoAnswer, "keepalive ping unanswered")
					}
				default:
				}
			}
		}
		if presenceDue {
			// The hub seals at most one batch every presenceEvery, and
			// its frames are shared: a crowd arriving costs each
			// connection a few frames.
			var frames [][]byte
			frames, presence = c.t.hub.presence(c)
			for _, f := range frames {
				if !c.send(f) {
					return
				}
			}
			presenceDue = false
		}
		if !c.flush() {
			return
		}
		// A user over their budget takes events at most every floodPace
		// (fair.go); answers and their own work are not paced.
		wake, paced := c.paced(wake)
		select {
		case <-wake:
			own = false
		case <-paced:
			own = false
		case <-presence:
			own, presenceDue = false, true
		case <-c.notify:
			own = true
		}
		c.out.cork()
	}
}

// flush sends what the writer gathered while corked. A client that does
// not take it within WriteTimeout is closed: it resumes from its revision.
func (c *conn) flush() bool {
	if err := c.out.uncork(); err != nil {
		c.failed(err)
		return false
	}
	return true
}

// failed closes a connection whose write failed.
func (c *conn) failed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.metrics.dropped("write_timeout")
	}
	c.kill(closeTooSlow, "write timed out")
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
		if !c.deliver(d) {
			return nil, false
		}
	}
}

// sendResync replaces what the control queue holds with the current
// server state.
func (c *conn) sendResync() bool {
	for len(c.ctrl) > 0 {
		<-c.ctrl
	}
	c.s.metrics.dropped("control_resync")
	return c.send(c.t.stateFrame())
}

// writeControl writes a resync when one was asked for, then the control
// frames queued. Those queued after it began have their own notify.
func (c *conn) writeControl() bool {
	select {
	case <-c.resync:
		if !c.sendResync() {
			return false
		}
	default:
	}
	for n := len(c.ctrl); n > 0; n-- {
		if !c.send(<-c.ctrl) {
			return false
		}
	}
	return true
}

// deliver writes a snapshot or a run of events.
func (c *conn) deliver(d engine.Delivery) bool {
	if d.Snapshot != nil {
		// A snapshot is big, and shared: straight to the socket, not
		// copied into the cork's buffer first, in pieces each with the
		// write deadline (corkedConn), not one deadline for the whole.
		return c.send(d.Snapshot.Frame)
	}
	for _, p := range d.Events {
		if c.v1 {
			if !c.send(p.Frame) {
				return false
			}
		} else {
			for _, f := range p.Legacy {
				if !c.send(f) {
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

// writeAnswers writes the answers taken into c.batch.
func (c *conn) writeAnswers() bool {
	for _, a := range c.batch {
		if !c.writeAnswer(a) {
			return false
		}
	}
	c.batch = c.batch[:0]
	if cap(c.batch) > 64 {
		c.batch = nil // a burst's buffer is not kept by an idle connection
	}
	return true
}

func (c *conn) writeAnswer(a answer) bool {
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
	// Encoded into the writer's scratch: writeMessage copies it.
	var frame []byte
	if werr != nil {
		frame = wire.AppendError(c.scratch[:0], &wire.ErrorFrame{Request: a.request, Code: werr.Code, Message: werr.Message})
	} else {
		frame = wire.AppendAck(c.scratch[:0], &wire.Ack{Request: a.request, Revision: a.res.Revision})
	}
	if cap(frame) <= scratchMax {
		c.scratch = frame[:0]
	}
	if !c.send(frame) {
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

// send writes one frame as a binary message (see corkedConn.writeMessage).
// A client that cannot take it within the write deadline is closed: it
// resumes from its last revision.
func (c *conn) send(frame []byte) bool {
	if err := c.out.writeMessage(frame); err != nil {
		c.failed(err)
		return false
	}
	return true
}

// scratchMax bounds the writer's scratch buffer an idle connection keeps
// (an Error frame's message can be long).
const scratchMax = 512

func (c *conn) welcome(grid uint16) []byte {
	s := c.s
	w := wire.Welcome{
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
	}
	return wire.AppendWelcome(make([]byte, 0, wire.WelcomeSize(&w)), &w)
}
