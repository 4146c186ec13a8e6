package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/jetstream"
	"txxt/server"
	"txxt/tables"
	"txxt/worldlog"
)

// Bucket names of a cluster's tables: the deployment's accounts, and one
// bucket per team (its settings, saved views and feeds).
const (
	accountsBucket   = "TXXT_ACCOUNTS"
	teamBucketPrefix = "TXXT_TEAM_"
)

// clusterFlags are serve's flags for running as a node of a cluster.
type clusterFlags struct {
	urls     *string
	creds    *string
	tlsCA    *string
	tlsCert  *string
	tlsKey   *string
	node     *string
	leaseTTL *time.Duration
	replicas *int
	shards   *int
}

func addClusterFlags(fs *flag.FlagSet, getenv func(string) string) *clusterFlags {
	return &clusterFlags{
		urls:     fs.String("nats", getenv("TXXT_NATS"), "join a cluster: the NATS server(s) to connect to, comma-separated, e.g. nats://127.0.0.1:4222,nats://127.0.0.1:4223 (env TXXT_NATS); the teams' worlds and tables are then kept in JetStream and --data holds only this node's own files"),
		creds:    fs.String("nats-creds", getenv("TXXT_NATS_CREDS"), "with --nats: a NATS credentials file (JWT and NKey seed) (env TXXT_NATS_CREDS)"),
		tlsCA:    fs.String("nats-tls-ca", getenv("TXXT_NATS_TLS_CA"), "with --nats: the CA certificate(s) to verify the NATS servers by, PEM (env TXXT_NATS_TLS_CA)"),
		tlsCert:  fs.String("nats-tls-cert", getenv("TXXT_NATS_TLS_CERT"), "with --nats: this node's client certificate, PEM, with --nats-tls-key (env TXXT_NATS_TLS_CERT)"),
		tlsKey:   fs.String("nats-tls-key", getenv("TXXT_NATS_TLS_KEY"), "with --nats: the client certificate's key, PEM (env TXXT_NATS_TLS_KEY)"),
		node:     fs.String("node", getenv("TXXT_NODE"), "with --nats: this node's name, unique in the cluster and the same across its restarts: letters, digits, '-' and '_' (env TXXT_NODE; default: the host name and the listen port)"),
		leaseTTL: fs.Duration("lease-ttl", jetstream.DefaultLeaseTTL, "with --nats: how long a node that stopped answering keeps its teams before another takes them; every node must be given the same"),
		replicas: fs.Int("nats-replicas", 1, "with --nats: replicas of the streams and buckets txxt creates (3 on a three-node NATS cluster)"),
		shards:   fs.Int("nats-shards", 1, "with --nats: streams the worlds are spread over; fixed once worlds are stored, the same on every node"),
	}
}

// nodeName is the default name of a node: the host name and the port it
// listens on, so that nodes of one machine differ.
func nodeName(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "txxt"
	}
	_, port, _ := net.SplitHostPort(addr)
	name := host
	if port != "" && port != "0" {
		name += "-" + port
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, name)
}

// natsOptions are the connection's options from the flags: as the nats
// CLI takes them.
func (f *clusterFlags) natsOptions(node string, logger *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("txxt " + node),
		nats.MaxReconnects(-1), // a node outlives a NATS restart
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("NATS disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted()) }),
	}
	if *f.creds != "" {
		opts = append(opts, nats.UserCredentials(*f.creds))
	}
	if *f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(*f.tlsCA))
	}
	switch {
	case *f.tlsCert != "" && *f.tlsKey != "":
		opts = append(opts, nats.ClientCert(*f.tlsCert, *f.tlsKey))
	case *f.tlsCert != "" || *f.tlsKey != "":
		return nil, errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	return opts, nil
}

