package jetstream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/jetstream/natstest"
	"txxt/worldlog"
)

// ownNATS runs one NATS server with JetStream in the test process (file
// storage under the test's directory, sync always), sets up the worlds'
// streams and the ownership buckets with ttl, and returns its URL. The
// server ends with the test.
func ownNATS(t *testing.T, ttl time.Duration) string {
	t.Helper()
	url := natstest.Start(t)
	ownSetup(t, []string{url}, 1, ttl)
	return url
}

// ownCluster runs three clustered NATS servers in the test process and
// sets up everything with three replicas; it returns their URLs.
func ownCluster(t *testing.T, ttl time.Duration) []string {
	t.Helper()
	urls := natstest.Cluster(t, 3)
	ownSetup(t, urls, 3, ttl)
	return urls
}

// ownSetup makes the streams and buckets, retrying while a young cluster
// has no meta leader or not every peer yet ("no suitable peers").
func ownSetup(t *testing.T, urls []string, replicas int, ttl time.Duration) {
	t.Helper()
	_, js := ownConnect(t, urls)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := Setup(ctx, js, Options{Shards: 2, Replicas: replicas})
		if err == nil {
			err = SetupOwnership(ctx, js, OwnershipOptions{TTL: ttl, Replicas: replicas})
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for NATS to take the streams and buckets: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownConnect opens a connection of its own (closing it is how a test
// stops a node abruptly); it is closed with the test.
func ownConnect(t *testing.T, urls []string) (*nats.Conn, natsjs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(urls[0], nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// freezer stops a node's goroutines at their next write to NATS while
// frozen, as SIGSTOP would (a process stopped between its checks and its
// write): hold blocks until thaw.
type freezer struct {
	mu      sync.Mutex
	frozen  bool
	thawed  chan struct{}
	waiting map[string]int // goroutines blocked, by point
}

func (f *freezer) hold(point string) {
	f.mu.Lock()
	if !f.frozen {
		f.mu.Unlock()
		return
	}
	ch := f.thawed
	f.waiting[point]++
	f.mu.Unlock()
	<-ch
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen, f.thawed, f.waiting = true, make(chan struct{}), map[string]int{}
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.thawed)
	}
}

func (f *freezer) blocked(point string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting[point]
}

// eventually polls cond until it holds, or fails the test after within,
// saying what it waited for.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func openLeases(t *testing.T, js natsjs.JetStream) *Leases {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := OpenLeases(ctx, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func acquire(t *testing.T, ls *Leases, world, node string) (*Lease, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ls.Acquire(ctx, world, node)
	if err == nil {
		t.Cleanup(func() { l.Release(context.Background()) })
	}
	return l, err
}

// One holder at a time: a lease held (and renewed past its TTL) is
// refused to another node; released, it is free at once, and the old
// holder's guarded writes are refused.
func TestLeaseOneHolderAtATime(t *testing.T) {
	// 2 s, not 1: the lease ends when renewals (every TTL/4) stall for a
	// TTL, and a loaded 2-core machine running the race detector has
	// stalled this process for most of a second.
	const ttl = 2 * time.Second
	url := ownNATS(t, ttl)
	_, jsA := ownConnect(t, []string{url})
	_, jsB := ownConnect(t, []string{url})
	a, b := openLeases(t, jsA), openLeases(t, jsB)
	if a.TTL() != ttl {
		t.Fatalf("the bucket's TTL is %v, want %v", a.TTL(), ttl)
	}
	la, err := acquire(t, a, "team", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(t, b, "team", "node-b"); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a second holder: %v, want ErrLeaseHeld", err)
	}
	// Renewed, it outlives its TTL several times over.
	ctx := context.Background()
	start := time.Now()
	for time.Since(start) < 3*ttl {
		if !la.Valid() {
			t.Fatalf("the lease ended %v after it was taken: %v", time.Since(start), la.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if holder, err := b.Holder(ctx, "team"); err != nil || holder != "node-a" {
		t.Fatalf("holder %q (%v) after 3 TTLs, want node-a", holder, err)
	}
	if _, err := acquire(t, b, "team", "node-b"); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a second holder after 3 TTLs: %v, want ErrLeaseHeld", err)
	}

	log := la.Guard(worldlog.NewMemory())
	if err := log.Append(ctx, []worldlog.Record{{Revision: 1}}); err != nil {
		t.Fatalf("a write while the lease holds: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Err(); !errors.Is(err, ErrLeaseReleased) {
		t.Fatalf("the released lease says %v", err)
	}
	if err := log.Append(ctx, []worldlog.Record{{Revision: 2}}); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("a write after the release: %v, want ErrFenced", err)
	}
	took := time.Now()
	if _, err := acquire(t, b, "team", "node-b"); err != nil {
		t.Fatalf("the lease after its release: %v", err)
	}
	t.Logf("taken %v after the release (TTL %v)", time.Since(took), ttl)
	if holder, _ := a.Holder(ctx, "team"); holder != "node-b" {
		t.Fatalf("holder %q, want node-b", holder)
	}
}

// A holder frozen between its checks and its writes (SIGSTOP) past the
// TTL: the lease expires, another node takes it; thawed, the old
// holder's renewal is refused and its lease lost, and a write checked
// after the thaw is refused without reaching NATS.
func TestLeaseFrozenHolderLosesIt(t *testing.T) {
	const ttl = time.Second
	url := ownNATS(t, ttl)
	_, jsA := ownConnect(t, []string{url})
	_, jsB := ownConnect(t, []string{url})
	a, b := openLeases(t, jsA), openLeases(t, jsB)
	var frz freezer
	a.hold = frz.hold
	la, err := acquire(t, a, "team", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	frz.freeze()
	eventually(t, 10*time.Second, "the holder's renewal to reach the freeze", func() bool { return frz.blocked("renew") > 0 })
	frozen := time.Now()
	var lb *Lease
	eventually(t, 10*time.Second, "another node to take the expired lease", func() bool {
		lb, err = acquire(t, b, "team", "node-b")
		if err != nil && !errors.Is(err, ErrLeaseHeld) {
			t.Fatal(err)
		}
		return err == nil
	})
	t.Logf("taken %v after the holder froze (TTL %v)", time.Since(frozen), ttl)
	frz.thaw()
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the thawed holder to lose its lease")
	}
	if err := la.Err(); !errors.Is(err, ErrLeaseLost) || !errors.Is(err, natsjs.ErrKeyRevisionMismatch) {
		t.Fatalf("the thawed holder's lease ended with %v, want a refused renewal", err)
	}
	if err := la.Guard(worldlog.NewMemory()).Append(context.Background(), []worldlog.Record{{Revision: 1}}); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("a write by the thawed holder: %v, want ErrFenced", err)
	}
	if !lb.Valid() {
		t.Fatalf("the new holder's lease: %v", lb.Err())
	}
	if holder, _ := a.Holder(context.Background(), "team"); holder != "node-b" {
		t.Fatalf("holder %q, want node-b", holder)
	}
}
