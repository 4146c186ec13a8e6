package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
)

// envOr returns the environment's value for key, else def.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// envInt returns the environment's value for key as a number, else def.
func envInt(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number", key, v)
	}
	return n, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "TXXT_ADDR", "127.0.0.1:3000"), "listen address (env TXXT_ADDR)")
	data := dataFlag(fs, getenv)
	origins := fs.String("origins", getenv("TXXT_ALLOWED_ORIGINS"), "comma-separated origins allowed besides the server's own (env TXXT_ALLOWED_ORIGINS)")
	trusted := fs.String("trusted-proxy", getenv("TXXT_TRUSTED_PROXY"), "comma-separated addresses of reverse proxies whose X-Forwarded-Proto is believed, e.g. 127.0.0.1 (env TXXT_TRUSTED_PROXY; none by default)")
	demo := fs.Bool("demo", false, "seed a new data directory with a demo team and the login demo/demo")
	publicURL := fs.String("public-url", getenv("TXXT_PUBLIC_URL"), "the address people reach the server at, for the links it makes, e.g. https://cal.example.com (env TXXT_PUBLIC_URL; default: the listen address)")
	demoTasks := fs.Int("demo-tasks", 200, "with --demo: how many tasks to seed")
	demoWeeks := fs.Int("demo-weeks", 3, "with --demo: over how many weeks around this one (1: this week only)")
	insecure := fs.Bool("insecure-no-auth", envOr(getenv, "TXXT_INSECURE_NO_AUTH", "") == "1", "no login: everyone is an admin (local development only; env TXXT_INSECURE_NO_AUTH=1)")
	verbose := fs.Bool("v", false, "log each connection, and each command with its stage timings")
	pprofAddr := fs.String("pprof", getenv("TXXT_PPROF"), "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (env TXXT_PPROF; off by default)")
	traceSlow := fs.Duration("trace-slow", 0, "keep an execution trace flight recorder and write the last seconds of trace when a command takes this long, e.g. 50ms (off by default)")
	traceDir := fs.String("trace-dir", "", "where --trace-slow writes its traces (default: the system's temporary directory)")
	perCommand := fs.Bool("commit-per-command", false, "for measurement only: one commit per command, as the original did, instead of group commit")
	perHostDef, err := envInt(getenv, "TXXT_MAX_CONNS_PER_HOST", server.DefaultMaxConnsPerHost)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return exitCode(2)
	}
	perHost := fs.Int("max-conns-per-host", perHostDef, "game connections open at once from one address; 0: no limit (env TXXT_MAX_CONNS_PER_HOST)")
	var quotas server.Quotas
	for _, q := range []struct {
		v          *int
		name, what string
	}{
		{&quotas.Teams, "max-teams", "teams in the deployment (default 1000)"},
		{&quotas.Members, "max-members-per-team", "members of one team (default 1000)"},
		{&quotas.Services, "max-services-per-team", "services of one team (default 1000)"},
		{&quotas.Tasks, "max-tasks-per-team", "tasks of one team (default 100000)"},
		{&quotas.Views, "max-views-per-user", "saved views of one user in one team (default 50)"},
		{&quotas.ViewBytes, "max-view-bytes", "bytes of one saved view (default 8192)"},
		{&quotas.Sessions, "max-sessions-per-user", "sessions of one user; a login past it ends the oldest (default 100)"},
	} {
		env := "TXXT_" + strings.ToUpper(strings.ReplaceAll(q.name, "-", "_"))
		def, err := envInt(getenv, env, 0)
		if err != nil {
			fmt.Fprintln(stderr, "serve:", err)
			return exitCode(2)
		}
		fs.IntVar(q.v, q.name, def, q.what+"; -1: no limit (env "+env+")")
	}
	perUserDef, err := envInt(getenv, "TXXT_MAX_CONNS_PER_USER", server.DefaultMaxConnsPerUser)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return exitCode(2)
	}
	perUser := fs.Int("max-conns-per-user", perUserDef, "game connections one user has open at once, over every team and address; 0: no limit (env TXXT_MAX_CONNS_PER_USER)")
	totalDef, err := envInt(getenv, "TXXT_MAX_CONNS", server.DefaultMaxConns)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return exitCode(2)
	}
	total := fs.Int("max-conns", totalDef, "game connections open at once in all; 0: no limit (env TXXT_MAX_CONNS)")
	rateDef, err := envInt(getenv, "TXXT_COMMAND_RATE", 200)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return exitCode(2)
	}
	cluster := addClusterFlags(fs, getenv)
	rate := fs.Int("command-rate", rateDef, "commands a second one user may send to one team, over all their connections, in bursts of twice that (env TXXT_COMMAND_RATE)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	loopback := isLoopback(*addr)
	if *insecure && !loopback {
		fmt.Fprintf(stderr, "serve: --insecure-no-auth lets anyone who reaches the server in as an admin, so it listens only on loopback (127.0.0.1, [::1] or localhost), not on %q: use --addr 127.0.0.1:PORT, or log in\n", *addr)
		return exitCode(2)
	}
	if *demoTasks < 0 || *demoWeeks < 1 {
		fmt.Fprintln(stderr, "serve: --demo-tasks must be ≥ 0 and --demo-weeks ≥ 1")
		return exitCode(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	clustered := *cluster.urls != ""
	var (
		dir      string
		accounts *store.Store
		open     server.TeamOpener
		slugs    []string
	)
	if clustered {
		// A node of a cluster keeps its teams in JetStream: its data
		// directory holds only its own files (the admin socket).
		dir = *data
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return refused(fmt.Errorf("data directory %s: %w", dir, err))
		}
	} else {
		if dir, err = prepareData(*data, fs, getenv, logger); err != nil {
			return err
		}
		if accounts, err = openSaveFileLogged(filepath.Join(dir, store.AccountsFile), logger); err != nil {
			return err
		}
		defer accounts.Close()
		open = teamOpener(dir, logger, engine.Options{CommitPerCommand: *perCommand})
		if slugs, err = store.TeamSlugs(dir); err != nil {
			return err
		}
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	var proxies []string
	for _, p := range strings.Split(*trusted, ",") {
		if p = strings.TrimSpace(p); p != "" {
			proxies = append(proxies, p)
		}
	}
	limits := server.Limits{MaxConnsPerHost: *perHost, MaxConnsPerUser: *perUser, MaxConns: *total, CommandRate: float64(*rate)}
	for _, v := range []*int{&limits.MaxConnsPerHost, &limits.MaxConnsPerUser, &limits.MaxConns} {
		if *v <= 0 {
			*v = -1 // no limit
		}
	}
	files := fileLimit(logger, limits.MaxConns, len(slugs))
	tcp, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ln := &fdListener{Listener: tcp, logger: logger, limit: files}
	defer ln.Close()
	base := strings.TrimSuffix(*publicURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	booted := time.Now()
	cfg := server.Config{Version: version, AllowedOrigins: allowed, InsecureNoAuth: *insecure, Logger: logger,
		TraceSlow: *traceSlow, TraceDir: *traceDir, Limits: limits, Quotas: quotas, PublicURL: *publicURL, TrustedProxies: proxies}
	var (
		srv  *server.Server
		node *clusterNode
	)
	if clustered {
		node, err = joinCluster(ctx, cluster, ln.Addr().String(), cfg, engine.Options{CommitPerCommand: *perCommand}, logger)
		if err != nil {
			return err
		}
		defer node.nc.Close()
		srv = node.srv
		logger.Info("joined the cluster", "node", node.name, "nats", node.nc.ConnectedUrlRedacted(), "took", time.Since(booted).Round(time.Millisecond))
	} else {
		srv, err = server.NewDeployment(cfg, accounts, open, slugs)
		if err != nil {
			return err
		}
		logger.Info("booted", "teams", len(slugs), "took", time.Since(booted).Round(time.Millisecond))
	}
	if *traceSlow > 0 {
		logger.Info("tracing slow commands", "over", *traceSlow, "dir", cmp.Or(*traceDir, os.TempDir()))
	}
	seeded := false
	// The demo's passwords are published; a server others can reach gets
	// passwords of its own, printed once.
	adminPW, memberPW := server.DemoPassword, server.DemoMemberPassword
	if !loopback {
		adminPW, memberPW = newPassword(), newPassword()
	}
	demoSpec := server.Demo{Tasks: *demoTasks, Weeks: *demoWeeks, Seed: uint64(time.Now().UnixNano()),
		AdminPassword: adminPW, MemberPassword: memberPW}
	// shutdown ends what runs: a node first hands its worlds over.
	shutdown := func(ctx context.Context) error {
		if node != nil {
			if err := node.stop(ctx); err != nil {
				logger.Warn("handing the teams over", "err", err)
			}
		}
		return srv.Shutdown(ctx)
	}
	switch {
	case *demo && node != nil:
		if seeded, err = node.seedDemo(ctx, demoSpec); err != nil {
			srv.Shutdown(context.Background())
			return err
		}
	case *demo && srv.NeedsSetup():
		if _, err := srv.CreateTeam(ctx, server.DemoTeam, "Demo team"); err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("create the demo team: %w", err)
		}
		if err := srv.SeedDemo(ctx, server.DemoTeam, time.Now(), demoSpec); err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("seed demo data: %w", err)
		}
		seeded = true
	}
	if *insecure {
		logger.Warn("INSECURE: --insecure-no-auth: anyone who can reach this address is an admin")
	}
	if node != nil {
		if err := node.start(ctx); err != nil {
			srv.Shutdown(context.Background())
			return err
		}
		sctx, stopSync := context.WithCancel(ctx)
		defer stopSync()
		go node.syncTeams(sctx, time.Second)
	}
	sock, err := listenAdmin(dir)
	if err != nil {
		shutdown(context.Background())
		return err
	}
	defer sock.Close()
	admin := &http.Server{Handler: srv.OperatorHandler(), ReadHeaderTimeout: 5 * time.Second}
	go admin.Serve(sock)
	defer admin.Close()
	hs := srv.HTTPServer()
	fmt.Fprintf(stdout, "txxt %s serving %s at http://%s/\n", version, dir, ln.Addr())
	switch {
	case seeded:
		fmt.Fprintf(stdout, "demo data seeded: log in as %s, password %s (an admin), or as %s, password %s (a member)\n",
			server.DemoUser, adminPW, server.DemoMember, memberPW)
	case *demo && node != nil:
		fmt.Fprintf(stdout, "--demo: the cluster holds teams already, or another node seeds it, so this node did not (log in as %s or %s, with the passwords printed where it was seeded)\n", server.DemoUser, server.DemoMember)
	case *demo:
		fmt.Fprintf(stdout, "--demo: %s holds teams already, so it was not seeded (log in as %s or %s, with the passwords printed when it was)\n", dir, server.DemoUser, server.DemoMember)
	}
	if node != nil && srv.NeedsSetup() && srv.Accounts().HasSetupToken() {
		fmt.Fprintln(stdout, "This cluster has no team yet; another node printed its setup link (txxt setup --data DIR on any node makes a new one).")
	} else if srv.NeedsSetup() {
		link, err := srv.SetupLink(base)
		if err != nil {
			shutdown(context.Background())
			return err
		}
		fmt.Fprintf(stdout, "This server has no team yet. Open this link to set it up (it works once):\n  %s\n", link)
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if *pprofAddr != "" {
		ps, err := servePprof(*pprofAddr, errc)
		if err != nil {
			hs.Close()
			shutdown(context.Background())
			return err
		}
		defer ps.Close()
		fmt.Fprintf(stdout, "pprof at http://%s/debug/pprof/\n", ps.Addr)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		shutdown(context.Background())
		return err
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx) // stop accepting; game connections are hijacked and closed next
	if err := shutdown(sctx); err != nil && !errors.Is(err, engine.ErrClosed) {
		return err
	}
	return nil
}

// isLoopback reports whether a listen address is a loopback one only:
// 127.0.0.0/8, [::1] or localhost. An empty host (":3000") is every
// interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newPassword is 26 random characters of base32 (128 bits, crypto/rand).
func newPassword() string { return rand.Text() }

// servePprof serves net/http/pprof on a listener of its own, never on the
// game's: profiles show internals, so they stay off unless asked for, on an
// address the operator chooses (loopback, usually).
func servePprof(addr string, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ps := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := ps.Serve(ln); err != http.ErrServerClosed {
			errc <- err
		}
	}()
	return ps, nil
}
