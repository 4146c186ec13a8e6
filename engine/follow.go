package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// A follower is an engine on a world another engine owns: the engine of a
// node that serves the world's clients without being its writer. It boots
// like an owner (the newest snapshot, then the log after it), then
// follows the world's durable log (worldlog.Follower) and applies each
// record to its world and its feed, so its subscriptions, resume from the
// ring, snapshots and slow subscribers work as on the owner, with the
// same revisions and the same event frames. It never appends, never
// saves a snapshot and never compacts.
//
// Commands submitted to a follower are queued as on an owner (the same
// per-user queues and bounds), then sent to the owner through a
// Forwarder, one batch at a time, each with its actor and its origin: the
// owner's retry table, refilled from the log at its boot, answers a
// command it committed before (a retry after a lost answer or a
// failover) and never applies it twice. A command without an origin
// (a client of the original protocol, the server's own) is given one, of
// a client id the follower draws at its start, so that even its
// forwarder's retries are recognised; and the follower draws the ids of
// the entities a command creates before it is sent, so no retry can make
// two of them.
//
// The order "event before its answer" holds on a follower too: an answer
// accepted at revision R is held until the follower's own feed has
// published R, then given to Done, on the follower's goroutine. A
// subscriber that sees the answer finds the event in its feed.

// Forwarder carries a follower's commands to its world's owner and brings
// back their answers.
type Forwarder interface {
	// Forward sends the batch's commands, in order, to the world's
	// owner, which submits each with its Actor and Origin, and returns
	// their answers in the same order: accepted at a revision (Duplicate
	// when the owner had committed it before) or refused with a world
	// error. It retries within a bound of its own. When it could not
	// reach the owner for some of them within that bound, or ctx ended,
	// it returns the answers it has (those of a prefix of the batch) and
	// an error: the others may or may not have been applied, and a retry
	// with their origins is answered truthfully either way. Forward
	// ignores the requests' Done.
	Forward(ctx context.Context, batch []Request) ([]Result, error)
}

// follower is a following engine's own state, owned by its goroutine but
// for the channels it shares with its reader.
type follower struct {
	log worldlog.Follower
	fwd Forwarder

	// client and request are the origin of the next command submitted
	// without one.
	client  world.ID
	request uint32

	records chan followed    // from the reader: each record followed, in order
	resume  chan uint64      // to the reader, after a resync: follow again after this revision
	reading chan struct{}    // closed when the reader has returned
	answers chan forwarded   // from the forward in flight (at most one)
	sending bool             // a forward is in flight
	held    []heldAnswer     // answers waiting for the feed to reach their revision
	pubs    []Published      // the events being published
	resync  <-chan time.Time // set while a resync failed: when to try again
	gap     bool             // the reader found revisions missing and waits on resume

	// What is wrong, if anything: the log cannot be followed (followErr)
	// or the owner cannot be reached (forwardErr).
	followErr, forwardErr error
}

// followed is what the reader hands the follower's goroutine: a record
// (its frame the reader's copy), or why following stopped.
type followed struct {
	rec worldlog.Record
	err error // the follow failed; the reader follows again by itself unless gap
	gap bool  // the log skips revisions (compacted past the follower): it needs a resync
}

// forwarded is a forward's outcome.
type forwarded struct {
	batch   []pending
	results []Result
	err     error
	start   time.Time
}

type heldAnswer struct {
	done   func(Result)
	result Result
}

// errGap ends a follow whose next record is not the one after the last.
var errGap = errors.New("the log skips revisions")

// noOwnerRefusal answers a command the follower could not get to the
// world's owner within its forwarder's bound; shutdownRefusal one still
// queued when a follower cut off from its owner closes.
const (
	noOwnerRefusal  = "This change could not reach the server that keeps this team's calendar (it may be changing hands), so it may not have been saved: try again in a moment; a change that did go through is not made twice."
	noOwnerReason   = "the server that keeps this team's calendar cannot be reached"
	shutdownRefusal = "The server is restarting, so nothing was changed: try again once the page is back online."
	notFollowReason = "this server cannot read the changes to this team's calendar"
)

