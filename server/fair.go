package server

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"txxt/world"
)

// What one user, or one connection, may take of the server, whatever the
// number of connections or addresses it comes from: a command budget per
// user per team (shared by all of the user's connections to that team),
// connections per user and in total, pings per connection, and bytes read
// per second per connection.

// budgets holds each user's command budget in one team. A user's bucket
// lives while one of their connections does, so an idle user costs
// nothing and a reconnect does not refill the budget while another of
// their connections is open.
type budgets struct {
	mu    sync.Mutex
	users map[world.ID]*budget
}

type budget struct {
	mu      sync.Mutex
	b       bucket
	conns   atomic.Int32 // the user's connections holding it (changed under budgets.mu)
	refused atomic.Int64 // when the budget last refused a command (monotonic nanoseconds since paceEpoch; 0: never)
}

// acquire returns user's budget, made full (rate a second, burst saved)
// if the user has no other connection.
func (bs *budgets) acquire(user world.ID, rate, burst float64, now time.Time) *budget {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.users == nil {
		bs.users = make(map[world.ID]*budget)
	}
	b := bs.users[user]
	if b == nil {
		b = &budget{b: newBucket(rate, burst, now)}
		bs.users[user] = b
	}
	b.conns.Add(1)
	return b
}

// release gives back what acquire took.
func (bs *budgets) release(user world.ID, b *budget) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b.conns.Add(-1) <= 0 && bs.users[user] == b {
		delete(bs.users, user)
	}
}

// take spends one of the user's commands if the budget has one. Time the
// process did not run (stalled reports it for a span) refills the budget
// in full: commands queued while the server was paused are not a burst.
func (b *budget) take(now time.Time, stalled func(from, to time.Time) time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.refillAround(now, stalled(b.b.last, now))
	if b.b.take(now) {
		return true
	}
	b.refused.Store(int64(time.Since(paceEpoch)) | 1)
	return false
}

// holdOff is how long a connection's reader waits after a command its
// user's budget refused: the user's connections over the budget's rate.
// So all of a user's connections together have at most about rate
// refusals a second to decode and answer, not as many as they can send:
// a flood of refused commands costs the server what the budget allows,
// and TCP slows the flooder meanwhile.
func (b *budget) holdOff() time.Duration {
	return time.Duration(float64(max(b.conns.Load(), 1)) / b.b.rate * float64(time.Second))
}

// Pacing a flooder's deliveries. Every accepted command's event goes to
// every connection of the team, so the fan-out a user causes is their
// accepted rate times the connections: one user with 128 connections at
// the budget's 200 commands a second has the server wake 128 writers 200
// times a second for events only they sent, and a bystander's answer
// waits behind those writers for the CPU (measured: 80% of the server's
// CPU under such a flood was in connection writers). So while a user is
// over their budget (it refused one of their commands within
// floodWindow), each of their connections takes events at most once per
// floodPace: one wake and one write for all the events of that span, not
// one per event. Answers are not paced (each command still gets its
// answer at once, and its event with it: the writer catches up before it
// writes answers), and nobody else's connections are: a flooder's own
// pages see others' changes up to floodPace late, nobody else sees
// anything late.
const (
	floodWindow = time.Second
	floodPace   = 50 * time.Millisecond
)

// paceEpoch is the origin of budget.refused: a monotonic reading, so the
// pacing follows the real clock even where tests move the server's.
var paceEpoch = time.Now()

// flooding reports whether b refused a command within floodWindow.
func (b *budget) flooding() bool {
	at := b.refused.Load()
	return at != 0 && time.Since(paceEpoch)-time.Duration(at) < floodWindow
}

// paced returns what the writer waits on for events: wake itself, or,
// while the connection's user floods, a timer of floodPace instead (the
// writer catches up when it fires, with what arrived meanwhile). A nil
// wake (the engine has closed) is returned as it is.
func (c *conn) paced(wake <-chan struct{}) (<-chan struct{}, <-chan time.Time) {
	if wake == nil || c.limiter == nil || !c.limiter.flooding() {
		return wake, nil
	}
	// Each connection ticks at a phase of its own, so a flooder's writers
	// wake spread over the span, not all at once: woken together, his
	// 128 writers were a burst of a few milliseconds every floodPace, and
	// a bystander's answer that fell in one waited for it.
	if c.pace == nil {
		c.phase = rand.N(floodPace)
	}
	d := floodPace - (time.Since(paceEpoch)-c.phase)%floodPace
	if c.pace == nil {
		c.pace = time.NewTimer(d)
	} else {
		c.pace.Reset(d)
	}
	return nil, c.pace.C
}

// holdOff pauses the reader for d, or until the connection dies; it says
// whether the connection lives on.
func (c *conn) holdOff(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.dying:
		return false
	}
}

// connCounts bounds the game connections open at once: per user (over all
// teams and addresses) and in total. A negative bound is no bound.
type connCounts struct {
	perUser, total int
	mu             sync.Mutex
	users          map[world.ID]int
	open           int
}

func newConnCounts(perUser, total int) *connCounts {
	return &connCounts{perUser: perUser, total: total, users: make(map[world.ID]int)}
}

// acquire takes a slot for user; it says which bound refused it, if one did.
func (cc *connCounts) acquire(user world.ID) (ok, userFull bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.total >= 0 && cc.open >= cc.total {
		return false, false
	}
	if cc.perUser >= 0 && cc.users[user] >= cc.perUser {
		return false, true
	}
	cc.open++
	cc.users[user]++
	return true, false
}

func (cc *connCounts) release(user world.ID) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.open--
	if cc.users[user]--; cc.users[user] <= 0 {
		delete(cc.users, user)
	}
}

// slowReader bounds the bytes a connection's reader takes from its socket
// a second: past its burst, a read waits until the budget allows it, so a
// client sending faster is slowed by TCP itself (its sends block), and
// decoding its frames costs the server a bounded share.
type slowReader struct {
	r     io.Reader
	b     bucket // in bytes
	sleep func(time.Duration)
	now   func() time.Time
}

func newSlowReader(r io.Reader, rate, burst float64) *slowReader {
	return &slowReader{r: r, b: newBucket(rate, burst, time.Now()), sleep: time.Sleep, now: time.Now}
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.b.refill(s.now())
	if s.b.tokens < 1 {
		s.sleep(time.Duration((1 - s.b.tokens) / s.b.rate * float64(time.Second)))
		s.b.refill(s.now())
	}
	if n := int(s.b.tokens); n < len(p) {
		p = p[:max(n, 1)]
	}
	n, err := s.r.Read(p)
	s.b.tokens -= float64(n)
	return n, err
}

// slowConn is a socket whose reads go through a slowReader.
type slowConn struct {
	net.Conn
	r *slowReader
}

func (c slowConn) Read(p []byte) (int, error) { return c.r.Read(p) }
