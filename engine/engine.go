// Package engine is txxt's single writer. One goroutine per world owns the
// world; commands reach it through a bounded queue; it applies them in
// batches and makes each batch durable with one store transaction before it
// answers anyone.
//
// The order of one batch is a contract (see Engine.process):
//
//  1. take every queued command, up to MaxBatch, as one batch;
//  2. apply each to the world (accepted ones yield events, refused ones
//     errors), recording how to undo the changes;
//  3. append all the batch's events to the store in ONE transaction, ONE fsync;
//  4. only then publish the events, in revision order, to the subscribers,
//     and answer each command (Ack with its revision, or its error): in
//     that order, so a subscriber that sees an answer finds its event.
//
// If step 3 fails, the world is rolled back to the last durable revision,
// every command of the batch is answered STORAGE_UNAVAILABLE (retry with the
// same request id), nothing is published, and the engine reports itself
// degraded. From then on the file is not trusted (after a failed fsync it
// may read back what never reached the disk): before it writes again, the
// engine has the store write a fresh save file from the world in memory, at
// the last acknowledged revision, and switch to it. It tries at the next
// batch and every RetryEvery without one; until it succeeds, every command
// is refused STORAGE_UNAVAILABLE.
//
// A save file deleted or replaced under the running engine is a failed
// write too: the store checks after each commit that the file at its path
// is the one it has open, and the engine asks it every CheckEvery while no
// commit does. Found gone, the engine goes degraded in the same way and the
// fresh file it writes from memory puts a save file back at the path.
//
// When the log says another writer owns the world (worldlog.ErrFenced, or
// a log whose head moved without this engine), the engine steps down: the
// batch is rolled back and refused NOT_OWNER, and the engine closes (every
// later command is refused NOT_OWNER, subscribers end, so their clients
// reconnect and reach the new owner). It never rewrites the log and writes
// no final snapshot: the world is no longer its to write.
package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// Errors returned by Submit.
var (
	ErrOverloaded = errors.New("engine queue is full")
	ErrClosed     = errors.New("engine is closed")
	// ErrNotOwner: the engine stepped down, since another writer owns
	// its world now (see the package comment). It is closed too.
	ErrNotOwner = errors.New("another writer owns this world")
)

// Options tune an engine. The zero value is usable: every field has a default.
type Options struct {
	QueueSize int // commands waiting for the engine, all users (default 4096; see queue)
	UserQueue int // commands waiting for the engine, per user; Submit refuses that user's past it (default min(QueueSize, 1024))
	MaxBatch  int // commands per batch, taken round-robin across users (default 1024)

	// CommitPerCommand makes every command its own transaction: the
	// original design, kept so group commit's gain is measured in one run.
	CommitPerCommand bool

	TailSize      int           // events kept in memory for resume (default 8192)
	DedupSize     int           // (client, request) pairs remembered for retries (default 65536)
	Deletions     int           // deleted tasks remembered, in memory, to say who deleted one and when (default 4096)
	SnapshotEvery uint64        // revisions between snapshots in the store (default 10000)
	KeepLog       uint64        // log records kept before the newest snapshot, for resume and for history: how far back a task's history, the activity and the past view reach (default 100000; its disk cost is in docs/BENCHMARKS.md)
	RetryEvery    time.Duration // while degraded, how often to try a fresh save file without a command (default 1s)
	CheckEvery    time.Duration // how often to check that the save file is still in place, besides each commit (default 1s)

	// NoTimings turns off the stage timings (Result.Timing, OnBatch,
	// Published.At), so their cost can be measured against nothing.
	NoTimings bool

	// NoFinalSnapshot leaves Close's snapshot out: a look at a save file
	// (txxt info) leaves the file as it found it.
	NoFinalSnapshot bool

	Now    func() time.Time // the clock of the log's records and of the deletions remembered (default time.Now)
	NewID  func() world.ID  // ids for new entities (default: random UUIDv4)
	Logger *slog.Logger     // default: discard
}

