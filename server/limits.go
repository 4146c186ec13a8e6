package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// loginLimiter slows password guessing: each remote host, and each user
// name, has a bucket of failed logins (burst loginBurst, refilled at loginRate a second); an empty
// bucket refuses logins from that host until it refills. Successful logins
// cost nothing.
type loginLimiter struct {
	mu    sync.Mutex
	hosts map[string]*bucket
}

const (
	loginBurst    = 10
	loginRate     = 1.0 / 6 // ten a minute
	loginMaxHosts = 10000   // beyond this, full buckets are forgotten
)

func newLoginLimiter() *loginLimiter { return &loginLimiter{hosts: make(map[string]*bucket)} }

// allow returns how long host must wait before it may try again (0: now).
func (l *loginLimiter) allow(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.hosts[key]
	if !ok {
		return 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// failed takes a token from key's bucket.
func (l *loginLimiter) failed(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.hosts[key]
	if !ok {
		if len(l.hosts) >= loginMaxHosts {
			for h, o := range l.hosts {
				if o.refill(now); o.tokens >= o.burst {
					delete(l.hosts, h)
				}
			}
		}
		nb := newBucket(loginRate, loginBurst, now)
		b = &nb
		l.hosts[key] = b
	}
	b.refill(now)
	b.tokens = max(b.tokens-1, 0)
}

// hostConns counts each remote host's open game connections, so that one
// address cannot take all the connections (and the memory and descriptors
// they hold) the server has. A host is forgotten when its last connection
// closes.
type hostConns struct {
	max   int // < 0: no limit, and nothing is counted
	mu    sync.Mutex
	hosts map[string]int
}

func newHostConns(max int) *hostConns { return &hostConns{max: max, hosts: make(map[string]int)} }

// acquire takes one of host's slots; false when it has none left.
func (h *hostConns) acquire(host string) bool {
	if h.max < 0 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hosts[host] >= h.max {
		return false
	}
	h.hosts[host]++
	return true
}

// release gives back a slot acquire took.
func (h *hostConns) release(host string) {
	if h.max < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hosts[host]--; h.hosts[host] <= 0 {
		delete(h.hosts, host)
	}
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// semaphore bounds how many password hashes run at once: each argon2id
// hash takes HashParams.Memory, so a burst of logins must queue rather
// than take the machine's memory.
type semaphore chan struct{}

// acquire waits for a slot for up to hashQueueWait, or until ctx ends.
func (s semaphore) acquire(ctx context.Context) bool {
	t := time.NewTimer(hashQueueWait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (s semaphore) release() { <-s }

const hashQueueWait = 10 * time.Second

// bucket is a token bucket: rate tokens a second, at most burst saved.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate, burst float64, now time.Time) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// take spends a token if there is one.
func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// stalls notices when the server's process did not run: stopped
// (SIGSTOP, a debugger), or starved by its machine. Clients go on
// sending while it is stopped, and the kernel queues their frames; when
// it runs again it reads them all at once, and a rate limiter refilled by
// the clock would take a minute of commands sent at the allowed rate for
// one burst and refuse most of them. A heartbeat (beat, every stallBeat)
// notes the time; a gap between two notes longer than stallMin is a
// stall, and a connection's bucket is credited for the stalled part of
// the time since it last refilled (bucket.refillAround).
type stalls struct {
	mu    sync.Mutex
	last  time.Time // the last beat
	spans []span    // the latest stalls, oldest first, at most maxStalls
}

type span struct{ from, to time.Time }

const (
	stallBeat = 250 * time.Millisecond
	stallMin  = 2 * time.Second
	maxStalls = 16
	// maxStallCredit bounds what one stall credits a connection, so that
	// a server stopped for an hour does not let each connection send an
	// hour of commands at once.
	maxStallCredit = time.Minute
)

// beat notes that the process runs at now.
func (st *stalls) beat(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.last.IsZero() && now.Sub(st.last) > stallMin {
		st.spans = append(st.spans, span{st.last, now})
		if len(st.spans) > maxStalls {
			st.spans = st.spans[1:]
		}
	}
	if now.After(st.last) {
		st.last = now
	}
}

// within returns how long of (from, to] the process was stalled,
// counting one that is ending now (no beat for longer than stallMin: the
// heartbeat has not run yet since the process woke).
func (st *stalls) within(from, to time.Time) time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	spans := st.spans
	if !st.last.IsZero() && to.Sub(st.last) > stallMin {
		spans = append(spans[:len(spans):len(spans)], span{st.last, to})
	}
	var d time.Duration
	for _, s := range spans {
		lo, hi := s.from, s.to
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			d += hi.Sub(lo)
		}
	}
	return min(d, maxStallCredit)
}

// refillAround refills the bucket for the time since its last refill, of
// which paused was a stall of the server: that part is credited in full,
// past the burst, as the commands a client sent at the allowed rate while
// the server could not read them; the rest refills up to the burst as
// usual. A credit not spent stays until it is (refill never takes tokens
// away).
func (b *bucket) refillAround(now time.Time, paused time.Duration) {
	if !now.After(b.last) {
		return
	}
	elapsed := now.Sub(b.last)
	paused = min(paused, elapsed)
	b.tokens = max(b.tokens, min(b.burst, b.tokens+(elapsed-paused).Seconds()*b.rate)) + paused.Seconds()*b.rate
	b.last = now
}
