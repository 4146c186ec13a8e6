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