// clusterNode is a txxt node of a cluster: its NATS connection, the
// deployment's tables in JetStream, and the Manager that places the teams'
// worlds. The node serves every team's clients: for a team whose world it
// owns, through the owner's engine (which also takes the commands other
// nodes forward); for any other, through a follower engine, fed from the
// world's stream and forwarding its commands to the owner. The Manager's
// Open switches a team from follower to owner, its Close back.
type clusterNode struct {
	name    string
	nc      *nats.Conn
	js      natsjs.JetStream
	log     jetstream.Options
	tabOpts jetstream.TablesOptions
	logger  *slog.Logger // with the node's name
	base    *slog.Logger
	engine  engine.Options
	srv     *server.Server

	mu       sync.Mutex
	manager  *jetstream.Manager   // nil until started
	worlds   []string             // the teams, as SyncTeams last gave them
	teams    map[string]*teamNode // by slug
	stopping bool                 // set by stop: a world let go is not followed again
}

// teamNode is how this node serves one team.
type teamNode struct {
	mu    sync.Mutex // held across a switch between owner and follower
	role  teamRole
	owner *jetstream.Owner // the command subject, while this node owns the world
	tb    tables.Tables    // opened once
}

type teamRole int

const (
	roleNone teamRole = iota
	roleFollower
	roleOwner
)

// team returns slug's state on this node, made at its first use.
func (n *clusterNode) team(slug string) *teamNode {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.teams == nil {
		n.teams = map[string]*teamNode{}
	}
	tn := n.teams[slug]
	if tn == nil {
		tn = &teamNode{}
		n.teams[slug] = tn
	}
	return tn
}

// tables returns the team's tables, opened at the first call. tn.mu held.
func (n *clusterNode) tables(ctx context.Context, tn *teamNode, slug string) (tables.Tables, error) {
	if tn.tb == nil {
		tb, err := jetstream.OpenTables(ctx, n.js, teamBucketPrefix+slug, n.tabOpts)
		if err != nil {
			return nil, err
		}
		tn.tb = tb
	}
	return tn.tb, nil
}

