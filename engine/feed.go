package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"txxt/wire"
	"txxt/worldlog"
)

// Published is one committed event as subscribers receive it.
type Published struct {
	Revision uint64
	Frame    []byte   // the txxt.v1 frame
	Legacy   [][]byte // the frames a client of the original protocol gets: one, or none when withheld

	// NoLegacy is set on events read back from the log at boot, whose v0
	// translation is unknown; a v0 subscriber reaching one gets a snapshot.
	NoLegacy bool

	// At is when the event's batch was published, on the first event of
	// each batch only (zero on the others, and with NoTimings), so a
	// subscriber can time its fan-out.
	At time.Time
}

// Snapshot is the whole world at one revision, encoded as a Snapshot frame.
// It is shared between subscribers and must not be modified.
type Snapshot struct {
	Revision uint64
	Frame    []byte
}

// feed is the tail of published events: a ring of the newest TailSize
// events that every subscriber reads at its own pace. The engine writes it
// once per batch; subscribers never make the engine wait, and a subscriber
// that falls behind the ring gets a snapshot instead (so a slow reader costs
// the server no memory beyond the ring).
type feed struct {
	mu                 sync.Mutex
	revRing[Published] // last is the newest revision published
	wake               chan struct{}
	closed             bool
}

func newFeed(size int) *feed {
	return &feed{revRing: newRevRing[Published](size), wake: make(chan struct{})}
}

// reset empties the ring and fills it with tail, which ends at last, and
// wakes every waiting subscriber (a follower that read its world again
// jumps ahead: see resyncFollower).
func (f *feed) reset(last uint64, tail []Published) {
	f.mu.Lock()
	f.empty(last)
	if len(tail) > 0 && tail[len(tail)-1].Revision == last {
		for _, p := range tail[len(tail)-min(len(tail), f.max):] {
			f.put(p.Revision, p)
		}
	}
	wake := f.wake
	f.wake = make(chan struct{})
	f.mu.Unlock()
	close(wake)
}

// publish appends events, which must continue the ring's revisions, and
// wakes every waiting subscriber.
func (f *feed) publish(events []Published) {
	if len(events) == 0 {
		return
	}
	f.mu.Lock()
	for _, p := range events {
		if p.Revision != f.last+1 {
			panic("engine: published revisions out of order") // the engine's invariant, not input
		}
		f.put(p.Revision, p)
	}
	wake := f.wake
	f.wake = make(chan struct{})
	f.mu.Unlock()
	close(wake)
}

// tail returns a copy of the events the ring holds, oldest first.
func (f *feed) tail() []Published {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Published, 0, f.count)
	for rev := f.first(); rev <= f.last && f.count > 0; rev++ {
		p, _ := f.get(rev)
		out = append(out, p)
	}
	return out
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.wake)
	}
}

// A subscription's deliveries are in buffers it borrows for each one and
// gives back at its next Poll (a delivery is valid until then): an idle
// subscriber holds none, and a busy team's readers, woken for a few events
// each, reuse a few buffers rather than each growing its own from nothing
// at every wake (that was most of the server's allocation under a flood).
// Three sizes, so that a crowd woken at once for one event each does not
// borrow maxRead each. sync.Pools: what stays unused is freed by the GC.
var eventBuffers = [...]struct {
	n    int
	pool sync.Pool
}{{n: 8}, {n: 64}, {n: maxRead}}

// borrowEvents returns an empty buffer for n events (at most maxRead).
func borrowEvents(n int) []Published {
	for i := range eventBuffers {
		if c := &eventBuffers[i]; n <= c.n {
			if b, ok := c.pool.Get().(*[]Published); ok {
				return *b
			}
			return make([]Published, 0, c.n)
		}
	}
	return make([]Published, 0, n)
}

// giveBackEvents returns what borrowEvents lent, its events cleared (so
// that a pooled buffer holds no frame).
func giveBackEvents(b []Published) {
	clear(b)
	b = b[:0]
	for i := range eventBuffers {
		if c := &eventBuffers[i]; cap(b) == c.n {
			c.pool.Put(&b)
			return
		}
	}
}

// maxRead bounds how many events one Next returns, so a subscriber far behind
// catches up in steps.
const maxRead = 512

// read appends to dst the events after revision after, at most maxRead.
// tooOld means the ring no longer holds after+1 (or after is in the
// future): the reader needs a snapshot. When nothing is new, wake is closed on the next publish.
// The events are in a borrowed buffer (see borrowEvents), nil when there
// are none.
func (f *feed) read(after uint64, legacy bool) (dst []Published, tooOld bool, wake <-chan struct{}, closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if after > f.last || after+1 < f.first() {
		return nil, true, nil, f.closed
	}
	if after < f.last {
		dst = borrowEvents(int(min(f.last-after, maxRead)))
	}
	for rev := after + 1; rev <= f.last && len(dst) < maxRead; rev++ {
		p := &f.s[rev%uint64(len(f.s))] // held: after+1 >= first, rev <= last
		if legacy && p.NoLegacy {
			return dst, true, nil, f.closed
		}
		dst = append(dst, *p)
	}
	return dst, false, f.wake, f.closed
}