// Follow boots the world from log (as Open does) and starts a follower
// engine on it: it follows the log, which must be a worldlog.Follower
// (opened so that it never writes), and sends the commands submitted to
// it to the world's owner through fwd. Close stops it.
func Follow(log worldlog.Log, fwd Forwarder, opts Options) (*Engine, error) {
	fl, ok := log.(worldlog.Follower)
	if !ok {
		return nil, fmt.Errorf("engine: a %T cannot be followed", log)
	}
	if fwd == nil {
		return nil, errors.New("engine: a follower needs a Forwarder")
	}
	// The owner answers retries: a follower keeps no retry table.
	opts.DedupSize = 1
	e, err := open(log, opts)
	if err != nil {
		return nil, err
	}
	f := &follower{
		log:     fl,
		fwd:     fwd,
		client:  e.opts.NewID(),
		records: make(chan followed, maxRead),
		resume:  make(chan uint64),
		reading: make(chan struct{}),
		answers: make(chan forwarded, 1),
	}
	go e.follow(f)
	return e, nil
}

// follow is a follower's goroutine: it owns the world, as run does an
// owner's.
func (e *Engine) follow(f *follower) {
	defer close(e.done)
	defer func() {
		e.cancel()
		<-f.reading
	}()
	defer e.feed.close()
	go e.readLog(f, e.world.Revision())
	for {
		var ready <-chan struct{}
		if !f.sending && len(f.held) < e.opts.QueueSize {
			ready = e.queue.ready
		}
		select {
		case r := <-f.records:
			e.applyFollowed(f, r)
		case a := <-f.answers:
			if e.closing() {
				// Close came while this forward was in flight: its
				// answer is the close's to give (it may hand what the
				// forward could not place to the local owner).
				e.closeFollower(f, &a)
				return
			}
			e.answerForwarded(f, a)
		case <-ready:
			if e.closing() {
				// Close came first: what is queued is its to answer.
				e.closeFollower(f, nil)
				return
			}
			e.forward(f, e.opts.MaxBatch)
		case <-f.resync:
			e.resyncFollower(f)
		case fn := <-e.reads:
			fn(e.world)
		case req := <-e.snapshots:
			req.answer <- e.sharedSnapshot(req.v1)
		case <-e.stop:
			e.closeFollower(f, nil)
			return
		}
	}
}

// readLog follows the log after revision after and hands each record to
// the follower's goroutine, until the engine's context ends. A follow
// that fails is started again from the last record handed over, every
// RetryEvery (the follower is degraded until a record comes through
// again); one that finds revisions missing waits for the follower to
// resync and say where to follow from.
func (e *Engine) readLog(f *follower, after uint64) {
	defer close(f.reading)
	hand := func(r followed) bool {
		select {
		case f.records <- r:
			return true
		case <-e.ctx.Done():
			return false
		}
	}
	for {
		err := f.log.Follow(e.ctx, after, func(r worldlog.Record) error {
			if r.Revision != after+1 {
				return errGap
			}
			r.Frame = bytes.Clone(r.Frame)
			if !hand(followed{rec: r}) {
				return e.ctx.Err()
			}
			after = r.Revision
			return nil
		})
		if e.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errGap) {
			if !hand(followed{err: err, gap: true}) {
				return
			}
			select {
			case after = <-f.resume:
			case <-e.ctx.Done():
				return
			}
			continue
		}
		if err == nil {
			err = errors.New("the follow ended by itself")
		}
		if !hand(followed{err: err}) {
			return
		}
		select {
		case <-time.After(e.opts.RetryEvery):
		case <-e.ctx.Done():
			return
		}
	}
}

// applyFollowed applies r and every record already waiting behind it to
// the world, publishes their events as one batch, and gives the answers
// held for them. Engine goroutine only.
func (e *Engine) applyFollowed(f *follower, r followed) {
	if f.resync != nil {
		// A resync is due, which reads what the reader brings from the
		// log itself.
		f.gap = f.gap || r.gap
		return
	}
	for more := true; more; {
		if r.err != nil {
			e.publishFollowed(f)
			if r.gap {
				f.gap = true
				e.resyncFollower(f)
				return
			}
			if f.followErr == nil {
				e.opts.Logger.Error("cannot follow the world's log: trying again", "err", r.err, "revision", e.world.Revision())
			}
			f.followErr = r.err
			e.followerHealth(f)
			return
		}
		if err := e.applyRecord(f, r.rec); err != nil {
			e.publishFollowed(f)
			e.opts.Logger.Error("a followed record does not apply: reading the world again", "err", err, "revision", e.world.Revision())
			e.resyncFollower(f)
			return
		}
		if len(f.pubs) >= maxRead {
			break
		}
		select {
		case r = <-f.records:
		default:
			more = false
		}
	}
	e.publishFollowed(f)
	if f.followErr != nil {
		e.opts.Logger.Info("following the world's log again", "revision", e.world.Revision())
		f.followErr = nil
		e.followerHealth(f)
	}
}

