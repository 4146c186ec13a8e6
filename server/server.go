// Package server puts an engine on the network: the WebSocket game
// endpoint, login, and the JSON API. routes.go lists every route.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/store"
	"txxt/wire"
)

// Limits bound what one connection may cost the server.
type Limits struct {
	MaxFrame     int           // bytes; a bigger frame closes the connection with 1009 (default 64 KiB)
	MaxInflight  int           // unanswered commands per connection (default 256)
	CommandRate  float64       // commands per second per connection, sustained (default 200)
	CommandBurst float64       // and in a burst (default 400)
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
	Logger         *slog.Logger
	Now            func() time.Time
}

// Server serves one engine. Create it with New; Shutdown ends it.
type Server struct {
	cfg      Config
	limits   Limits
	eng      *engine.Engine
	st       *store.Store
	accounts *Accounts
	hub      *hub
	metrics  *metrics
	logins   *loginLimiter
	perHost  *hostConns // game connections per remote host
	hashing  semaphore
	tracer   *slowTracer // nil unless Config.TraceSlow
	logger   *slog.Logger
	now      func() time.Time
	started  time.Time
	stop     chan struct{}
}

// New returns a server for eng, whose save file is st. It fails only when
// Config.TraceSlow asks for a trace flight recorder and one cannot start.
func New(cfg Config, eng *engine.Engine, st *store.Store) (*Server, error) {
	cfg.Limits.fill()
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
		cfg: cfg, limits: cfg.Limits, eng: eng, st: st,
		accounts: NewAccounts(st, cfg.HashParams, cfg.SessionTTL, cfg.Now),
		hub:      newHub(),
		metrics:  newMetrics(cfg.NoTimings),
		logins:   newLoginLimiter(),
		perHost:  newHostConns(cfg.Limits.MaxConnsPerHost),
		hashing:  make(semaphore, max(1, runtime.GOMAXPROCS(0))),
		logger:   cfg.Logger,
		now:      cfg.Now,
		started:  cfg.Now(),
		stop:     make(chan struct{}),
	}
	if cfg.TraceSlow > 0 {
		t, err := startTracer(cfg.TraceDir, cfg.Logger)
		if err != nil {
			return nil, err
		}
		s.tracer = t
	}
	eng.OnBatch(s.metrics.batch)
	go s.watch()
	return s, nil
}

// Accounts returns the server's users and sessions.
func (s *Server) Accounts() *Accounts { return s.accounts }

// watch tells v1 clients when the engine's health changes (checked every
// second), pushes telemetry every TelemetryEvery, and sweeps expired
// sessions hourly, until Shutdown.
func (s *Server) watch() {
	health := time.NewTicker(time.Second)
	defer health.Stop()
	telemetry := time.NewTicker(s.cfg.TelemetryEvery)
	defer telemetry.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	var degraded bool
	s.sweep()
	for {
		select {
		case <-s.stop:
			return
		case <-health.C:
			if h := s.eng.Health(); h.Degraded != degraded {
				degraded = h.Degraded
				s.hub.broadcast(s.stateFrame(), false)
			}
		case <-telemetry.C:
			s.hub.broadcast(s.metrics.telemetry(s.now(), uint32(s.cfg.TelemetryEvery.Milliseconds())), true)
		case <-sweep.C:
			s.sweep()
		}
	}
}

func (s *Server) sweep() {
	if _, err := s.accounts.Sweep(); err != nil {
		s.logger.Warn("sweeping expired sessions", "err", err)
	}
}

// stateFrame is a ServerState frame with the engine's health.
func (s *Server) stateFrame() []byte {
	st := wire.ServerState{State: wire.StateOK}
	if h := s.eng.Health(); h.Degraded {
		st = wire.ServerState{State: wire.StateDegraded, Reason: h.Reason}
	}
	return wire.AppendServerState(nil, &st)
}

// Shutdown stops the game: new commands are refused, the engine finishes
// what it has queued and closes, each connection gets its answers and then
// a close with 1001 (going away: reconnect), and Shutdown waits for them
// (until ctx ends). The caller stops its http.Server first and closes the
// store after.
func (s *Server) Shutdown(ctx context.Context) error {
	close(s.stop)
	if s.tracer != nil {
		defer s.tracer.stop()
	}
	conns := s.hub.close()
	for _, c := range conns {
		c.drain()
	}
	err := s.eng.Close()
	for _, c := range conns {
		c.kill(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		s.hub.wg.Wait()
		close(done)
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

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler { return s.routes() }

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
