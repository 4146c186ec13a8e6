package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/worldlog"
)

// Ownership of a world (see docs/ARCHITECTURE.md, "Owners of worlds"):
//
//	bucket  WORLD_LEASES, KV, one key per world, value the holder's node
//	        name and a random token (this lease's, as against the same
//	        node's before a restart); the bucket's TTL (its streams' MaxAge) is the lease:
//	        a key nobody renews expires TTL after its last write (the
//	        server checks ages at most every 250 ms, so a little later,
//	        never sooner), and a limit marker tells every watcher
//	take    Create (compare-and-set on "no value"): one node wins
//	renew   Update on the revision this holder last wrote, every TTL/4
//	release Delete on that revision, after the world's last batch is
//	        durable, so the next owner takes it at once
//
// The lease gives liveness; the log's fence gives safety. A holder counts
// its lease valid until TTL - TTL/10 after it sent its last successful
// renewal (the server stamped it later, so the key lives longer than
// that): past it, or once a renewal is refused, the lease is lost and
// every write through Guard is refused, at once, before any network call.
// A holder frozen between that check and its write (SIGSTOP) can still
// send one write after its lease expired; the fence refuses it, since the
// next owner appended its ownership marker when it opened the log.

// LeaseBucket is the KV bucket of the worlds' leases.
const LeaseBucket = "WORLD_LEASES"

// DefaultLeaseTTL is the lease (and node heartbeat) TTL SetupOwnership
// gives the buckets when OwnershipOptions.TTL is zero: a crashed owner's
// worlds move after about this long.
const DefaultLeaseTTL = 3 * time.Second

// Errors of leases. A lost or released lease's Err wraps one of them.
var (
	// ErrLeaseHeld: Acquire found the world's lease held by a node.
	ErrLeaseHeld = errors.New("the world's lease is held")
	// ErrLeaseLost: the lease ended without being released: a renewal was
	// refused (another node holds it) or came too late, or the world's
	// log fenced this holder.
	ErrLeaseLost = errors.New("the world's lease is lost")
	// ErrLeaseReleased: the holder released the lease.
	ErrLeaseReleased = errors.New("the world's lease was released")
)

// OwnershipOptions tune SetupOwnership. The zero value is DefaultLeaseTTL
// and one replica.
type OwnershipOptions struct {
	// TTL of a lease and of a node's heartbeat: how long a node that
	// stopped renewing keeps its worlds. Fixed in the buckets, so every
	// node runs on the same one.
	TTL      time.Duration
	Replicas int // of both buckets (default 1)
}

// SetupOwnership creates (or updates) the lease bucket and the node
// bucket (NodeBucket) with opts.TTL as their keys' age limit.
func SetupOwnership(ctx context.Context, js natsjs.JetStream, opts OwnershipOptions) error {
	if opts.TTL <= 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	for _, bucket := range []string{LeaseBucket, NodeBucket} {
		_, err := js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket:   bucket,
			History:  1,
			TTL:      opts.TTL,
			Storage:  natsjs.FileStorage,
			Replicas: opts.Replicas,
			// A marker when a key expires, so that watchers learn of
			// it (the server's minimum is a second).
			LimitMarkerTTL: max(opts.TTL, time.Second),
		})
		if err != nil {
			return fmt.Errorf("set up bucket %s: %w", bucket, err)
		}
	}
	return nil
}

// Leases is the lease bucket as one node uses it. Safe for concurrent use.
type Leases struct {
	kv     natsjs.KeyValue
	ttl    time.Duration // the bucket's: every holder renews on it
	logger *slog.Logger
	// hold, when set (tests only), is called before each write to NATS
	// (a renewal, a guarded append): a test blocks it to freeze the
	// holder there, as SIGSTOP would.
	hold func(point string)
}

// OpenLeases opens the lease bucket SetupOwnership made and reads its TTL.
// logger may be nil.
func OpenLeases(ctx context.Context, js natsjs.JetStream, logger *slog.Logger) (*Leases, error) {
	kv, ttl, err := openBucket(ctx, js, LeaseBucket)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Leases{kv: kv, ttl: ttl, logger: logger}, nil
}

func openBucket(ctx context.Context, js natsjs.JetStream, bucket string) (natsjs.KeyValue, time.Duration, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, 0, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	if st.TTL() <= 0 {
		return nil, 0, fmt.Errorf("bucket %s has no TTL: set it up with SetupOwnership", bucket)
	}
	return kv, st.TTL(), nil
}

// TTL is the bucket's lease TTL.
func (ls *Leases) TTL() time.Duration { return ls.ttl }

func (ls *Leases) at(point string) {
	if ls.hold != nil {
		ls.hold(point)
	}
}