// joinCluster connects to NATS, sets the streams and buckets up (each
// node does, idempotently), and returns the node's server: the
// deployment's accounts on JetStream tables, the teams' worlds placed by a
// Manager, none served yet (start starts placing them).
func joinCluster(ctx context.Context, f *clusterFlags, addr string, cfg server.Config, eopts engine.Options, logger *slog.Logger) (*clusterNode, error) {
	name := *f.node
	if name == "" {
		name = nodeName(addr)
	}
	opts, err := f.natsOptions(name, logger)
	if err != nil {
		return nil, refused(err)
	}
	nc, err := nats.Connect(*f.urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", *f.urls, err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	n := &clusterNode{name: name, nc: nc, js: js, logger: logger.With("node", name), base: logger, engine: eopts,
		log:     jetstream.Options{Shards: *f.shards, Replicas: *f.replicas},
		tabOpts: jetstream.TablesOptions{Replicas: *f.replicas}}
	fail := func(err error) (*clusterNode, error) {
		nc.Close()
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := jetstream.Setup(sctx, js, n.log); err != nil {
		return fail(err)
	}
	if err := jetstream.SetupOwnership(sctx, js, jetstream.OwnershipOptions{TTL: *f.leaseTTL, Replicas: *f.replicas}); err != nil {
		return fail(err)
	}
	accounts, err := jetstream.OpenTables(sctx, js, accountsBucket, n.tabOpts)
	if err != nil {
		return fail(err)
	}
	n.srv, err = server.NewClustered(cfg, accounts, n)
	if err != nil {
		return fail(err)
	}
	return n, nil
}

// start follows every team, then starts placing the teams' worlds: this
// node takes those it is preferred for (switching them from follower to
// owner).
func (n *clusterNode) start(ctx context.Context) error {
	n.mu.Lock()
	worlds := n.worlds
	n.mu.Unlock()
	n.followAll(worlds) // until the Manager opens here those this node owns
	m, err := jetstream.StartManager(ctx, n.js, jetstream.ManagerConfig{
		Node: n.name, Worlds: worlds, Log: n.log, Logger: n.base,
		Open: n.open, Close: n.close,
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.manager = m
	worlds = n.worlds // SyncTeams may have run meanwhile
	n.mu.Unlock()
	m.SetWorlds(worlds)
	return nil
}

// open is the Manager's Open: the owner's engine boots on the guarded log
// (the newest snapshot, then the log after it) and takes the commands
// other nodes forward; then the team's follower here, if any, closes
// (what it has queued, and what its last forward could not place while
// the world had no owner, is handed to that engine and answered with the
// same origins, so the retry table holds; its game connections close
// with 1001 and reconnect, to the owner's engine), and
// the owner's engine is served here. In that order, because a follower
// that closes first would wait for an owner to forward to, and none would
// answer until this one serves.
func (n *clusterNode) open(ctx context.Context, slug string, log worldlog.Log) error {
	tn := n.team(slug)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tb, err := n.tables(ctx, tn, slug)
	if err != nil {
		return err
	}
	eng, err := n.boot(slug, log)
	if err != nil {
		return err
	}
	owner, err := jetstream.Serve(n.nc, slug, eng)
	if err != nil {
		eng.Close()
		return err
	}
	if tn.role == roleFollower {
		n.srv.SwitchTeam(slug, eng) // what the follower could not forward goes to eng
		tn.role = roleNone
	}
	if err := n.srv.ServeTeam(slug, eng, tb); err != nil {
		owner.Close()
		eng.Close()
		return err
	}
	tn.role, tn.owner = roleOwner, owner
	return nil
}

// boot opens the owner's engine on log.
func (n *clusterNode) boot(slug string, log worldlog.Log) (*engine.Engine, error) {
	opts := n.engine
	opts.Logger = n.logger.With("team", slug)
	eng, err := engine.Open(log, opts)
	if err != nil {
		return nil, fmt.Errorf("boot team %s: %w", slug, err)
	}
	return eng, nil
}

// close is the Manager's Close: the team's commands subject is let go,
// its owner engine closes (its last batch durable on a hand-over) and its
// connections are told to reconnect; then the node follows the team
// again, unless it is stopping.
func (n *clusterNode) close(slug string, lost error) {
	if lost != nil {
		n.logger.Warn("team lost", "team", slug, "err", lost)
	}
	tn := n.team(slug)
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.owner != nil {
		if err := tn.owner.Close(); err != nil {
			n.logger.Warn("stop serving a team's commands", "team", slug, "err", err)
		}
		tn.owner = nil
	}
	n.srv.LeaveTeam(slug)
	tn.role = roleNone
	n.mu.Lock()
	follow := !n.stopping && slices.Contains(n.worlds, slug)
	n.mu.Unlock()
	if follow {
		n.follow(tn, slug)
	}
}

// follow serves a team this node does not own through a follower engine.
// A follower that cannot start is tried again at the next reading of the
// teams (every second). tn.mu held.
func (n *clusterNode) follow(tn *teamNode, slug string) {
	if tn.role != roleNone {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() error {
		tb, err := n.tables(ctx, tn, slug)
		if err != nil {
			return err
		}
		log, err := jetstream.OpenReader(ctx, n.js, slug, n.log)
		if err != nil {
			return err
		}
		opts := n.engine
		opts.Logger = n.logger.With("team", slug, "follower", true)
		eng, err := engine.Follow(log, jetstream.NewForwarder(n.nc, slug, jetstream.ForwardOptions{}), opts)
		if err != nil {
			return err
		}
		if err := n.srv.ServeTeam(slug, eng, tb); err != nil {
			eng.Close()
			return err
		}
		return nil
	}()
	if err != nil {
		n.logger.Warn("following a team", "team", slug, "err", err)
		return
	}
	tn.role = roleFollower
}

// followAll follows every team served by nobody here (a team just made, or
// one whose follower could not start), skipping a team in the middle of a
// switch.
func (n *clusterNode) followAll(slugs []string) {
	for _, slug := range slugs {
		tn := n.team(slug)
		if !tn.mu.TryLock() {
			continue
		}
		n.mu.Lock()
		stopping := n.stopping
		n.mu.Unlock()
		if !stopping {
			n.follow(tn, slug)
		}
		tn.mu.Unlock()
	}
}

// seedDemo seeds the demo into a cluster that holds no team yet, when this
// node is the first of those started with --demo to claim it. The demo's
// world is written before any other node knows of it (its log opened
// here, without a lease: no node places a world that is not in the teams
// table), then registered, and the Manager places it like any team. It
// reports whether it seeded.
func (n *clusterNode) seedDemo(ctx context.Context, d server.Demo) (bool, error) {
	won, err := n.srv.ClaimDemo(n.name)
	if err != nil || !won {
		return false, err
	}
	log, err := jetstream.Open(ctx, n.js, server.DemoTeam, n.name, n.log)
	if err != nil {
		return false, err
	}
	tn := n.team(server.DemoTeam)
	tn.mu.Lock()
	defer tn.mu.Unlock() // the team is not followed before it is registered
	tb, err := n.tables(ctx, tn, server.DemoTeam)
	if err != nil {
		return false, err
	}
	eng, err := n.boot(server.DemoTeam, log)
	if err != nil {
		return false, err
	}
	if err := n.srv.ServeTeam(server.DemoTeam, eng, tb); err != nil {
		eng.Close()
		return false, err
	}
	err = n.srv.SeedDemo(ctx, server.DemoTeam, time.Now(), d)
	n.srv.LeaveTeam(server.DemoTeam) // its last batch durable
	if err != nil {
		return false, fmt.Errorf("seed demo data: %w", err)
	}
	return true, n.srv.RegisterTeam(server.TeamInfo{Slug: server.DemoTeam, Name: "Demo team", Created: time.Now().UTC()})
}

// syncTeams reads the shared teams table every interval, so that a team
// made on another node is placed here too, until ctx ends.
func (n *clusterNode) syncTeams(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := n.srv.SyncTeams(); err != nil {
				n.logger.Warn("reading the teams", "err", err)
			}
		}
	}
}

// stop hands every world this node owns over (each engine's last batch
// durable, its lease released so the next node takes it at once), then
// leaves NATS.
func (n *clusterNode) stop(ctx context.Context) error {
	n.mu.Lock()
	m := n.manager
	n.stopping = true
	n.mu.Unlock()
	var err error
	if m != nil {
		err = m.Stop(ctx)
	}
	return err
}

// The server's Cluster.

func (n *clusterNode) Node() string { return n.name }

func (n *clusterNode) SetTeams(slugs []string) {
	n.mu.Lock()
	n.worlds = slugs
	m := n.manager
	n.mu.Unlock()
	if m != nil { // started: its teams are followed
		m.SetWorlds(slugs)
		n.followAll(slugs)
	}
}

func (n *clusterNode) Owned() []string {
	n.mu.Lock()
	m := n.manager
	n.mu.Unlock()
	if m == nil {
		return []string{}
	}
	return m.Owned()
}

func (n *clusterNode) Nodes() []string {
	n.mu.Lock()
	m := n.manager
	n.mu.Unlock()
	if m == nil {
		return []string{}
	}
	return m.Nodes()
}

func (n *clusterNode) Owner(ctx context.Context, slug string) (string, error) {
	n.mu.Lock()
	m := n.manager
	n.mu.Unlock()
	if m == nil {
		return "", nil
	}
	return m.Owner(ctx, slug)
}

// The server's Bus: core NATS subjects, for presence and revocations,
// which are not durable state (nothing keeps them; a node sends its
// presence again in full every few seconds).

func (n *clusterNode) Publish(subject string, data []byte) error {
	return n.nc.Publish(subject, data)
}

func (n *clusterNode) Subscribe(subject string, fn func(subject string, data []byte)) (func(), error) {
	sub, err := n.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Subject, m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	return func() { sub.Unsubscribe() }, nil
}