// Subscription delivers committed events to one subscriber in revision
// order, with no gaps: each delivery continues where the last one ended, and
// when it cannot (the subscriber fell behind the tail), it starts again from
// a snapshot. A Subscription is used by one goroutine.
type Subscription struct {
	e    *Engine
	next uint64 // the next revision to deliver; 0 until the first snapshot
	v1   bool
	buf  []Published // the last delivery's events, borrowed (nil: none)
}

// Delivery is what one Next returns: either a snapshot or events.
type Delivery struct {
	Snapshot *Snapshot   // non-nil: replace everything with this world
	Events   []Published // valid until the next call of Next
}

// Subscribe returns a subscription that starts with a snapshot. v1 selects
// the txxt.v1 frames; otherwise the original protocol's.
func (e *Engine) Subscribe(v1 bool) *Subscription {
	// Deliveries borrow their buffers (borrowEvents): an idle subscriber
	// holds none.
	return &Subscription{e: e, v1: v1}
}

// Resume returns a subscription that delivers every event after revision
// since, or, when those are no longer in the tail, a snapshot first.
func (e *Engine) Resume(since uint64, v1 bool) *Subscription {
	s := e.Subscribe(v1)
	s.next = since + 1
	return s
}

// Next waits for what comes after the last delivery.
func (s *Subscription) Next(ctx context.Context) (Delivery, error) {
	for {
		d, wake, err := s.Poll(ctx)
		if err != nil || wake == nil {
			return d, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Delivery{}, ctx.Err()
		}
	}
}

// Poll returns what comes after the last delivery if there is something,
// without waiting for new events (a snapshot, when one is due, is asked of
// the engine). When nothing is new it returns a nil Delivery and a channel
// that is closed on the next publish, so a writer can wait on it together
// with its other work.
func (s *Subscription) Poll(ctx context.Context) (Delivery, <-chan struct{}, error) {
	if s.next == 0 {
		d, err := s.snapshot(ctx)
		return d, nil, err
	}
	if s.buf != nil { // the last delivery's: its caller is done with it
		giveBackEvents(s.buf)
		s.buf = nil
	}
	events, tooOld, wake, closed := s.e.feed.read(s.next-1, !s.v1)
	if len(events) == 0 || tooOld {
		if events != nil {
			giveBackEvents(events)
		}
		events = nil
	}
	if tooOld {
		d, err := s.snapshot(ctx)
		return d, nil, err
	}
	if len(events) > 0 {
		s.next = events[len(events)-1].Revision + 1
		s.buf = events
		return Delivery{Events: events}, nil, nil
	}
	if closed {
		return Delivery{}, nil, ErrClosed
	}
	return Delivery{}, wake, nil
}

// Last is the revision of the last delivery (0 before the first).
func (s *Subscription) Last() uint64 {
	if s.next == 0 {
		return 0
	}
	return s.next - 1
}

func (s *Subscription) snapshot(ctx context.Context) (Delivery, error) {
	snap, err := s.e.Snapshot(ctx, s.v1)
	if err != nil {
		return Delivery{}, err
	}
	s.next = snap.Revision + 1
	return Delivery{Snapshot: snap}, nil
}

type snapshotRequest struct {
	v1     bool
	answer chan *Snapshot
}

// Snapshot returns the world as a Snapshot frame, for a subscriber: at its
// last durable revision, or, when the world is big, at a recent revision
// whose events the ring still holds (see sharedSnapshot). The engine builds
// it between batches and caches it, so a storm of new connections costs
// one encoding, and every connection writing it shares the one frame.
func (e *Engine) Snapshot(ctx context.Context, v1 bool) (*Snapshot, error) {
	req := snapshotRequest{v1: v1, answer: make(chan *Snapshot, 1)}
	select {
	case e.snapshots <- req:
	case <-e.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case snap := <-req.answer:
		return snap, nil
	case <-e.done:
		return nil, ErrClosed
	}
}

// snapshotCache holds the encoded world of one revision, per protocol.
type snapshotCache struct {
	v0, v1 *Snapshot
}

// shareBytes is the size (about 1,300 tasks) from which a subscriber's snapshot is shared
// across revisions: a smaller one is cheap to build at every revision.
const shareBytes = 256 << 10

