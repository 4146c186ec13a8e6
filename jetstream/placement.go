package jetstream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/worldlog"
)

// NodeBucket is the KV bucket of the live nodes: a key per node, put when
// it starts, renewed every TTL/4, deleted when it stops; a node that stops
// renewing expires after the bucket's TTL (SetupOwnership gives it the
// lease TTL).
const NodeBucket = "WORLD_NODES"

// Preferred returns the node that should own world among nodes ("" when
// there is none): the one with the highest rendezvous score of (node,
// world). Every node computes the same answer from the same list, and a
// node joining or leaving moves only the worlds it wins or held: about
// 1/len(nodes) of them.
func Preferred(nodes []string, world string) string {
	best, bestScore := "", uint64(0)
	for _, n := range nodes {
		s := rendezvous(n, world)
		if best == "" || s > bestScore || s == bestScore && n < best {
			best, bestScore = n, s
		}
	}
	return best
}

// rendezvous is FNV-64a of node, a zero byte and world, finished with
// SplitMix64's mixer so that names differing in one character score far
// apart.
func rendezvous(node, world string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(world))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ManagerConfig is what a Manager needs. Node, Open and Close are required.
type ManagerConfig struct {
	// Node names this node, unique in the deployment and stable across
	// its restarts (a host name): letters, digits, '-' and '_'. It is
	// the lease's value and the owner in the ownership markers.
	Node string

	// Worlds are the worlds to place (every node must be given the same
	// list: a world only its preferred node knows of is owned by nobody
	// else). SetWorlds changes it.
	Worlds []string

	// Log is how the worlds' logs are laid out, as Setup was given it.
	Log Options

	// Open serves world on this node: boot its engine on log (replay)
	// and take its commands. The lease is held and the ownership marker
	// is in the log already, so the previous owner can write nothing
	// more; log refuses writes (worldlog.ErrFenced, which steps the
	// engine down) as soon as the lease is lost. ctx ends if the lease
	// is lost while Open runs. An error releases the world (it is tried
	// again later).
	Open func(ctx context.Context, world string, log worldlog.Log) error

	// Close stops serving world on this node, once, after an Open that
	// returned nil. lost is nil for a hand-over (another node is
	// preferred now, or Stop): Close must return only when the world's
	// last batch is durable and nothing more will be written (close its
	// engine), since the lease is released right after, and the next
	// owner takes the world at once. lost is not nil when the lease is
	// lost or the log fenced this node (errors.Is ErrLeaseLost): the
	// world is someone else's already, every write is refused; close
	// what serves it.
	Close func(world string, lost error)

	Logger *slog.Logger // default: discard

	// hold, when set (tests only), is called before each write this
	// node sends to NATS about ownership or a world's log: a test blocks
	// it to freeze the node, as SIGSTOP would.
	hold func(point string)
}

// Manager places worlds on the live nodes and owns, on this node, those
// it is preferred for (Preferred over the node list in NodeBucket). Each
// node runs one. For each world it watches the node list and the leases:
//
//   - a world whose lease is free and for which this node is preferred:
//     take the lease (Leases.Acquire), open the world's Log with this
//     node as owner (which appends the ownership marker fenced on the
//     log's head), then call Open;
//   - a world this node owns and another live node is preferred for (it
//     joined, or this node stops): call Close, then release the lease,
//     so the preferred node takes it at once: a graceful hand-over;
//   - a world whose lease is lost (a renewal refused or too late) or
//     whose log fenced this node: Close with the reason, at once (its
//     writes are refused already).
//
// A node that dies keeps its worlds until its lease and its heartbeat
// expire (about the TTL), then the next preferred node takes them. The
// fence, not the lease, is what keeps two nodes from writing one world:
// the lease only decides who tries.
//
// Wiring it into a server (txxt serve --nats): Setup and SetupOwnership
// once per deployment; StartManager with the teams' worlds; Open boots an
// engine.Open(log, …) and registers it for the team's connections; Close
// closes that engine (engine.Close writes the last batch and a final
// snapshot; after a step-down it only waits) and drops it; SetWorlds when
// a team is made or removed; on SIGTERM, Stop, before the process exits,
// so every world moves at once. Owned, Nodes and Owner answer
// /api/status.
//
// One goroutine (run) owns the placement state; each world owned or
// being taken has its own goroutine that calls Open and Close; each
// lease renews itself on its own goroutine, so a slow Open (a long
// replay) never delays a renewal.
type Manager struct {
	cfg     ManagerConfig
	js      natsjs.JetStream
	leases  *Leases
	nodes   natsjs.KeyValue
	nodeTTL time.Duration
	logger  *slog.Logger

	events   chan worldEvent // world goroutines → run
	setWorld chan []string   // SetWorlds → run
	stop     chan struct{}   // closed by Stop: run hands every world over
	stopOnce sync.Once
	done     chan struct{} // run returned
	hbStop   chan struct{} // closed by Stop: the heartbeat deletes the node's key
	hbDone   chan struct{}
	unwatch  context.CancelFunc

	owned atomic.Pointer[[]string] // sorted, written by run
	live  atomic.Pointer[[]string] // sorted, written by run
}

