package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/tables"
	"txxt/world"
)

// Cluster is what a server that shares its deployment with other nodes
// (txxt serve --nats) asks about the placement of the teams' worlds. Its
// implementation (cmd/txxt, over jetstream.Manager) calls ServeTeam when
// this node takes a team's world and LeaveTeam when it lets it go. A
// Cluster that is also a Bus carries presence and session revocations
// between the nodes (cluster_presence.go).
type Cluster interface {
	// Node names this node.
	Node() string
	// SetTeams tells the placement the deployment's teams (every node
	// must be given the same list: SyncTeams does).
	SetTeams(slugs []string)
	// Owned lists the teams whose world this node owns, sorted.
	Owned() []string
	// Nodes lists the live nodes, sorted.
	Nodes() []string
	// Owner returns the node owning slug's world ("" when none does).
	Owner(ctx context.Context, slug string) (string, error)
}

// ErrElsewhere refuses what needs a team's engine on a node that does not
// serve the team (another node owns its world).
var ErrElsewhere = errors.New("this team's calendar is kept by another server")

// NewClustered returns the server of a node of a cluster: accounts are the
// deployment's tables every node shares, cl places the teams' worlds. It
// serves no team until cl calls ServeTeam; every team of the teams table
// is known (SyncTeams), so a request for one served elsewhere is answered
// 503 NOT_OWNER with the node that owns it, not 404.
func NewClustered(cfg Config, accounts tables.Tables, cl Cluster) (*Server, error) {
	s, err := newServer(cfg, accounts, nil)
	if err != nil {
		return nil, err
	}
	s.cluster = cl
	if bus, ok := cl.(Bus); ok {
		if err := s.startPresenceLink(bus); err != nil {
			s.Shutdown(context.Background())
			return nil, fmt.Errorf("presence across nodes: %w", err)
		}
	}
	if _, err := s.SyncTeams(); err != nil {
		s.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

// SyncTeams reads the teams table again: a team made on another node
// becomes known here, an archived flag changed elsewhere applies, and the
// cluster is given the list. It returns the slugs. A node calls it when it
// makes a team and every few seconds (the teams table is shared).
func (s *Server) SyncTeams() ([]string, error) {
	list, err := s.accounts.Teams()
	if err != nil {
		return nil, fmt.Errorf("read the teams: %w", err)
	}
	slugs := make([]string, 0, len(list))
	s.teams.mu.Lock()
	if s.teams.elsewhere == nil {
		s.teams.elsewhere = map[string]bool{}
	}
	for _, info := range list {
		slugs = append(slugs, info.Slug)
		if t := s.teams.m[info.Slug]; t != nil {
			t.archived.Store(info.Archived)
		} else {
			s.teams.elsewhere[info.Slug] = info.Archived
		}
	}
	s.teams.mu.Unlock()
	slices.Sort(slugs)
	if s.cluster != nil {
		s.cluster.SetTeams(slugs)
	}
	return slugs, nil
}

// ServeTeam puts a team's world in service on this node: eng is its engine
// (the owner's, on the log the cluster's lease guards), tb its tables. A
// team served already is refused.
func (s *Server) ServeTeam(slug string, eng *engine.Engine, tb tables.Tables) error {
	if s.teams.get(slug) != nil {
		return fmt.Errorf("team %s: served here already", slug)
	}
	t := &team{slug: slug, eng: eng, tb: tb, hub: newHub(s.limits.PresenceListed)}
	if info, err := s.accounts.Team(slug); err == nil {
		t.archived.Store(info.Archived)
	}
	eng.OnBatch(s.metrics.batch)
	eng.SetQuotas(s.cfg.Quotas.engine())
	if s.link != nil {
		t.hub.publish = s.link.publisher(slug)
	}
	s.teams.put(t)
	if s.link != nil {
		s.link.attach(t) // after put: a message in between is applied to this hub already, and a join twice is one
	}
	return nil
}

// LeaveTeam stops serving a team on this node: new requests for it are
// answered as for a team served elsewhere, its engine closes (its last
// batch durable when the world is handed over; nothing more is written
// once it lost its lease), and its game connections close with 1001 so
// their clients reconnect, with `since`, to wherever it is served now. It
// returns when they are closed, or after a bound.
func (s *Server) LeaveTeam(slug string) { s.leaveTeam(slug, nil) }

// SwitchTeam is LeaveTeam for a team whose world this node has just come
// to own, with owner the owner's engine (booted, not served yet): its
// follower hands owner what it could not forward (engine.HandTo), rather
// than refusing it, as the follower closes. ServeTeam then serves owner.
func (s *Server) SwitchTeam(slug string, owner *engine.Engine) { s.leaveTeam(slug, owner) }

func (s *Server) leaveTeam(slug string, owner *engine.Engine) {
	s.teams.mu.Lock()
	t := s.teams.m[slug]
	if t != nil {
		delete(s.teams.m, slug)
		if s.teams.elsewhere == nil {
			s.teams.elsewhere = map[string]bool{}
		}
		s.teams.elsewhere[slug] = t.archived.Load()
	}
	s.teams.mu.Unlock()
	if t == nil {
		return
	}
	conns := t.hub.close()
	for _, c := range conns {
		c.drain()
	}
	if owner != nil {
		t.eng.HandTo(owner)
	}
	if err := t.eng.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
		s.logger.Warn("closing a team's engine", "team", slug, "err", err)
	}
	for _, c := range conns {
		c.kill(websocket.StatusGoingAway, "another server keeps this team now")
	}
	done := make(chan struct{})
	go func() { t.hub.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		for _, c := range conns {
			c.ws.CloseNow()
		}
	}
}

// elsewhere answers a request for a team this node does not serve: to a
// member, 503 NOT_OWNER naming the node that owns it; to anyone else the
// 404 of a team that does not exist, so a team's name tells nothing. When
// the membership cannot be read (a node cut off from NATS), 503 NO_OWNER:
// a 404 would tell a member that the team is gone. The game's upgrade
// comes here before it has authenticated: its session is read here.
func (s *Server) elsewhere(w http.ResponseWriter, r *http.Request, slug string) {
	sess, authed := r.Context().Value(ctxKey{}).(Session)
	if !authed {
		var err error
		if sess, err = s.session(r); err != nil {
			if status, _ := sessionRefusal(err); status == http.StatusServiceUnavailable {
				s.logger.Warn("reading a session", "team", slug, "err", err)
				writeError(w, http.StatusServiceUnavailable, world.CodeNoOwner, msgUnreachable)
				return
			}
			sess = Session{}
		}
	}
	member := sess.insecure || sess.operator
	if !member && !sess.User.IsZero() {
		var err error
		if _, member, err = s.accounts.Role(slug, sess.User); err != nil {
			s.logger.Warn("reading a team's members", "team", slug, "err", err)
			writeError(w, http.StatusServiceUnavailable, world.CodeNoOwner, msgUnreachable)
			return
		}
	}
	if !member {
		writeError(w, http.StatusNotFound, world.CodeNotFound, noTeam(slug))
		return
	}
	owner := ""
	if s.cluster != nil {
		owner, _ = s.cluster.Owner(r.Context(), slug)
	}
	if owner != "" {
		w.Header().Set("X-Txxt-Owner", owner)
	}
	writeError(w, http.StatusServiceUnavailable, world.CodeNotOwner, msgElsewhere)
}

const msgUnreachable = "This server cannot reach the rest of its deployment right now, so it cannot open this team's calendar: try again in a moment."

const msgElsewhere = "This team's calendar is kept by another server of this deployment, which serves it (the X-Txxt-Owner header names it): open it there, or try again in a moment if it is changing hands."

// waitServed waits until slug's world is served here or owned by another
// node, until ctx ends or bound passes: a team just made is taken by its
// node in a moment.
func (s *Server) waitServed(ctx context.Context, slug string, bound time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.teams.get(slug) == nil {
		if owner, err := s.cluster.Owner(ctx, slug); err == nil && owner != "" && owner != s.cluster.Node() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// clusterStatus is /api/status's part about the cluster: this node, the
// live nodes, the teams it owns, and for each team the node that owns it.
func (s *Server) clusterStatus(ctx context.Context) map[string]any {
	owned := s.cluster.Owned()
	owners := map[string]string{}
	slugs := []string{}
	s.teams.mu.RLock()
	for slug := range s.teams.m {
		slugs = append(slugs, slug)
	}
	for slug := range s.teams.elsewhere {
		slugs = append(slugs, slug)
	}
	s.teams.mu.RUnlock()
	for _, slug := range slugs {
		owner, err := s.cluster.Owner(ctx, slug)
		if err != nil {
			owner = "?"
		}
		owners[slug] = owner
	}
	return map[string]any{"node": s.cluster.Node(), "nodes": s.cluster.Nodes(), "owned": owned, "owners": owners}
}

// needsFile answers, on a cluster, what needs the team's own save file
// (a backup download): 501 with what to do instead. A cluster's worlds
// are in JetStream, which keeps them (and is backed up) on its side. The
// history and the past need no file: every node reads them from the
// world's stream (engine.History over jetstream.Log).
func (s *Server) needsFile(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := teamFrom(r).t; t != nil && t.st == nil {
			writeError(w, http.StatusNotImplemented, world.CodeNotFound, msgNoFile)
			return
		}
		next.ServeHTTP(w, r)
	})
}

const msgNoFile = "This server keeps its teams' calendars in a cluster (NATS JetStream), not in a file of its own, so it has no backup to download: back up the JetStream streams and buckets instead (see the README)."

// ClaimDemo reports whether this node is the one to seed the demo into a
// cluster that holds no team yet: the first of the nodes started with
// --demo to store its name under the deployment's "demo" key (a
// compare-and-set, so of nodes starting at once exactly one wins). A
// deployment that holds a team, or was claimed before (even by a node
// that died while seeding), is not seeded again.
func (s *Server) ClaimDemo(node string) (bool, error) {
	if !s.NeedsSetup() {
		return false, nil
	}
	won := false
	err := tables.Do(bg, s.accounts.tb, func(tx tables.Tx) error {
		won = false
		if v, err := tx.Get(tableDeployment, "demo"); err != nil || v != nil {
			return err
		}
		won = true
		return tx.Put(tableDeployment, "demo", []byte(node))
	})
	return won && err == nil, err
}

// RegisterTeam adds a team whose world was made already (a cluster's demo,
// seeded before any other node knew of it) to the teams table, and syncs.
func (s *Server) RegisterTeam(info TeamInfo) error {
	if err := s.accounts.AddTeam(info); err != nil {
		return err
	}
	_, err := s.SyncTeams()
	return err
}