// sharedSnapshot is the snapshot a subscriber gets: the cached one when it
// is of the current revision, or when it is big (shareBytes) and no more
// than half the ring's revisions old, so the subscriber catches up from
// the ring. Under a writer, new connections (and the stalled ones that
// hold their snapshot until their write deadline) share one frame per
// TailSize/2 revisions, not one per revision: the memory they hold is a
// few snapshots, not one each, and the engine encodes a big world at most
// once per TailSize/2 revisions, whatever the number of connections
// arriving. Engine goroutine only.
func (e *Engine) sharedSnapshot(v1 bool) *Snapshot {
	slot := e.snap.v0
	if v1 {
		slot = e.snap.v1
	}
	if slot != nil && len(slot.Frame) >= shareBytes && slot.Revision+uint64(e.opts.TailSize/2) >= e.world.Revision() {
		return slot
	}
	return e.snapshot(v1)
}

// snapshot returns the cached snapshot of the current revision, encoding it
// if needed. Engine goroutine only.
func (e *Engine) snapshot(v1 bool) *Snapshot {
	rev := e.world.Revision()
	slot := &e.snap.v0
	if v1 {
		slot = &e.snap.v1
	}
	if *slot != nil && (*slot).Revision == rev {
		return *slot
	}
	e.stats.snapshotBuilds.Add(1)
	st := e.world.State()
	frame := wire.AppendSnapshot(make([]byte, 0, wire.SnapshotSize(&st, v1)), &st, v1)
	*slot = &Snapshot{Revision: rev, Frame: frame}
	return *slot
}

// maybeSnapshot saves a snapshot to the store every SnapshotEvery revisions
// and compacts the log behind it, on a goroutine of its own so the engine
// goes on (the store serializes it with the batches' transactions).
func (e *Engine) maybeSnapshot() {
	rev := e.world.Revision()
	if rev-e.snapRev < e.opts.SnapshotEvery {
		return
	}
	select {
	case e.saving <- struct{}{}:
	default:
		return // the previous one is still being written
	}
	snap := e.snapshot(true)
	e.snapRev = rev
	go func() {
		defer func() { <-e.saving }()
		e.saveSnapshot(snap)
	}()
}

func (e *Engine) saveSnapshot(snap *Snapshot) {
	// A failed write makes the file suspect: the engine's next write is a
	// fresh file (see Engine.trustFile).
	err := e.log.SaveSnapshot(e.ctx, snap.Revision, snap.Frame)
	if errors.Is(err, worldlog.ErrFenced) {
		e.opts.Logger.Warn("another writer owns this world: stepping down", "err", err, "revision", snap.Revision)
		e.fenced.Store(true)
		return
	}
	if err != nil {
		e.opts.Logger.Error("save snapshot", "revision", snap.Revision, "err", err)
		e.snapshotFailed.Store(true)
		return
	}
	if snap.Revision > e.opts.KeepLog {
		err := e.log.Compact(e.ctx, snap.Revision-e.opts.KeepLog)
		if errors.Is(err, worldlog.ErrFenced) {
			e.fenced.Store(true)
		} else if err != nil {
			e.opts.Logger.Error("compact log", "before", snap.Revision-e.opts.KeepLog, "err", err)
			e.snapshotFailed.Store(true)
		}
	}
}

// finalSnapshot saves the world on the way out, so the next boot replays
// nothing. Engine goroutine only.
func (e *Engine) finalSnapshot() {
	if e.suspect || e.snapshotFailed.Load() {
		e.trustFile() // a fresh file is a snapshot too
		return
	}
	e.saving <- struct{}{} // wait for a snapshot in flight
	defer func() { <-e.saving }()
	if e.world.Revision() == e.snapRev {
		return
	}
	e.snapRev = e.world.Revision()
	e.saveSnapshot(e.snapshot(true))
}

// dedup remembers the revision of the newest committed (client, request)
// pairs, so a retried command is answered and not applied twice. It is
// bounded: past size pairs, the oldest is forgotten when a new one
// arrives. Its map and ring grow with use, up to size, rather than being
// made whole at start: a full table of 65,536 pairs is about 6 MB, which
// an idle team of a server holding a hundred should not pay.
type dedup struct {
	m    map[Origin]uint64
	ring []dedupEntry // grows to size, then the oldest is at next
	next int
	size int
}

type dedupEntry struct {
	origin Origin
	rev    uint64
}

func newDedup(size int) *dedup {
	return &dedup{m: make(map[Origin]uint64), size: size}
}

func (d *dedup) get(o Origin) (uint64, bool) {
	if o.Client.IsZero() {
		return 0, false
	}
	rev, ok := d.m[o]
	return rev, ok
}

func (d *dedup) add(o Origin, rev uint64) {
	if o.Client.IsZero() {
		return
	}
	d.m[o] = rev
	if len(d.ring) < d.size {
		d.ring = append(d.ring, dedupEntry{o, rev})
		return
	}
	old := d.ring[d.next]
	if old.rev != 0 && old.origin != o && d.m[old.origin] == old.rev {
		delete(d.m, old.origin)
	}
	d.ring[d.next] = dedupEntry{o, rev}
	d.next = (d.next + 1) % len(d.ring)
}

func (d *dedup) remove(o Origin) { delete(d.m, o) }