// worldEvent is what a world's goroutine tells run.
type worldEvent struct {
	world  string
	opened bool  // Open returned nil; otherwise the goroutine ended
	err    error // why it ended: nil after a hand-over
}

// worldState is run's view of a world this node owns or is taking.
type worldState struct {
	release   chan struct{} // closed to hand the world over
	releasing bool
	opened    bool
}

// StartManager registers cfg.Node in the node bucket and starts placing
// cfg.Worlds. The buckets must exist (SetupOwnership), and the streams
// (Setup). ctx bounds the start only.
func StartManager(ctx context.Context, js natsjs.JetStream, cfg ManagerConfig) (*Manager, error) {
	if cfg.Node == "" || strings.ContainsFunc(cfg.Node, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return nil, fmt.Errorf("node name %q: only letters, digits, '-' and '_'", cfg.Node)
	}
	if cfg.Open == nil || cfg.Close == nil {
		return nil, errors.New("a manager needs Open and Close")
	}
	cfg.Log.fill()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	leases, err := OpenLeases(ctx, js, cfg.Logger)
	if err != nil {
		return nil, err
	}
	leases.hold = cfg.hold
	nodes, nodeTTL, err := openBucket(ctx, js, NodeBucket)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, js: js, leases: leases, nodes: nodes, nodeTTL: nodeTTL,
		logger:   cfg.Logger.With("node", cfg.Node),
		events:   make(chan worldEvent),
		setWorld: make(chan []string),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		hbStop:   make(chan struct{}),
		hbDone:   make(chan struct{}),
	}
	m.owned.Store(&[]string{})
	m.live.Store(&[]string{})
	rev, err := nodes.Put(ctx, cfg.Node, []byte(time.Now().UTC().Format(time.RFC3339)))
	if err != nil {
		return nil, fmt.Errorf("node %s: register in %s: %w", cfg.Node, NodeBucket, err)
	}
	wctx, unwatch := context.WithCancel(context.Background())
	m.unwatch = unwatch
	fail := func(bucket string, err error) (*Manager, error) {
		unwatch()
		nodes.Delete(ctx, cfg.Node) // or the others count on this node until its key expires
		return nil, fmt.Errorf("node %s: watch %s: %w", cfg.Node, bucket, err)
	}
	nodeWatch, err := nodes.WatchAll(wctx)
	if err != nil {
		return fail(NodeBucket, err)
	}
	leaseWatch, err := leases.kv.WatchAll(wctx)
	if err != nil {
		return fail(LeaseBucket, err)
	}
	go m.heartbeat(rev)
	go m.run(nodeWatch.Updates(), leaseWatch.Updates())
	return m, nil
}

// Leases is the lease bucket the manager holds its worlds' leases in.
func (m *Manager) Leases() *Leases { return m.leases }

// Owned lists the worlds this node serves (Open returned nil, Close not
// yet called), sorted.
func (m *Manager) Owned() []string { return slices.Clone(*m.owned.Load()) }

// Nodes lists the live nodes as this node last saw them, sorted.
func (m *Manager) Nodes() []string { return slices.Clone(*m.live.Load()) }

// Owner returns the node holding world's lease ("" when none).
func (m *Manager) Owner(ctx context.Context, world string) (string, error) {
	return m.leases.Holder(ctx, world)
}

// SetWorlds replaces the worlds to place: a world added is taken by its
// preferred node, a world removed is closed and released where it is
// owned.
func (m *Manager) SetWorlds(worlds []string) {
	select {
	case m.setWorld <- slices.Clone(worlds):
	case <-m.done:
	}
}

// Stop hands every world this node owns over and leaves: it deletes the
// node's key (the other nodes place the worlds without it), calls Close
// for each world (which makes its last batch durable) and releases its
// lease, so that the next owner takes it at once rather than after the
// TTL. It returns when every world is closed, or with ctx's error when
// ctx ends first (the leases not released then expire by themselves).
// Calling it again waits again.
func (m *Manager) Stop(ctx context.Context) error {
	m.stopOnce.Do(func() {
		close(m.hbStop)
		go func() {
			select {
			case <-m.hbDone:
			case <-ctx.Done():
			}
			close(m.stop)
		}()
	})
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node %s: stop: %w", m.cfg.Node, ctx.Err())
	}
}