func (o *Options) fill() {
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.UserQueue <= 0 {
		o.UserQueue = min(o.QueueSize, 1024)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.CommitPerCommand {
		o.MaxBatch = 1
	}
	if o.TailSize <= 0 {
		o.TailSize = 8192
	}
	if o.DedupSize <= 0 {
		o.DedupSize = 65536
	}
	if o.Deletions <= 0 {
		o.Deletions = 4096
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = 10000
	}
	if o.KeepLog == 0 {
		o.KeepLog = 100000
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = RandomID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// RandomID returns a random (version 4) UUID.
func RandomID() world.ID {
	var id world.ID
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// Origin identifies a command for idempotency: a client's id and its request
// id. A command arriving with an Origin the engine has already committed is
// answered with the revision it got then and is not applied again. The zero
// Origin disables the check.
type Origin struct {
	Client  world.ID
	Request uint32
}

// Request is one command on its way to the engine.
type Request struct {
	Command world.Command
	Actor   world.ID // who sent it (recorded in the log)
	Origin  Origin

	// Done receives the command's one answer. It runs on the engine's
	// goroutine, so it must not block: hand the result to a bounded outbox.
	Done func(Result)

	queued time.Time // when Submit or Do queued it (unless NoTimings)
}

// Timing is where one command's time went inside the engine. It is zero
// with Options.NoTimings.
type Timing struct {
	Queue  time.Duration // queued → its batch started
	Apply  time.Duration // the world's checks and change
	Encode time.Duration // the event's frames (v1 and the original protocol's)
	Commit time.Duration // its batch's commit (shared by the whole batch)
	Batch  int           // commands in its batch
}

// BatchStats describe one committed batch, for OnBatch.
type BatchStats struct {
	Commands int           // commands in the batch, accepted or not
	Events   int           // events it committed
	Commit   time.Duration // the store's Append: one transaction, its fsyncs
}

// Result is a command's answer: accepted at Revision, or refused with Err.
type Result struct {
	Revision  uint64
	Err       *world.Error
	Duplicate bool // a retry of a command committed earlier; Revision is its revision
	Timing    Timing
}

// Health is whether the engine can make changes durable.
type Health struct {
	Degraded bool
	Reason   string // why, in a person's words (clients see it); the error itself is in the log
	Since    time.Time
	NotOwner bool // the engine stepped down: another writer owns the world (Degraded is set too)
}

// Engine owns one world. Its methods are safe for concurrent use; the world
// itself is touched only by the engine's goroutine.
type Engine struct {
	opts      Options
	log       worldlog.Log
	file      worldlog.File   // log, when it is a local file (nil otherwise)
	ctx       context.Context // of every call to log; ends after the engine's goroutine
	cancel    context.CancelFunc
	queue     *queue
	reads     chan func(*world.World)
	snapshots chan snapshotRequest
	stop      chan struct{}
	done      chan struct{}

	closeMu sync.RWMutex // held for reading by Submit, for writing by Close
	closed  bool
	// notOwner is set, before closed, when the engine steps down.
	notOwner atomic.Bool
	// fenced is set by the snapshot goroutine when the log fenced it.
	fenced atomic.Bool

	feed *feed

	revision atomic.Uint64 // last durable revision, readable by anyone
	health   atomic.Pointer[Health]
	stats    counters
	onBatch  atomic.Pointer[func(BatchStats)]
	quotas   atomic.Pointer[Quotas]
	// handTo is, on a follower, the engine its Close hands what it could
	// not forward (HandTo).
	handTo atomic.Pointer[Engine]

	// Owned by the engine goroutine.
	world   *world.World
	dedup   *dedup
	deleted *deletions
	// deleting holds the batch's deletions until it commits: a failed
	// batch deleted nothing.
	deleting []deletion
	snap     snapshotCache
	snapRev  uint64 // revision of the newest snapshot in the store
	saving   chan struct{}
	// suspect is set when a write to the file failed: the next write must
	// be a fresh file (Rewrite). snapshotFailed is the same, set by the
	// snapshot goroutine.
	suspect        bool
	snapshotFailed atomic.Bool
	// deposed is set when the log said another writer owns the world:
	// the engine steps down after the batch at hand.
	deposed bool
	recent  revRing[worldlog.Record] // the log fields of the events in the feed's ring
	batch   []pending
	records []worldlog.Record
	pubs    []Published
}

type pending struct {
	req    Request
	result Result
	event  int // index into records, or -1
}

type counters struct {
	batches, accepted, rejected, duplicates, failedCommits, overloaded atomic.Uint64
	snapshotBuilds                                                     atomic.Uint64
}

// Stats are running totals since the engine opened.
type Stats struct {
	Revision                                uint64
	Batches, Accepted, Rejected, Duplicates uint64
	FailedCommits, Overloaded               uint64
	SnapshotBuilds                          uint64 // snapshots encoded (for new connections, the store, a fresh file)
	SnapshotSaving                          bool   // a snapshot, and the compaction behind it, is being written
	QueueLength, QueueCapacity              int
	Health                                  Health
}

// Open boots the world from log (newest snapshot, then the log after it) and
// starts the engine's goroutine. Close stops it. A log that is a
// worldlog.File (the save file) is rewritten after a failed write and
// checked for being deleted under the engine; any other log is trusted
// again once its head is where the engine left it.
func Open(log worldlog.Log, opts Options) (*Engine, error) {
	e, err := open(log, opts)
	if err != nil {
		return nil, err
	}
	go e.run()
	return e, nil
}

// open makes an engine and boots its world from log, without starting
// its goroutine (Open's or Follow's).
func open(log worldlog.Log, opts Options) (*Engine, error) {
	opts.fill()
	file, _ := log.(worldlog.File)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		opts:      opts,
		log:       log,
		file:      file,
		ctx:       ctx,
		cancel:    cancel,
		queue:     newQueue(opts.QueueSize, opts.UserQueue),
		reads:     make(chan func(*world.World)),
		snapshots: make(chan snapshotRequest),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		feed:      newFeed(opts.TailSize),
		dedup:     newDedup(opts.DedupSize),
		deleted:   newDeletions(opts.Deletions),
		saving:    make(chan struct{}, 1),
		recent:    newRevRing[worldlog.Record](opts.TailSize),
	}
	e.health.Store(&Health{})
	if err := e.boot(); err != nil {
		cancel()
		if !errors.Is(err, store.ErrDamaged) {
			// The file's checksums held but its content does not add up.
			err = fmt.Errorf("%w: %w", err, store.ErrDamaged)
		}
		return nil, err
	}
	e.revision.Store(e.world.Revision())
	return e, nil
}

// boot loads the newest snapshot and replays the log after it. It also
// refills the resume tail and the idempotency table from the log's end.
func (e *Engine) boot() error {
	snapRev, frame, err := e.log.LatestSnapshot(e.ctx)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	e.world = world.New()
	if frame != nil {
		st, err := wire.DecodeSnapshot(frame)
		if err != nil {
			return fmt.Errorf("decode snapshot at revision %d: %w", snapRev, err)
		}
		if st.Revision != snapRev {
			return fmt.Errorf("snapshot stored at revision %d holds revision %d", snapRev, st.Revision)
		}
		if e.world, err = world.FromState(*st); err != nil {
			return fmt.Errorf("load snapshot at revision %d: %w", snapRev, err)
		}
	}
	e.snapRev = snapRev
	last, err := e.log.Head(e.ctx)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	if last < snapRev {
		return fmt.Errorf("log ends at revision %d, before the snapshot at %d", last, snapRev)
	}

	// Read from far enough back to refill the tail and the dedup table;
	// records the snapshot already holds are not replayed.
	keep := uint64(max(e.opts.TailSize, e.opts.DedupSize))
	from := snapRev
	if last-from < keep {
		from = last - min(last, keep)
	}
	var tail []Published
	err = e.log.Records(e.ctx, from, func(r worldlog.Record) error {
		if r.Revision > snapRev {
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
		}
		e.dedup.add(Origin{r.Client, r.Request}, r.Revision)
		// Events read back from disk have no v0 translation: a v0
		// subscriber that needs one gets a snapshot instead.
		if r.Revision+uint64(e.opts.TailSize) > last { // only the newest TailSize go to the ring
			tail = append(tail, Published{Revision: r.Revision, Frame: bytes.Clone(r.Frame), NoLegacy: true})
			e.remember(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if e.world.Revision() != last {
		return fmt.Errorf("replay ended at revision %d but the log ends at %d", e.world.Revision(), last)
	}
	e.feed.reset(last, tail)
	return nil
}

// Submit queues r without waiting. It returns ErrOverloaded when r's user
// (its Actor) has a full queue (the caller answers OVERLOADED: see queue,
// which never refuses a user for another's backlog) and ErrClosed after
// Close. When Submit returns nil, r.Done will be called exactly once.
func (e *Engine) Submit(r Request) error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return e.closedErr()
	}
	if !e.opts.NoTimings {
		r.queued = time.Now()
	}
	if ok, _ := e.queue.put(r); !ok {
		e.stats.overloaded.Add(1)
		return ErrOverloaded
	}
	return nil
}

// submitHanded queues r, a command a closing follower of this world had
// admitted (HandTo), whatever room the queue has: the follower's queue,
// of the same bounds, bounded it already.
func (e *Engine) submitHanded(r Request) error {
	e.closeMu.RLock()
	defer e.closeMu.RUnlock()
	if e.closed {
		return e.closedErr()
	}
	if !e.opts.NoTimings {
		r.queued = time.Now()
	}
	e.queue.putAnyway(r)
	return nil
}

// Do submits r, waiting for room in the queue, and waits for its answer.
func (e *Engine) Do(ctx context.Context, r Request) (Result, error) {
	answer := make(chan Result, 1)
	r.Done = func(res Result) { answer <- res }
	if !e.opts.NoTimings {
		r.queued = time.Now()
	}
	for {
		e.closeMu.RLock()
		if e.closed {
			e.closeMu.RUnlock()
			return Result{}, e.closedErr()
		}
		ok, room := e.queue.put(r)
		e.closeMu.RUnlock()
		if ok {
			break
		}
		select {
		case <-room:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	// Once queued, the command will be answered even if ctx ends: wait
	// for it so the caller learns the truth.
	return <-answer, nil
}

// Read runs fn on the engine's goroutine with the world at its last durable
// revision, between batches. fn must not keep the world or anything it
// points to, and must be quick: the engine waits for it.
func (e *Engine) Read(ctx context.Context, fn func(*world.World)) error {
	ran := make(chan struct{})
	select {
	case e.reads <- func(w *world.World) { fn(w); close(ran) }:
	case <-e.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ran
	return nil
}

// OnBatch sets fn to be called on the engine's goroutine after each
// committed batch (not after a failed one), unless NoTimings. fn must be
// quick: the next batch waits for it.
func (e *Engine) OnBatch(fn func(BatchStats)) { e.onBatch.Store(&fn) }

// Quotas bound what one world may hold; 0 means no limit. The world is
// pure and knows no limit of the deployment's: the engine counts (the
// world's Counts, which include the batch's commands applied so far) and
// refuses a command past the limit with QUOTA_EXCEEDED before the world
// sees it.
type Quotas struct {
	Tasks    int // tasks of every status (CreateTask and CloneTask are refused past it)
	Services int // services, archived ones included (CreateService)
}

// SetQuotas sets the world's quotas, from the next command on.
func (e *Engine) SetQuotas(q Quotas) { e.quotas.Store(&q) }

// overQuota refuses a command that would take the world past its quotas.
// Only the engine goroutine calls it.
func (e *Engine) overQuota(kind world.CommandKind) error {
	q := e.quotas.Load()
	if q == nil {
		return nil
	}
	tasks, services, _ := e.world.Counts()
	switch {
	case (kind == world.CmdCreateTask || kind == world.CmdCloneTask) && q.Tasks > 0 && tasks >= q.Tasks:
		return &world.Error{Code: world.CodeQuotaExceeded, Message: fmt.Sprintf(
			"This team has %d tasks, the most this server allows: delete tasks it no longer needs, or ask the server's operator to raise the limit.", q.Tasks)}
	case kind == world.CmdCreateService && q.Services > 0 && services >= q.Services:
		return &world.Error{Code: world.CodeQuotaExceeded, Message: fmt.Sprintf(
			"This team has %d services, the most this server allows: rename one it no longer needs instead, or ask the server's operator to raise the limit.", q.Services)}
	}
	return nil
}

// Revision is the last durable revision.
func (e *Engine) Revision() uint64 { return e.revision.Load() }

// Health reports whether the engine can write.
func (e *Engine) Health() Health { return *e.health.Load() }

// Stats returns running totals.
func (e *Engine) Stats() Stats {
	return Stats{
		Revision:       e.Revision(),
		Batches:        e.stats.batches.Load(),
		Accepted:       e.stats.accepted.Load(),
		Rejected:       e.stats.rejected.Load(),
		Duplicates:     e.stats.duplicates.Load(),
		FailedCommits:  e.stats.failedCommits.Load(),
		Overloaded:     e.stats.overloaded.Load(),
		SnapshotBuilds: e.stats.snapshotBuilds.Load(),
		SnapshotSaving: len(e.saving) > 0,
		QueueLength:    e.queue.len(),
		QueueCapacity:  e.opts.QueueSize,
		Health:         e.Health(),
	}
}

// Close stops taking commands, answers every command already queued, writes
// a final snapshot, and stops the engine. Subscribers' Next returns ErrClosed.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		<-e.done
		return nil
	}
	e.closed = true
	e.closeMu.Unlock()
	close(e.stop)
	<-e.done
	return nil
}

func (e *Engine) run() {
	defer close(e.done)
	defer e.cancel()
	defer e.feed.close()
	check := time.NewTicker(e.opts.CheckEvery)
	defer check.Stop()
	for {
		if e.deposed || e.fenced.Load() {
			e.stepDown()
			return
		}
		var retry <-chan time.Time
		if e.suspect {
			retry = time.After(e.opts.RetryEvery)
		}
		select {
		case <-retry:
			e.trustFile()
		case <-check.C:
			e.checkFile()
		case <-e.queue.ready:
			e.collect()
		case fn := <-e.reads:
			fn(e.world)
		case req := <-e.snapshots:
			req.answer <- e.sharedSnapshot(req.v1)
		case <-e.stop:
			// No Submit can add to the queue now (closed is set under
			// closeMu): answer what is left, then stop.
			for e.queue.len() > 0 {
				e.collect()
			}
			if !e.deposed && !e.opts.NoFinalSnapshot {
				e.finalSnapshot()
			}
			return
		}
	}
}

// collect takes what is queued, up to MaxBatch, one command of each user
// in turn, and processes it as one batch. What is left is the next batch's,
// after the reads and snapshots waiting.
func (e *Engine) collect() {
	e.batch, _ = e.queue.take(e.batch[:0], e.opts.MaxBatch)
	if len(e.batch) == 0 {
		return
	}
	e.process()
}

// process runs one batch: apply, commit, then publish and answer.
func (e *Engine) process() {
	if e.fenced.Load() {
		e.deposed = true
	}
	if e.deposed {
		e.refuse()
		return
	}
	if e.snapshotFailed.Load() {
		e.suspect = true
	}
	if e.suspect && !e.trustFile() {
		e.refuse()
		return
	}
	now := e.opts.Now()
	e.deleting = e.deleting[:0]
	timed := !e.opts.NoTimings
	var mark time.Time // the end of the last timed step
	if timed {
		mark = time.Now()
	}
	e.records = e.records[:0]
	e.world.Begin()
	var arena []byte
	for i := range e.batch {
		p := &e.batch[i]
		p.event = -1
		var tm Timing
		if timed {
			tm.Queue = mark.Sub(p.req.queued)
		}
		if rev, ok := e.dedup.get(p.req.Origin); ok {
			p.result = Result{Revision: rev, Duplicate: true, Timing: tm}
			continue
		}
		cmd := p.req.Command
		e.fillIDs(&cmd)
		var gone world.Task // the task a DeleteTask removes
		if cmd.Kind == world.CmdDeleteTask {
			gone, _ = e.world.Task(cmd.Task)
		}
		var ev world.Event
		err := e.overQuota(cmd.Kind)
		if err == nil {
			ev, err = e.world.Apply(cmd)
		}
		if timed {
			t := time.Now()
			tm.Apply, mark = t.Sub(mark), t
		}
		if err != nil {
			var werr *world.Error
			if !errors.As(err, &werr) {
				werr = &world.Error{Code: world.CodeInternal, Message: err.Error()}
			}
			if werr.Code == world.CodeTaskNotFound {
				werr = e.deletedTask(cmd, p.req.Actor, now, werr)
			}
			p.result = Result{Err: werr, Timing: tm}
			continue
		}
		if ev.Kind == world.EvTaskDeleted {
			by, _ := e.world.User(p.req.Actor)
			e.deleting = append(e.deleting, deletion{task: gone.ID, title: gone.Title, by: p.req.Actor, name: by.Name, at: now})
		}
		start := len(arena)
		arena = wire.AppendEvent(arena, &ev)
		p.event = len(e.records)
		e.records = append(e.records, worldlog.Record{
			Revision: ev.Revision,
			Time:     now.UnixNano(),
			Actor:    p.req.Actor,
			Client:   p.req.Origin.Client,
			Request:  p.req.Origin.Request,
			Frame:    arena[start:len(arena):len(arena)],
		})
		e.dedup.add(p.req.Origin, ev.Revision)
		e.pubs = append(e.pubs, e.publication(&ev))
		if timed {
			t := time.Now()
			tm.Encode, mark = t.Sub(mark), t
		}
		p.result = Result{Revision: ev.Revision, Timing: tm}
	}
	// The arena may have moved while growing: point every frame at its
	// final place.
	off := 0
	for i := range e.records {
		n := len(e.records[i].Frame)
		e.records[i].Frame = arena[off : off+n : off+n]
		e.pubs[i].Frame = e.records[i].Frame
		off += n
	}

	if len(e.records) > 0 {
		if err := e.log.Append(e.ctx, e.records); errors.Is(err, worldlog.ErrFenced) {
			e.depose(err)
			return
		} else if err != nil {
			e.fail(err)
			return
		}
	}
	if timed {
		commit := time.Since(mark)
		for i := range e.batch {
			e.batch[i].result.Timing.Commit = commit
			e.batch[i].result.Timing.Batch = len(e.batch)
		}
		if fn := e.onBatch.Load(); fn != nil {
			(*fn)(BatchStats{Commands: len(e.batch), Events: len(e.records), Commit: commit})
		}
	}
	e.world.Commit()
	for _, d := range e.deleting {
		e.deleted.add(d)
	}
	e.revision.Store(e.world.Revision())
	e.stats.batches.Add(1)
	for _, r := range e.records {
		e.remember(r)
	}

	// Durable: now publish, then answer, so that a subscriber that sees a
	// command's answer can always find its event in the feed.
	if timed && len(e.pubs) > 0 {
		e.pubs[0].At = time.Now()
	}
	e.feed.publish(e.pubs)
	clear(e.pubs)
	e.pubs = e.pubs[:0]
	for i := range e.batch {
		p := &e.batch[i]
		switch {
		case p.result.Err != nil:
			e.stats.rejected.Add(1)
		case p.result.Duplicate:
			e.stats.duplicates.Add(1)
		default:
			e.stats.accepted.Add(1)
		}
		if p.req.Done != nil {
			p.req.Done(p.result)
		}
		p.req = Request{}
	}
	e.maybeSnapshot()
}

// deletedTask is the refusal of cmd, which named a task the world does
// not hold: werr, or, when the task's deletion is remembered (in this
// batch or before it), who deleted it and when.
func (e *Engine) deletedTask(cmd world.Command, asker world.ID, now time.Time, werr *world.Error) *world.Error {
	task := cmd.Task
	if cmd.Kind == world.CmdCloneTask {
		task = cmd.Source
	}
	for i := len(e.deleting) - 1; i >= 0; i-- {
		if d := e.deleting[i]; d.task == task {
			return &world.Error{Code: werr.Code, Message: d.refusal(asker, now)}
		}
	}
	if d, ok := e.deleted.get(task); ok {
		return &world.Error{Code: werr.Code, Message: d.refusal(asker, now)}
	}
	return werr
}

// publication builds what subscribers receive for ev; the v1 frame is filled
// in by process once the arena stops moving. The original protocol's
// frames may be none (wire.AppendLegacy withholds what that protocol's
// client cannot show safely): a v0 subscriber's revisions then skip ev.
func (e *Engine) publication(ev *world.Event) Published {
	return Published{Revision: ev.Revision, Legacy: wire.AppendLegacy(nil, ev)}
}

// fail handles a batch the store refused: nothing of it happened, and the
// file is no longer trusted.
func (e *Engine) fail(err error) {
	e.world.Rollback()
	for i := range e.batch {
		if e.batch[i].event >= 0 {
			e.dedup.remove(e.batch[i].req.Origin)
		}
	}
	e.stats.failedCommits.Add(1)
	e.suspect = true
	e.degrade(err)
	if errors.Is(err, worldlog.ErrOutcomeUnknown) {
		// The log may hold the batch (its answer was lost): the head,
		// read before the next write, says; its commands are told so.
		e.refuseWith(&world.Error{Code: world.CodeStorageUnavailable, Message: storageUnsureRefusal})
		return
	}
	e.refuse()
}

// depose handles a batch the log refused because another writer owns the
// world: nothing of it happened, and nothing more will be written here.
func (e *Engine) depose(err error) {
	e.world.Rollback()
	for i := range e.batch {
		if e.batch[i].event >= 0 {
			e.dedup.remove(e.batch[i].req.Origin)
		}
	}
	e.stats.failedCommits.Add(1)
	e.deposed = true
	e.opts.Logger.Warn("another writer owns this world: stepping down", "err", err, "revision", e.world.Revision())
	if errors.Is(err, worldlog.ErrOutcomeUnknown) {
		// The batch may be in the log: its commands are told so, and a
		// retry with their ids is answered by the next owner, which
		// replays the log, from its retry table.
		e.refuseWith(&world.Error{Code: world.CodeNotOwner, Message: notOwnerUnsureRefusal})
		return
	}
	e.refuse()
}

// stepDown closes the engine from its own goroutine once it is deposed:
// every command queued, or queued until Submit sees the engine closed, is
// refused NOT_OWNER; then run returns, which ends the subscribers. No
// final snapshot: the world is no longer this engine's to write.
func (e *Engine) stepDown() {
	e.notOwner.Store(true)
	e.health.Store(&Health{Degraded: true, NotOwner: true, Reason: notOwnerReason, Since: e.opts.Now()})
	// From here on Submit and Do refuse; what they queued before is
	// answered, every command exactly once.
	e.closeMu.Lock()
	e.closed = true
	e.closeMu.Unlock()
	for {
		e.batch, _ = e.queue.take(e.batch[:0], 1<<20)
		if len(e.batch) == 0 {
			break
		}
		e.refuse()
	}
	e.saving <- struct{}{} // a snapshot in flight ends (fenced) before run does
	<-e.saving
}

// closedErr is what Submit and Do return once the engine is closed.
func (e *Engine) closedErr() error {
	if e.notOwner.Load() {
		return ErrNotOwner
	}
	return ErrClosed
}

// checkFile has the store check that the save file is still the one it
// writes to, and takes a file gone as a failed write: degraded, and a
// fresh file at the next batch or retry. Engine goroutine only.
func (e *Engine) checkFile() {
	if e.suspect || e.file == nil {
		return // a fresh file is due anyway, or there is no file
	}
	if err := e.file.CheckFile(e.ctx); err != nil {
		e.suspect = true
		e.degrade(err)
	}
}

// degrade reports the engine degraded for err, and logs it once (not once
// per command). While degraded, a new reason (a fresh file that cannot be
// written, and why) replaces the old one and is logged once too.
func (e *Engine) degrade(err error) {
	h := e.health.Load()
	switch {
	case !h.Degraded:
		e.opts.Logger.Error("storage unavailable: refusing changes until a fresh save file is written", "err", err, "revision", e.world.Revision())
		e.health.Store(&Health{Degraded: true, Reason: storageReason(err), Since: e.opts.Now()})
	case h.Reason != storageReason(err):
		e.opts.Logger.Warn("storage still unavailable", "err", err, "since", h.Since)
		e.health.Store(&Health{Degraded: true, Reason: storageReason(err), Since: h.Since})
	}
}

// trustFile has the store write a fresh save file from the world in memory
// and switch to it; it reports whether the file can be written again.
// A log that is not a file is trusted again by its head instead
// (trustHead). Engine goroutine only.
func (e *Engine) trustFile() bool {
	if e.file == nil {
		return e.trustHead()
	}
	e.saving <- struct{}{} // a snapshot in flight writes to the old file: wait for it
	defer func() { <-e.saving }()
	snap := e.snapshot(true)
	// The tail of acknowledged events goes into the fresh file too, with
	// their origins: after a restart, a client resuming from a recent
	// revision gets what it missed, and a retry is still recognised.
	var tail []worldlog.Record
	for _, p := range e.feed.tail() {
		r, ok := e.recent.get(p.Revision)
		if !ok || r.Revision != p.Revision {
			r = worldlog.Record{Revision: p.Revision} // cannot happen: both hold the same revisions
		}
		r.Frame = p.Frame
		tail = append(tail, r)
	}
	if len(tail) > 0 && tail[len(tail)-1].Revision != snap.Revision {
		tail = nil // cannot happen: the feed ends where the world does
	}
	if err := e.file.Rewrite(e.ctx, snap.Revision, snap.Frame, tail); err != nil {
		e.degrade(err)
		return false
	}
	e.suspect = false
	e.snapshotFailed.Store(false)
	e.snapRev = snap.Revision
	if h := e.health.Load(); h.Degraded {
		e.opts.Logger.Info("storage recovered: wrote a fresh save file from memory", "revision", snap.Revision, "degraded_for", e.opts.Now().Sub(h.Since))
		e.health.Store(&Health{})
	} else {
		e.opts.Logger.Warn("wrote a fresh save file from memory after a failed snapshot", "revision", snap.Revision)
	}
	return true
}

// trustHead reports whether a log that is not a file can be written
// again after a failed write: when its head is the last revision the
// engine acknowledged, the failed batch did not reach it. A head past it
// means the batch landed after all, or another writer wrote: either way
// the world in memory is not the log's, and the engine steps down (a
// fresh boot, here or elsewhere, replays the log's truth, and its retry
// table answers a retry of a command that did land). Engine goroutine
// only.
func (e *Engine) trustHead() bool {
	head, err := e.log.Head(e.ctx)
	if err == nil && head != e.world.Revision() {
		e.deposed = true
		e.opts.Logger.Warn("the log moved without this writer: stepping down", "head", head, "revision", e.world.Revision())
		return false
	}
	if err != nil {
		e.degrade(err)
		return false
	}
	e.suspect = false
	e.snapshotFailed.Store(false)
	if h := e.health.Load(); h.Degraded {
		e.opts.Logger.Info("storage recovered: the log's head is where the engine left it", "revision", head, "degraded_for", e.opts.Now().Sub(h.Since))
		e.health.Store(&Health{})
	}
	return true
}

// remember keeps r's log fields (not its frame: the feed has it) for the
// tail a fresh save file holds. Engine goroutine only.
func (e *Engine) remember(r worldlog.Record) {
	r.Frame = nil
	e.recent.put(r.Revision, r)
}

// storageReason says in a person's words why the save file cannot be
// written, for Health.Reason, which clients see. The error itself (its
// text holds the file's path) goes to the operator's log only.
func storageReason(err error) string {
	var gone *store.FileGoneError
	switch {
	case errors.As(err, &gone) && gone.Replaced:
		return "its save file was replaced by another file under the running server"
	case errors.As(err, &gone):
		return "its save file was deleted under the running server"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "its disk is full"
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "its data cannot be written to"
	}
	return "its disk refused a write"
}

// storageRefusal is the answer to a command the save file could not take.
// A program retries it with the same request id; a person is told that
// nothing happened.
const storageRefusal = "The server could not save this change, so nothing was changed: it is repairing its save file by itself. Try again in a moment."

// storageUnsureRefusal answers a batch whose write got no answer from the
// log (worldlog.ErrOutcomeUnknown without ErrFenced): it may be saved.
const storageUnsureRefusal = "The server could not confirm that this change was saved, so it may have been or not: it is checking by itself. Try it again in a moment; a change that did go through is not made twice."

// notOwnerRefusal is the answer to a command sent to an engine that
// stepped down; notOwnerReason is its Health.Reason.
const (
	notOwnerRefusal = "This team's calendar is now kept by another server, so nothing was changed: the page reconnects to it by itself; try again then."
	notOwnerReason  = "another server keeps this team's calendar now"
	// notOwnerUnsureRefusal answers a batch that was on its way to the log
	// when the engine lost the world (worldlog.ErrOutcomeUnknown).
	notOwnerUnsureRefusal = "This team's calendar changed hands while this change was being saved, so it may have been saved or not: the page reconnects by itself; try it again then, and a change that did go through is not made twice."
)

// refuse answers every command of the batch STORAGE_UNAVAILABLE, or
// NOT_OWNER once the engine is deposed.
func (e *Engine) refuse() {
	refusal := &world.Error{Code: world.CodeStorageUnavailable, Message: storageRefusal}
	if e.deposed {
		refusal = &world.Error{Code: world.CodeNotOwner, Message: notOwnerRefusal}
	}
	e.refuseWith(refusal)
}

// refuseWith answers every command of the batch with refusal.
func (e *Engine) refuseWith(refusal *world.Error) {
	for i := range e.batch {
		p := &e.batch[i]
		e.stats.rejected.Add(1)
		if p.req.Done != nil {
			p.req.Done(Result{Err: refusal})
		}
		p.req = Request{}
	}
	clear(e.pubs)
	e.pubs = e.pubs[:0]
}

// fillIDs draws ids for the entities a command creates, unless it names them.
func (e *Engine) fillIDs(c *world.Command) {
	switch c.Kind {
	case world.CmdCreateTask, world.CmdCloneTask:
		if c.Task.IsZero() {
			c.Task = e.opts.NewID()
		}
	case world.CmdCreateService:
		if c.Service.IsZero() {
			c.Service = e.opts.NewID()
		}
	case world.CmdCreateUser:
		if c.User.IsZero() {
			c.User = e.opts.NewID()
		}
	case world.CmdAddTimeOff:
		if c.TimeOff.ID.IsZero() {
			c.TimeOff.ID = e.opts.NewID()
		}
	}
}