// applyRecord applies one followed record to the world and adds its
// event to those being published. Engine goroutine only.
func (e *Engine) applyRecord(f *follower, r worldlog.Record) error {
	switch rev := e.world.Revision(); {
	case r.Revision <= rev:
		return nil // the world has it (a resync read it)
	case r.Revision != rev+1:
		return fmt.Errorf("record %d after revision %d", r.Revision, rev)
	}
	ev, err := wire.DecodeEvent(r.Frame)
	if err != nil {
		return fmt.Errorf("decode event at revision %d: %w", r.Revision, err)
	}
	if ev.Revision != r.Revision {
		return fmt.Errorf("record %d holds an event at revision %d", r.Revision, ev.Revision)
	}
	if err := e.world.Replay(ev); err != nil {
		return fmt.Errorf("replay revision %d: %w", r.Revision, err)
	}
	// The same frames as the owner's subscribers get: the record's v1
	// frame, and the original protocol's made from the event.
	f.pubs = append(f.pubs, Published{Revision: r.Revision, Frame: r.Frame, Legacy: wire.AppendLegacy(nil, &ev)})
	return nil
}

// publishFollowed publishes the events applied, then gives the answers
// they were held for. Engine goroutine only.
func (e *Engine) publishFollowed(f *follower) {
	if len(f.pubs) == 0 {
		return
	}
	if !e.opts.NoTimings {
		f.pubs[0].At = time.Now()
	}
	e.feed.publish(f.pubs)
	clear(f.pubs)
	f.pubs = f.pubs[:0]
	e.revision.Store(e.world.Revision())
	e.stats.batches.Add(1)
	e.releaseHeld(f)
}

// releaseHeld gives every held answer whose revision the feed has
// published. Engine goroutine only.
func (e *Engine) releaseHeld(f *follower) {
	rev := e.world.Revision()
	kept := f.held[:0]
	for _, h := range f.held {
		if h.result.Revision <= rev {
			e.answerOne(h.done, h.result)
		} else {
			kept = append(kept, h)
		}
	}
	clear(f.held[len(kept):])
	f.held = kept
}

// resyncFollower boots the world again from the log's newest snapshot
// and the records after it, when following found revisions missing (the
// log was compacted past the follower) or a record that does not apply.
// The feed starts again at the new revision, so a subscriber behind it
// gets a snapshot. When the log cannot be read, the world stays as it was
// and the resync is tried again every RetryEvery. Engine goroutine only.
func (e *Engine) resyncFollower(f *follower) {
	f.resync = nil
	old, oldSnap := e.world, e.snapRev
	if err := e.boot(); err != nil {
		e.world, e.snapRev = old, oldSnap
		if f.followErr == nil {
			e.opts.Logger.Error("cannot read the world's log again: trying again", "err", err, "revision", e.world.Revision())
		}
		f.followErr = err
		e.followerHealth(f)
		f.resync = time.After(e.opts.RetryEvery)
		return
	}
	e.revision.Store(e.world.Revision())
	e.opts.Logger.Warn("read the world again from its log", "revision", e.world.Revision())
	f.followErr = nil
	e.followerHealth(f)
	e.releaseHeld(f)
	if f.gap {
		f.gap = false
		select {
		case f.resume <- e.world.Revision():
		case <-e.ctx.Done():
		}
	}
}

// forward takes up to max queued commands and sends them to the owner,
// on a goroutine of its own; their answers come back on f.answers.
// Engine goroutine only.
func (e *Engine) forward(f *follower, max int) {
	batch, _ := e.queue.take(nil, max)
	if len(batch) == 0 {
		return
	}
	reqs := make([]Request, len(batch))
	for i := range batch {
		r := &batch[i].req
		if r.Origin.Client.IsZero() {
			f.request++
			r.Origin = Origin{Client: f.client, Request: f.request}
		}
		e.fillIDs(&r.Command)
		reqs[i] = Request{Command: r.Command, Actor: r.Actor, Origin: r.Origin, queued: r.queued}
	}
	f.sending = true
	start := time.Now()
	go func() {
		results, err := f.fwd.Forward(e.ctx, reqs)
		f.answers <- forwarded{batch: batch, results: results, err: err, start: start}
	}()
}