// Holder returns the node that holds world's lease, "" when nobody does.
func (ls *Leases) Holder(ctx context.Context, world string) (string, error) {
	e, err := ls.kv.Get(ctx, world)
	switch {
	case errors.Is(err, natsjs.ErrKeyNotFound), errors.Is(err, natsjs.ErrKeyDeleted):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("world %s: read its lease: %w", world, err)
	}
	node, _, _ := strings.Cut(string(e.Value()), " ")
	return node, nil
}

// Acquire takes world's lease for node and keeps renewing it until it is
// released or lost. ErrLeaseHeld when a node holds it (this one too: a
// lease from before a restart is not this holder's to take back).
func (ls *Leases) Acquire(ctx context.Context, world, node string) (*Lease, error) {
	var token [8]byte
	rand.Read(token[:])
	value := node + " " + hex.EncodeToString(token[:])
	sent := time.Now()
	rev, err := ls.kv.Create(ctx, world, []byte(value))
	if errors.Is(err, natsjs.ErrKeyExists) || wrongLastSequence(err) {
		return nil, fmt.Errorf("world %s: %w", world, ErrLeaseHeld)
	}
	if err != nil {
		// Unclear (a timeout): the create may have been stored, and
		// then the key holds this lease's token.
		gctx, cancel := context.WithTimeout(context.Background(), ls.ttl/2)
		e, gerr := ls.kv.Get(gctx, world)
		cancel()
		if gerr != nil || string(e.Value()) != value {
			return nil, fmt.Errorf("world %s: take its lease: %w", world, err)
		}
		rev = e.Revision()
	}
	l := &Lease{
		leases:  ls,
		world:   world,
		node:    node,
		value:   value,
		rev:     rev,
		until:   ls.validUntil(sent),
		lost:    make(chan struct{}),
		release: make(chan chan error),
		fenced:  make(chan error, 1),
		done:    make(chan struct{}),
	}
	go l.keep()
	return l, nil
}

// wrongLastSequence reports a compare-and-set refused by the stream: a
// node that took a deleted or expired key first makes Create fail with
// the stream's own error (10071, or 10164 on a replicated stream), not
// ErrKeyExists.
func wrongLastSequence(err error) bool {
	var api *natsjs.APIError
	return errors.As(err, &api) && (api.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence || api.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant)
}

// validUntil is how long a holder counts a write sent at sent valid: the
// key lives at least TTL after the server stored it, which is later. The
// tenth kept back covers a clock that runs a little slower here than on
// the server, and a write's own way to the server.
func (ls *Leases) validUntil(sent time.Time) time.Time {
	return sent.Add(ls.ttl - ls.ttl/10)
}

// Lease is one node's hold on one world, renewed by its own goroutine
// every TTL/4. It ends once: released (Release), or lost (a renewal
// refused or too late, or the world's log fenced a guarded write); Lost is
// closed then, and Err says why. mu guards rev, until and err.
type Lease struct {
	leases      *Leases
	world, node string
	value       string // the key's value: node and a random token, this lease's own

	mu    sync.Mutex
	rev   uint64    // the revision of the key this holder last wrote
	until time.Time // valid before it (monotonic)
	err   error     // why it ended; nil while held

	lost    chan struct{}   // closed when err is set
	release chan chan error // Release asks keep to end
	fenced  chan error      // a guarded write was fenced (one is enough)
	done    chan struct{}   // keep returned

	// refusedRenewals counts renewals the bucket refused (at most one:
	// the lease ends), fencedWrites the guarded writes the log fenced, and
	// fencedWhileValid those of them that ended before this holder's lease
	// did: another node wrote to the world while this one held it. Zero,
	// unless something opened the world without its lease.
	refusedRenewals, fencedWrites, fencedWhileValid atomic.Int64
}

// World is the world the lease is for.
func (l *Lease) World() string { return l.world }

// Lost is closed when the lease ends, lost or released.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err is why the lease ended (wrapping ErrLeaseLost or ErrLeaseReleased),
// nil while it is held.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Valid reports whether the holder may write: the lease has not ended and
// its last renewal is recent enough.
func (l *Lease) Valid() bool { return l.check() == nil }

func (l *Lease) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && !time.Now().Before(l.until) {
		// Whoever sees the deadline pass first ends the lease: a write
		// refused here has stepped its engine down, so a renewal that
		// comes back later must not revive it.
		l.endLocked(fmt.Errorf("world %s: not renewed within the TTL: %w", l.world, ErrLeaseLost))
	}
	return l.err
}

// heldAt reports whether the lease held at t, without ending it.
func (l *Lease) heldAt(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err == nil && t.Before(l.until)
}

// end sets why the lease ended and closes Lost, once: from then on
// check refuses every write.
func (l *Lease) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(err)
}

