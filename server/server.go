// Package server puts an engine on the network: the WebSocket game
// endpoint, login, and the JSON API. routes.go lists every route.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/store"
	"txxt/tables"
	"txxt/wire"
)

// Limits bound what one connection may cost the server.
type Limits struct {
	MaxFrame     int           // bytes; a bigger frame closes the connection with 1009 (default 64 KiB)
	MaxInflight  int           // unanswered commands per connection (default 256)
	CommandRate  float64       // commands per second per user per team, over all their connections, sustained (default 200)
	CommandBurst float64       // and in a burst (default 400)
	PingRate     float64       // protocol Pings (0x20) per second per connection, sustained (default 10)
	PingBurst    float64       // and in a burst (default 20)
	ReadRate     float64       // bytes read per second per connection, sustained (default 256 KiB)
	ReadBurst    float64       // and in a burst (default 2 × MaxFrame, at least ReadRate)
	MaxBadFrames int           // malformed frames in a row before the connection is closed (default 16)
	PingInterval time.Duration // keepalive (default 15s)
	PongTimeout  time.Duration // a ping unanswered this long closes the connection (default 10s)
	WriteTimeout time.Duration // a frame not written in this long closes the connection (default 10s)
	MaxBody      int64         // REST request bodies (default 64 KiB)

	// MaxConnsPerHost bounds the game connections open at once from one
	// remote address (the host, without the port); one more is refused
	// before the upgrade with 429 TOO_MANY_CONNECTIONS. Default
	// DefaultMaxConnsPerHost; negative: no limit.
	MaxConnsPerHost int

	// MaxConnsPerUser bounds the game connections one user has open at
	// once, over every team and address (default DefaultMaxConnsPerUser);
	// MaxConns bounds them all together (default DefaultMaxConns). One
	// more is refused before the upgrade with 429 TOO_MANY_CONNECTIONS.
	// Negative: no limit.
	MaxConnsPerUser int
	MaxConns        int

	// PresenceListed bounds the connections a team's presence lists
	// (default DefaultPresenceListed; negative: no bound): the earliest
	// to arrive; a later one is listed when a listed one leaves.
	PresenceListed int

	// The HTTP server's timeouts (HTTPServer), which a game connection
	// leaves behind when it upgrades (it has the keepalive instead).
	HeaderTimeout time.Duration // a request's header must arrive within this, else the connection is closed (default 5s)
	ReadTimeout   time.Duration // and its header and body within this (default 30s)
	IdleTimeout   time.Duration // a kept-alive connection with no request for this long is closed (default 120s)
}

// DefaultMaxConnsPerHost is Limits.MaxConnsPerHost's default: room for a
// team behind one NAT address with a few tabs each (each tab is a
// connection), while the idle connections of one address hold about
// 2.3 MB of the server's memory (docs/BENCHMARKS.md: 17.9 KB each).
const DefaultMaxConnsPerHost = 128

// DefaultMaxConnsPerUser and DefaultMaxConns are the defaults of
// Limits.MaxConnsPerUser and MaxConns: a person with many tabs and devices
// stays far below the first; the second keeps the memory of the idle
// connections near 400 MB (17.9 KB each) and the descriptors within a
// usual limit.
const (
	DefaultMaxConnsPerUser = 64
	DefaultMaxConns        = 20000
)

