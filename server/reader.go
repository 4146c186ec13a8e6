package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

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

// knownZone reports whether tz names a time zone this server knows.
func knownZone(tz string) bool {
	if tz == "" || len(tz) > world.MaxTimeZone || strings.ContainsAny(tz, "\\.") {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}