// answerForwarded answers a forwarded batch: a refusal at once, an
// acceptance once the feed has its revision (held until then), and every
// command the owner could not be reached for NO_OWNER. Engine goroutine
// only.
func (e *Engine) answerForwarded(f *follower, a forwarded) {
	f.sending = false
	var timing Timing
	if !e.opts.NoTimings {
		// A follower's commit is the forward: the owner's queue, apply
		// and commit, and the way there and back.
		timing = Timing{Commit: time.Since(a.start), Batch: len(a.batch)}
	}
	// Health first: whoever gets an answer sees the health it came with.
	switch {
	case a.err != nil && f.forwardErr == nil:
		e.opts.Logger.Error("cannot reach the world's owner", "err", a.err, "unanswered", len(a.batch)-len(a.results))
		f.forwardErr = a.err
		e.followerHealth(f)
	case a.err == nil && f.forwardErr != nil:
		e.opts.Logger.Info("the world's owner answers again")
		f.forwardErr = nil
		e.followerHealth(f)
	}
	accepted := 0
	for i, p := range a.batch {
		res := Result{Err: &world.Error{Code: world.CodeNoOwner, Message: noOwnerRefusal}}
		if i < len(a.results) {
			res = a.results[i]
		}
		res.Timing = timing
		if !e.opts.NoTimings {
			res.Timing.Queue = a.start.Sub(p.req.queued)
		}
		if res.Err == nil && !res.Duplicate {
			accepted++
		}
		if res.Err == nil && res.Revision > e.world.Revision() {
			f.held = append(f.held, heldAnswer{p.req.Done, res})
			continue
		}
		e.answerOne(p.req.Done, res)
	}
	if fn := e.onBatch.Load(); fn != nil && !e.opts.NoTimings {
		(*fn)(BatchStats{Commands: len(a.batch), Events: accepted, Commit: timing.Commit})
	}
}

// answerOne counts and gives one answer. Engine goroutine only.
func (e *Engine) answerOne(done func(Result), res Result) {
	switch {
	case res.Err != nil:
		e.stats.rejected.Add(1)
	case res.Duplicate:
		e.stats.duplicates.Add(1)
	default:
		e.stats.accepted.Add(1)
	}
	if done != nil {
		done(res)
	}
}

// followerHealth reports what is wrong with following or forwarding, if
// anything: degraded, in a person's words, until it is right again.
// Engine goroutine only.
func (e *Engine) followerHealth(f *follower) {
	reason := ""
	switch {
	case f.followErr != nil:
		reason = notFollowReason
	case f.forwardErr != nil:
		reason = noOwnerReason
	}
	h := e.health.Load()
	switch {
	case reason == "" && h.Degraded:
		e.health.Store(&Health{})
	case reason != "" && !h.Degraded:
		e.health.Store(&Health{Degraded: true, Reason: reason, Since: e.opts.Now()})
	case reason != "" && h.Reason != reason:
		e.health.Store(&Health{Degraded: true, Reason: reason, Since: h.Since})
	}
}

// HandTo makes a follower's Close hand what it could not forward to
// owner, the world's owner engine in this process (the node that
// followed the world has just become its owner), instead of refusing it:
// the commands of a forward that could not reach the old owner, and
// those still queued. Each goes with its actor, its origin (given one
// here if it had none) and the ids drawn for it, the same as any forward
// of it carried, so the owner's retry table answers one it had committed
// already (a forward's lost answer) and applies none twice. An accepted
// answer is held, as a forward's is, until the follower's feed has its
// event or the close's bound passes. HandTo is called before Close; on
// an owner engine it does nothing.
func (e *Engine) HandTo(owner *Engine) { e.handTo.Store(owner) }

// handOff is a closing follower's commands handed to the local owner
// (HandTo), and their answers on their way back to the follower's
// goroutine; once the follower has given up waiting (abandon), an answer
// goes straight to its sender.
type handOff struct {
	owner   *Engine
	answers chan heldAnswer
	left    int // handed and not answered yet (follower goroutine only)

	mu   sync.Mutex
	gone bool
}