// heartbeat keeps the node's key alive, every TTL/4; it owns the key's
// revision. A renewal refused (the key expired while the node was
// stopped or cut off, or another process took the name) puts it again:
// the node is live as soon as it can say so.
func (m *Manager) heartbeat(rev uint64) {
	defer close(m.hbDone)
	value := []byte(time.Now().UTC().Format(time.RFC3339))
	tick := time.NewTicker(m.nodeTTL / 4)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			m.at("heartbeat")
			ctx, cancel := context.WithTimeout(context.Background(), m.nodeTTL/2)
			next, err := m.nodes.Update(ctx, m.cfg.Node, value, rev)
			if errors.Is(err, natsjs.ErrKeyRevisionMismatch) || errors.Is(err, natsjs.ErrKeyNotFound) {
				m.logger.Warn("node's key expired or was taken: registering again", "err", err)
				next, err = m.nodes.Put(ctx, m.cfg.Node, value)
			}
			cancel()
			if err != nil {
				m.logger.Warn("node heartbeat failed", "err", err)
				continue
			}
			rev = next
		case <-m.hbStop:
			ctx, cancel := context.WithTimeout(context.Background(), m.nodeTTL)
			if err := m.nodes.Delete(ctx, m.cfg.Node); err != nil {
				m.logger.Warn("node could not leave the node list (its key expires by itself)", "err", err)
			}
			cancel()
			return
		}
	}
}

func (m *Manager) at(point string) {
	if m.cfg.hold != nil {
		m.cfg.hold(point)
	}
}

// run owns the placement: the live nodes and the lease holders as the
// watchers tell them, the worlds to place and those this node owns. It
// acts (reconcile) after every change and every TTL/4.
func (m *Manager) run(nodeUpdates, leaseUpdates <-chan natsjs.KeyValueEntry) {
	defer close(m.done)
	defer m.unwatch()
	live := map[string]bool{}
	holders := map[string]string{}  // world → node, for leases held
	heard := map[string]time.Time{} // world → when the watcher last told of its lease
	worlds := map[string]bool{}
	for _, w := range m.cfg.Worlds {
		worlds[w] = true
	}
	mine := map[string]*worldState{}
	notBefore := map[string]time.Time{} // a world that failed to open is tried again after it
	nodesReady, leasesReady, stopping := false, false, false
	tick := time.NewTicker(m.leases.ttl / 4)
	defer tick.Stop()
	stop := m.stop
	for {
		select {
		case e, ok := <-nodeUpdates:
			switch {
			case !ok:
				nodeUpdates = nil
				m.logger.Error("the node list's watcher ended")
			case e == nil:
				nodesReady = true // the initial values are in
			case e.Operation() == natsjs.KeyValuePut:
				live[e.Key()] = true
			default:
				delete(live, e.Key())
			}
			nodes := make([]string, 0, len(live))
			for n := range live {
				nodes = append(nodes, n)
			}
			slices.Sort(nodes)
			m.live.Store(&nodes)
		case e, ok := <-leaseUpdates:
			switch {
			case !ok:
				leaseUpdates = nil
				m.logger.Error("the leases' watcher ended")
			case e == nil:
				leasesReady = true
			case e.Operation() == natsjs.KeyValuePut:
				holders[e.Key()] = string(e.Value())
				heard[e.Key()] = time.Now()
			default:
				delete(holders, e.Key())
				delete(heard, e.Key())
			}
		case ws := <-m.setWorld:
			clear(worlds)
			for _, w := range ws {
				worlds[w] = true
			}
		case ev := <-m.events:
			st := mine[ev.world]
			if ev.opened {
				st.opened = true
			} else {
				delete(mine, ev.world)
				if ev.err != nil {
					notBefore[ev.world] = time.Now().Add(m.leases.ttl / 4)
					if !errors.Is(ev.err, ErrLeaseHeld) {
						m.logger.Warn("world left this node", "world", ev.world, "err", ev.err)
					}
				}
			}
			owned := []string{}
			for w, st := range mine {
				if st.opened {
					owned = append(owned, w)
				}
			}
			slices.Sort(owned)
			m.owned.Store(&owned)
		case <-tick.C:
		case <-stop:
			stop = nil // a nil channel: never again
			stopping = true
		}
		m.at("run")
		if stopping && len(mine) == 0 {
			return
		}
		if stopping || nodesReady && leasesReady {
			m.recheck(holders, heard, worlds, mine)
			m.reconcile(live, holders, worlds, mine, notBefore, stopping)
		}
	}
}