func (l *Limits) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxFrame, 64<<10)
	def(&l.MaxInflight, 256)
	def(&l.MaxBadFrames, 16)
	if l.MaxConnsPerHost == 0 {
		l.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if l.MaxConnsPerUser == 0 {
		l.MaxConnsPerUser = DefaultMaxConnsPerUser
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.PresenceListed == 0 {
		l.PresenceListed = DefaultPresenceListed
	}
	if l.PingRate <= 0 {
		l.PingRate = 10
	}
	if l.PingBurst <= 0 {
		l.PingBurst = 2 * l.PingRate
	}
	if l.ReadRate <= 0 {
		l.ReadRate = 256 << 10
	}
	if l.ReadBurst <= 0 {
		l.ReadBurst = max(2*float64(l.MaxFrame), l.ReadRate)
	}
	if l.CommandRate <= 0 {
		l.CommandRate = 200
	}
	if l.CommandBurst <= 0 {
		l.CommandBurst = 2 * l.CommandRate
	}
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&l.PingInterval, 15 * time.Second}, {&l.PongTimeout, 10 * time.Second}, {&l.WriteTimeout, 10 * time.Second},
		{&l.HeaderTimeout, 5 * time.Second}, {&l.ReadTimeout, 30 * time.Second}, {&l.IdleTimeout, 120 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if l.MaxBody <= 0 {
		l.MaxBody = 64 << 10
	}
}

// Config is what a Server needs besides its engine and store.
type Config struct {
	Version        string
	AllowedOrigins []string // origins allowed besides the server's own, e.g. "https://cal.example.com"
	InsecureNoAuth bool     // no login: every connection is an admin called "dev" (local development only)
	SessionTTL     time.Duration
	TelemetryEvery time.Duration // how often v1 clients get a Telemetry frame (default 5s)
	NoTimings      bool          // record no stage timings (to measure what they cost; the engine has its own switch)
	TraceSlow      time.Duration // >0: keep a trace flight recorder, and write a trace when a command takes this long
	TraceDir       string        // where slow-command traces go (default: the system's temporary directory)
	HashParams     HashParams
	Limits         Limits
	Quotas         Quotas
	// PublicURL is the address people reach the server at (for the links
	// it makes: invitations, setup), e.g. "https://cal.example.com"; empty:
	// the address of each request.
	PublicURL string
	// TrustedProxies are the addresses (IPs, as the connection's remote
	// address has them) of reverse proxies whose X-Forwarded-Proto the
	// server believes: a request through one that says https gets a
	// Secure session cookie, and its Origin is compared with https.
	TrustedProxies []string
	Logger         *slog.Logger
	Now            func() time.Time
}

// Server serves a deployment: its accounts, and its teams, each one world
// with its own engine. Create it with New (one save file, one team) or
// NewDeployment (a data directory); Shutdown ends it.
type Server struct {
	cfg        Config
	limits     Limits
	accounts   *Accounts
	teams      teams
	open       TeamOpener    // nil: New's single save file, no team can be added
	cluster    Cluster       // nil unless the deployment is shared by several nodes (NewClustered)
	link       *presenceLink // presence and revocations across nodes: nil unless cluster is a Bus
	creating   sync.Mutex    // held while a team is created
	settingUp  sync.Mutex    // one setup at a time: its token is checked, used, then spent
	metrics    *metrics
	logins     *loginLimiter
	perHost    *hostConns  // game connections per remote host
	stalls     stalls      // when the process did not run (watch beats)
	conns      *connCounts // game connections per user and in total
	hashing    semaphore
	pasts      semaphore   // past worlds being rebuilt at once (each holds a whole world in memory)
	feedLimits feedLimiter // calendar feed fetches, per token
	feedZones  zoneCache   // each time zone's VTIMEZONE, built once
	tracer     *slowTracer // nil unless Config.TraceSlow
	logger     *slog.Logger
	now        func() time.Time
	started    time.Time
	stop       chan struct{}
}

// New returns a server of one team, slug "main", whose world is eng in the
// save file st, which also holds the deployment's accounts: the layout of
// a save file before data directories, kept for tools and tests. Its users
// become the team's members with their roles. It fails when the file's
// tables cannot be read, or when Config.TraceSlow asks for a trace flight
// recorder and one cannot start.
func New(cfg Config, eng *engine.Engine, st *store.Store) (*Server, error) {
	s, err := newServer(cfg, st, nil)
	if err != nil {
		return nil, err
	}
	if err := s.adopt(MainTeam, "Main", st); err != nil {
		s.Shutdown(context.Background())
		return nil, err
	}
	s.addTeam(MainTeam, eng, st, nil)
	return s, nil
}

// MainTeam is the slug of the team a save file of the time before data
// directories becomes.
const MainTeam = "main"

// NewDeployment returns the server of a data directory: accounts holds
// its accounts' tables (its accounts file, or tables several nodes
// share), and open opens a team's world by its slug, for each team
// the accounts file lists (at start) and for each one created later. Team
// files listed in adopt (slugs whose save files predate data directories,
// or were put in the directory by hand) are adopted first: their users
// become accounts and members.
func NewDeployment(cfg Config, accounts tables.Tables, open TeamOpener, adopt []string) (*Server, error) {
	s, err := newServer(cfg, accounts, open)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		s.Shutdown(context.Background())
		return nil, err
	}
	registered := map[string]bool{}
	list, err := s.accounts.Teams()
	if err != nil {
		return fail(fmt.Errorf("read the teams: %w", err))
	}
	for _, t := range list {
		registered[t.Slug] = true
	}
	for _, slug := range adopt {
		if registered[slug] {
			continue
		}
		eng, st, err := open(slug)
		if err != nil {
			return fail(fmt.Errorf("open team %s: %w", slug, err))
		}
		s.addTeam(slug, eng, st, st.Close)
		name := strings.ToUpper(slug[:1]) + slug[1:]
		if err := s.adopt(slug, name, st); err != nil {
			return fail(fmt.Errorf("adopt team %s: %w", slug, err))
		}
		s.logger.Info("adopted a save file as a team", "team", slug, "file", st.Path())
		registered[slug] = true
	}
	for _, t := range list {
		if s.teams.get(t.Slug) != nil {
			continue
		}
		eng, st, err := open(t.Slug)
		if err != nil {
			return fail(fmt.Errorf("open team %s: %w", t.Slug, err))
		}
		s.addTeam(t.Slug, eng, st, st.Close)
	}
	return s, nil
}

