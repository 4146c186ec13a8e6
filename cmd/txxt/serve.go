package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "TXXT_ADDR", "127.0.0.1:3000"), "listen address (env TXXT_ADDR)")
	data := saveFileFlag(fs, getenv)
	origins := fs.String("origins", getenv("TXXT_ALLOWED_ORIGINS"), "comma-separated origins allowed besides the server's own (env TXXT_ALLOWED_ORIGINS)")
	demo := fs.Bool("demo", false, "seed a new save file with demo data and the login demo/demo")
	insecure := fs.Bool("insecure-no-auth", envOr(getenv, "TXXT_INSECURE_NO_AUTH", "") == "1", "no login: everyone is an admin (local development only; env TXXT_INSECURE_NO_AUTH=1)")
	verbose := fs.Bool("v", false, "log each connection")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, err := store.Open(*data, store.Options{})
	if err != nil {
		return fmt.Errorf("open save file %s: %w", *data, err)
	}
	defer st.Close()
	eng, err := engine.Open(st, engine.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("boot %s: %w", *data, err)
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	srv := server.New(server.Config{Version: version, AllowedOrigins: allowed, InsecureNoAuth: *insecure, Logger: logger}, eng, st)
	seeded := false
	if *demo && st.Created() {
		if err := server.SeedDemo(ctx, eng, srv.Accounts(), time.Now(), 200, uint64(time.Now().UnixNano())); err != nil {
			srv.Shutdown(context.Background())
			return fmt.Errorf("seed demo data: %w", err)
		}
		seeded = true
	}
	if *insecure {
		logger.Warn("INSECURE: --insecure-no-auth: anyone who can reach this address is an admin")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(stdout, "txxt %s serving %s at http://%s/\n", version, *data, ln.Addr())
	switch {
	case seeded:
		fmt.Fprintf(stdout, "demo data seeded: log in as %s, password %s\n", server.DemoUser, server.DemoPassword)
	case *demo:
		fmt.Fprintf(stdout, "--demo: %s existed already, so it was not seeded (log in as %s/%s if it was seeded before)\n", *data, server.DemoUser, server.DemoPassword)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		srv.Shutdown(context.Background())
		return err
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx) // stop accepting; game connections are hijacked and closed next
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, engine.ErrClosed) {
		return err
	}
	return nil
}