// recheck reads from the bucket the lease of each world this node is
// preferred for and does not own, whose holder the watcher has not
// heard of for over TTL + TTL/4: a held lease is renewed every TTL/4, so
// the watcher missed its end. Seen when a NATS server was killed under
// the cluster (the watcher's consumer on it, recreated from after the
// end's marker, or the marker never written): the preferred node then
// waited for ever for a lease nobody held. run's goroutine only; one
// read, bounded by TTL/4, per such world and tick.
func (m *Manager) recheck(holders map[string]string, heard map[string]time.Time, worlds map[string]bool, mine map[string]*worldState) {
	ttl := m.leases.ttl
	nodes := *m.live.Load()
	for w := range holders {
		if !worlds[w] || mine[w] != nil || time.Since(heard[w]) < ttl+ttl/4 || Preferred(nodes, w) != m.cfg.Node {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/4)
		holder, err := m.leases.Holder(ctx, w)
		cancel()
		switch {
		case err != nil:
			m.logger.Warn("reading a lease the watcher has not heard of", "world", w, "err", err)
		case holder == "":
			m.logger.Warn("the leases' watcher missed the end of a lease: taking it from the bucket", "world", w, "holder", holders[w])
			delete(holders, w)
			delete(heard, w)
		default:
			heard[w] = time.Now() // held: read again after another TTL
		}
	}
}

// reconcile hands over the worlds this node should no longer own and
// takes those it should, whose lease is free. run's goroutine only.
func (m *Manager) reconcile(live map[string]bool, holders map[string]string, worlds map[string]bool, mine map[string]*worldState, notBefore map[string]time.Time, stopping bool) {
	nodes := *m.live.Load()
	for w, st := range mine {
		if st.releasing {
			continue
		}
		// With no live node at all (this one's own heartbeat lapsed
		// too), nobody else can be preferred: keep the world.
		if pref := Preferred(nodes, w); stopping || !worlds[w] || pref != "" && pref != m.cfg.Node {
			st.releasing = true
			close(st.release)
		}
	}
	if stopping || !live[m.cfg.Node] {
		return // a node not in the list takes nothing: the others do not count on it
	}
	now := time.Now()
	for w := range worlds {
		if mine[w] != nil || holders[w] != "" || now.Before(notBefore[w]) || Preferred(nodes, w) != m.cfg.Node {
			continue
		}
		delete(notBefore, w)
		st := &worldState{release: make(chan struct{})}
		mine[w] = st
		go m.own(w, st.release)
	}
}

// own takes world (lease, log, Open), serves it until its lease is lost or
// release is closed, then closes it (Close) and tells run. Its own
// goroutine, one per world owned or being taken.
func (m *Manager) own(world string, release <-chan struct{}) {
	err := m.serve(world, release)
	m.events <- worldEvent{world: world, err: err}
}

func (m *Manager) serve(world string, release <-chan struct{}) error {
	ttl := m.leases.ttl
	m.at("acquire")
	ctx, cancel := context.WithTimeout(context.Background(), ttl)
	lease, err := m.leases.Acquire(ctx, world, m.cfg.Node)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), ttl)
		defer cancel()
		if err := lease.Release(ctx); err != nil {
			m.logger.Warn("lease not released (it expires by itself)", "world", world, "err", err)
		}
	}()
	log, err := m.openLog(world, lease)
	if err != nil {
		return err
	}
	octx, ocancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-lease.Lost():
			ocancel()
		case <-octx.Done():
		}
	}()
	err = m.cfg.Open(octx, world, lease.Guard(log))
	ocancel()
	if err != nil {
		return fmt.Errorf("world %s: open: %w", world, err)
	}
	m.events <- worldEvent{world: world, opened: true}
	m.logger.Info("world opened here", "world", world)
	select {
	case <-lease.Lost():
		m.cfg.Close(world, lease.Err())
		return lease.Err()
	case <-release:
		// A hand-over decided on a view older than the lease's end (a
		// node frozen past its TTL, then thawed) is no hand-over.
		if lerr := lease.check(); lerr != nil {
			m.cfg.Close(world, lerr)
			return lerr
		}
		m.cfg.Close(world, nil) // its last batch is durable when it returns
		m.logger.Info("world handed over", "world", world)
		return nil
	}
}

// openLog opens world's log with this node as its owner: the ownership
// marker fenced on the log's head. A marker refused because the previous
// owner wrote in between (it could, until the marker) is tried again on
// the new head, while the lease holds.
func (m *Manager) openLog(world string, lease *Lease) (*Log, error) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), m.leases.ttl)
		log, err := Open(ctx, m.js, world, m.cfg.Node, m.cfg.Log)
		cancel()
		if err == nil || attempt == 3 || !lease.Valid() {
			return log, err
		}
	}
}