func newServer(cfg Config, accounts tables.Tables, open TeamOpener) (*Server, error) {
	cfg.Limits.fill()
	cfg.Quotas.fill()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TelemetryEvery <= 0 {
		cfg.TelemetryEvery = 5 * time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.HashParams == (HashParams{}) {
		cfg.HashParams = DefaultHashParams
	}
	s := &Server{
		cfg: cfg, limits: cfg.Limits, open: open,
		accounts: NewAccounts(accounts, cfg.HashParams, cfg.SessionTTL, cfg.Now),
		teams:    teams{m: map[string]*team{}},
		metrics:  newMetrics(cfg.NoTimings),
		logins:   newLoginLimiter(),
		perHost:  newHostConns(cfg.Limits.MaxConnsPerHost),
		conns:    newConnCounts(cfg.Limits.MaxConnsPerUser, cfg.Limits.MaxConns),
		hashing:  make(semaphore, max(1, runtime.GOMAXPROCS(0))),
		pasts:    make(semaphore, max(1, runtime.GOMAXPROCS(0))),
		logger:   cfg.Logger,
		now:      cfg.Now,
		started:  cfg.Now(),
		stop:     make(chan struct{}),
	}
	s.accounts.MaxSessions = max(cfg.Quotas.Sessions, 0)
	s.accounts.OnEnded = s.revoke
	if cfg.TraceSlow > 0 {
		t, err := startTracer(cfg.TraceDir, cfg.Logger)
		if err != nil {
			return nil, err
		}
		s.tracer = t
	}
	go s.watch()
	return s, nil
}

// Accounts returns the server's users and sessions.
func (s *Server) Accounts() *Accounts { return s.accounts }

// watch tells v1 clients when the engine's health changes (checked every
// second), pushes telemetry every TelemetryEvery, sweeps expired sessions
// hourly, and beats for the stall detector every stallBeat, until
// Shutdown.
func (s *Server) watch() {
	health := time.NewTicker(time.Second)
	defer health.Stop()
	telemetry := time.NewTicker(s.cfg.TelemetryEvery)
	defer telemetry.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	beat := time.NewTicker(stallBeat)
	defer beat.Stop()
	s.stalls.beat(s.now())
	degraded := map[*team]bool{}
	s.sweep()
	for {
		select {
		case <-s.stop:
			return
		case <-health.C:
			for _, t := range s.teams.all() {
				if h := t.eng.Health(); h.Degraded != degraded[t] {
					degraded[t] = h.Degraded
					t.hub.broadcast(t.stateFrame(), false)
				}
			}
		case <-telemetry.C:
			frame := s.metrics.telemetry(s.now(), uint32(s.cfg.TelemetryEvery.Milliseconds()))
			for _, t := range s.teams.all() {
				t.hub.broadcast(frame, true)
			}
		case <-sweep.C:
			s.sweep()
		case <-beat.C:
			s.stalls.beat(s.now())
		}
	}
}

func (s *Server) sweep() {
	if _, err := s.accounts.Sweep(); err != nil {
		s.logger.Warn("sweeping expired sessions", "err", err)
	}
}

// stateFrame is a ServerState frame with the team's engine's health.
func (t *team) stateFrame() []byte {
	st := wire.ServerState{State: wire.StateOK}
	if h := t.eng.Health(); h.Degraded {
		st = wire.ServerState{State: wire.StateDegraded, Reason: h.Reason}
	}
	return wire.AppendServerState(nil, &st)
}

// Shutdown stops the game: new commands are refused, every team's engine
// finishes what it has queued and closes, each connection gets its answers
// and then a close with 1001 (going away: reconnect), and Shutdown waits
// for them (until ctx ends). The teams' save files that NewDeployment's
// opener opened are closed; the caller stops its http.Server first and
// closes the accounts file (and New's save file) after.
func (s *Server) Shutdown(ctx context.Context) error {
	close(s.stop)
	if s.tracer != nil {
		defer s.tracer.stop()
	}
	all := s.teams.all()
	var conns []*conn
	for _, t := range all {
		conns = append(conns, t.hub.close()...)
	}
	for _, c := range conns {
		c.drain()
	}
	var err error
	for _, t := range all {
		if e := t.eng.Close(); e != nil && err == nil {
			err = e
		}
	}
	for _, c := range conns {
		c.kill(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		for _, t := range all {
			t.hub.wg.Wait()
		}
		close(done)
	}()
	defer func() {
		for _, t := range all {
			if t.closeStore != nil {
				if e := t.closeStore(); e != nil {
					s.logger.Warn("closing a team's save file", "team", t.slug, "err", e)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.ws.CloseNow()
		}
	}
	return err
}

// Handler returns the server's routes, for the names the server answers
// to (checkHost).
func (s *Server) Handler() http.Handler { return s.checkHost(s.routes()) }

// HTTPServer returns an http.Server for the routes with the limits'
// timeouts: a client that sends its request slowly (slowloris), or opens a
// connection and sends nothing, or keeps one alive doing nothing, is
// closed. A game connection leaves these timeouts when it upgrades.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.limits.HeaderTimeout,
		ReadTimeout:       s.limits.ReadTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
	}
}