func (l *Lease) endLocked(err error) {
	if l.err == nil {
		l.err = err
		close(l.lost)
	}
}

// keep renews the lease every TTL/4 until it is released or lost. It owns
// the renewals; rev and until change only here.
func (l *Lease) keep() {
	defer close(l.done)
	ttl := l.leases.ttl
	tick := time.NewTicker(ttl / 4)
	defer tick.Stop()
	l.mu.Lock()
	deadline := time.NewTimer(time.Until(l.until))
	l.mu.Unlock()
	defer deadline.Stop()
	for {
		select {
		case <-tick.C:
			if l.check() != nil {
				l.drop()
				return
			}
			l.mu.Lock()
			rev := l.rev
			l.mu.Unlock()
			l.leases.at("renew")
			ctx, cancel := context.WithTimeout(context.Background(), ttl/2)
			sent := time.Now()
			next, err := l.leases.kv.Update(ctx, l.world, []byte(l.value), rev)
			cancel()
			switch {
			case err == nil:
				l.mu.Lock()
				l.rev = next // drop deletes this revision, if it ended meanwhile
				if l.err == nil {
					l.until = l.leases.validUntil(sent)
					deadline.Reset(time.Until(l.until))
				}
				ended := l.err != nil
				l.mu.Unlock()
				if ended {
					l.drop()
					return
				}
			case errors.Is(err, natsjs.ErrKeyRevisionMismatch), errors.Is(err, natsjs.ErrKeyNotFound):
				if l.adopt(rev) {
					continue
				}
				l.refusedRenewals.Add(1)
				l.end(fmt.Errorf("world %s: renewal refused (%w): %w", l.world, err, ErrLeaseLost))
				return
			default:
				// Unclear (a timeout, no connection): the next tick tries
				// again, until the deadline.
				l.leases.logger.Warn("lease renewal failed", "world", l.world, "err", err)
			}
		case <-deadline.C:
			if l.check() != nil {
				l.drop()
				return
			}
		case err := <-l.fenced:
			l.end(fmt.Errorf("world %s: its log fenced this holder (%w): %w", l.world, err, ErrLeaseLost))
			l.drop()
			return
		case answer := <-l.release:
			l.end(fmt.Errorf("world %s: %w", l.world, ErrLeaseReleased))
			answer <- l.drop()
			return
		}
	}
}

// adopt handles a renewal refused on rev. It may not be another's: an
// earlier renewal that timed out may have been stored after all (its
// acknowledgement lost or late), and then the key holds this lease's own
// value at a newer revision, which the next renewal builds on; or, on a
// replicated bucket, the refusal without a sequence (10164) may come
// while the previous write is still in process, and then the key still
// holds this lease's value at rev, and the next tick tries again. Only a
// key with another value, or none, is a refusal. It does not extend the
// lease: only a renewal the bucket acknowledged does, so a read that is
// behind the bucket can delay the loss of the lease until its deadline,
// never avoid it.
func (l *Lease) adopt(rev uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), l.leases.ttl/2)
	defer cancel()
	e, err := l.leases.kv.Get(ctx, l.world)
	if err != nil || string(e.Value()) != l.value || e.Revision() < rev {
		return false
	}
	l.mu.Lock()
	l.rev = e.Revision()
	l.mu.Unlock()
	return true
}

// drop deletes the key if it is still this holder's revision, so the next
// owner need not wait for it to expire. Once the lease has ended.
func (l *Lease) drop() error {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.leases.ttl)
	defer cancel()
	err := l.leases.kv.Delete(ctx, l.world, natsjs.LastRevision(rev))
	if errors.Is(err, natsjs.ErrKeyRevisionMismatch) {
		return nil // another's by now, or expired: nothing to release
	}
	if err != nil {
		return fmt.Errorf("world %s: release its lease: %w", l.world, err)
	}
	return nil
}