// hand submits each pending command to the owner, once per close.
// Engine goroutine only.
func (h *handOff) hand(e *Engine, f *follower, batch []pending) {
	// Room for every answer, so that the owner's goroutine never waits on
	// this one.
	h.answers = make(chan heldAnswer, len(batch))
	for _, p := range batch {
		r := p.req
		if r.Origin.Client.IsZero() {
			f.request++
			r.Origin = Origin{Client: f.client, Request: f.request}
		}
		e.fillIDs(&r.Command)
		done := r.Done
		r.Done = func(res Result) {
			h.mu.Lock()
			if !h.gone {
				h.answers <- heldAnswer{done, res}
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
			if done != nil {
				done(res)
			}
		}
		if err := h.owner.submitHanded(r); err != nil {
			e.answerOne(done, Result{Err: handRefusal(err)})
			continue
		}
		h.left++
	}
}

// abandon gives every answer that came, and has the ones still to come go
// straight to their senders. Engine goroutine only.
func (h *handOff) abandon(e *Engine) {
	h.mu.Lock()
	h.gone = true
	h.mu.Unlock()
	for len(h.answers) > 0 {
		a := <-h.answers
		e.answerOne(a.done, a.result)
	}
	h.left = 0
}

// handRefusal answers a command the owner would not queue.
func handRefusal(err error) *world.Error {
	switch {
	case errors.Is(err, ErrOverloaded):
		return &world.Error{Code: world.CodeOverloaded, Message: "The server is busy, so nothing was changed: try again in a moment."}
	case errors.Is(err, ErrNotOwner):
		return &world.Error{Code: world.CodeNotOwner, Message: "This team's calendar is now kept by another server, so nothing was changed: try again in a moment."}
	}
	return &world.Error{Code: world.CodeShuttingDown, Message: shutdownRefusal}
}

// closing reports that Close was called (stop may not have been seen yet).
func (e *Engine) closing() bool {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	return e.closed
}

// closeFollower is a follower's Close, on its goroutine: the forward in
// flight (inflight, when the loop has taken its answer) is answered, then
// every command still queued is forwarded and
// answered (Submit queues no more: closed is set), each within the
// forwarder's bound; unless the owner could not be reached at the last
// forward: then they are refused SHUTTING_DOWN (they were never sent), so
// that a follower cut off from its owner closes at once. A follower given
// the local owner (HandTo) hands it instead what the forward in flight
// could not place and everything queued. Answers still held for events
// the feed has not published wait for them a moment (closeWait); then
// they are given as they are, as the subscribers end: a client
// reconnects and resumes from its last revision, which brings it the
// events.
func (e *Engine) closeFollower(f *follower, inflight *forwarded) {
	var h *handOff
	if owner := e.handTo.Load(); owner != nil {
		h = &handOff{owner: owner}
	}
	var unplaced []pending
	if f.sending {
		var a forwarded
		if inflight != nil {
			a = *inflight // taken by the loop already
		} else {
			a = <-f.answers
		}
		if h != nil && a.err != nil && len(a.results) < len(a.batch) {
			a.batch, unplaced = a.batch[:len(a.results)], a.batch[len(a.results):]
		}
		e.answerForwarded(f, a)
	}
	switch {
	case h != nil:
		queued, _ := e.queue.take(nil, 1<<30)
		h.hand(e, f, append(unplaced, queued...))
	case f.forwardErr != nil:
		refusal := Result{Err: &world.Error{Code: world.CodeShuttingDown, Message: shutdownRefusal}}
		queued, _ := e.queue.take(nil, 1<<30)
		for _, p := range queued {
			e.answerOne(p.req.Done, refusal)
		}
	}
	if e.queue.len() > 0 {
		e.forward(f, 1<<30)
		e.answerForwarded(f, <-f.answers)
	}
	var handed <-chan heldAnswer
	left := func() int { return 0 }
	if h != nil {
		handed = h.answers
		left = func() int { return h.left }
	}
	wait := time.After(closeWait)
	for len(f.held) > 0 || left() > 0 {
		select {
		case r := <-f.records:
			e.applyFollowed(f, r)
		case a := <-handed:
			h.left--
			if a.result.Err == nil && a.result.Revision > e.world.Revision() {
				f.held = append(f.held, a)
			} else {
				e.answerOne(a.done, a.result)
			}
		case <-wait:
			if h != nil {
				h.abandon(e)
			}
			for _, h := range f.held {
				e.answerOne(h.done, h.result)
			}
			f.held = nil
		}
	}
}

// closeWait is how long a closing follower waits for the events of the
// answers it holds.
const closeWait = time.Second