// Release ends the lease and deletes its key, so that another node can
// take the world at once. Call it only once the world's last batch is
// durable and nothing more will be written: from the moment it is
// called, guarded writes are refused. A lease already lost is left as it
// is (nil). ctx bounds the wait.
func (l *Lease) Release(ctx context.Context) error {
	answer := make(chan error, 1)
	select {
	case l.release <- answer:
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-answer:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Guard returns log with its writes bound to the lease: Append,
// SaveSnapshot and Compact are refused with worldlog.ErrFenced (before
// any network call) once the lease is lost, released or due for renewal
// past its TTL, so the engine on it steps down at its next write; and a
// write the log itself fences ends the lease (lost), as does a head that
// shows an append whose outcome was unclear landed after all (Head).
// Other reads pass through.
func (l *Lease) Guard(log worldlog.Log) worldlog.Log { return &guardedLog{Log: log, lease: l} }

// guardedLog is a world's log written only while its lease holds.
type guardedLog struct {
	worldlog.Log
	lease *Lease

	mu sync.Mutex
	// unclear is the first revision of the last append that failed
	// without saying whether it was stored (a timeout, no leader to read
	// the head from); 0 when the last append was stored or refused.
	unclear uint64
}

// write runs fn, a write to the log, while the lease holds. The write
// does not outlive the lease: its context ends a tenth of the TTL after
// the lease does, so an owner cut off from NATS (its append sent into
// silence) gives up about the lease's deadline rather than at the
// publish's and the head read's timeouts (5 s each), and a write
// whose outcome is still unknown when the lease ends is taken as fenced,
// with worldlog.ErrOutcomeUnknown: the world may be another node's by
// then, so the engine steps down (it never degrades and retries on a
// world that is no longer its own), and tells its clients that the change
// may have been saved. Whether it was is for the log to say: the next
// owner's replay has it or not, and a retry with the same ids is answered
// from there.
func (g *guardedLog) write(ctx context.Context, fn func(context.Context) error) error {
	if err := g.lease.check(); err != nil {
		return fmt.Errorf("%w: %w", err, worldlog.ErrFenced)
	}
	g.lease.leases.at("write")
	select {
	case <-g.lease.lost:
		// Lost between the check and here (a holder frozen in between,
		// as by SIGSTOP): the write goes out as it would have, and the
		// log's fence refuses it.
		return g.fenced(fn(ctx))
	default:
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-g.lease.lost:
		case <-wctx.Done():
			return
		}
		// A tenth of the TTL more for the answer: a write that reached
		// NATS (a holder thawed, its renewal refused meanwhile) learns
		// that the fence refused it; one sent into silence gives up.
		select {
		case <-time.After(g.lease.leases.ttl / 10):
			cancel()
		case <-wctx.Done():
		}
	}()
	err := fn(wctx)
	if err != nil && !errors.Is(err, worldlog.ErrFenced) && ctx.Err() == nil {
		if lerr := g.lease.check(); lerr != nil {
			return fmt.Errorf("%w: %w (%w): %w", lerr, worldlog.ErrOutcomeUnknown, err, worldlog.ErrFenced)
		}
	}
	return g.fenced(err)
}

// fenced counts a write the log fenced, and ends the lease then.
func (g *guardedLog) fenced(err error) error {
	if errors.Is(err, worldlog.ErrFenced) && !errors.Is(err, worldlog.ErrOutcomeUnknown) {
		g.lease.fencedWrites.Add(1)
		if g.lease.heldAt(time.Now()) {
			g.lease.fencedWhileValid.Add(1)
			g.lease.leases.logger.Error("the log fenced a holder of a valid lease: another writer took the world without its lease", "world", g.lease.world, "err", err)
		}
		select {
		case g.lease.fenced <- err:
		default:
		}
	}
	return err
}

func (g *guardedLog) Append(ctx context.Context, recs []worldlog.Record) error {
	err := g.write(ctx, func(ctx context.Context) error { return g.Log.Append(ctx, recs) })
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err == nil, len(recs) == 0, errors.Is(err, worldlog.ErrFenced), errors.Is(err, worldlog.ErrGap):
		g.unclear = 0
	default:
		g.unclear = recs[0].Revision
	}
	return err
}

// Head implements worldlog.Log. After an append whose outcome was
// unclear, the engine rolled the batch back and reads the head before it
// writes again: a head at or past the batch's first revision says it was
// stored after all (its acknowledgement lost, as in a NATS leader
// election), so the world in memory is not the log's and the engine steps
// down. The lease ends with it, as for a fenced write, so that the world
// is opened again from its log (by its Manager, here or on another
// node): without that, this node would go on renewing the lease of a
// world none of its engines serves, and nobody would serve it.
func (g *guardedLog) Head(ctx context.Context) (uint64, error) {
	head, err := g.Log.Head(ctx)
	if err != nil {
		return head, err
	}
	g.mu.Lock()
	unclear := g.unclear
	g.unclear = 0 // read: the engine goes on from this head, or steps down
	g.mu.Unlock()
	if unclear != 0 && head >= unclear {
		select {
		case g.lease.fenced <- fmt.Errorf("world %s: the append from revision %d, whose answer was lost, is in the log (head %d): the engine steps down", g.lease.world, unclear, head):
		default:
		}
	}
	return head, nil
}

func (g *guardedLog) SaveSnapshot(ctx context.Context, rev uint64, frame []byte) error {
	return g.write(ctx, func(ctx context.Context) error { return g.Log.SaveSnapshot(ctx, rev, frame) })
}

func (g *guardedLog) Compact(ctx context.Context, keepAfter uint64) error {
	return g.write(ctx, func(ctx context.Context) error { return g.Log.Compact(ctx, keepAfter) })
}
