// Command txxt is the txxt server and its tools, one binary with
// subcommands. main only wires: everything runs inside run, so a test can
// start the whole program in one call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"txxt/engine"
	"txxt/world"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "txxt:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}

// exitCode is an error that asks for a specific exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `txxt: a shared calendar grid for a team, served like a multiplayer game.

Usage:
  txxt serve [--demo] [--addr A] [--data DIR] [--origins LIST]
                             run the server (a new one prints its setup link; --demo: seed a demo team, login demo/demo)
  txxt setup [--team SLUG --admin USER]
                             a new setup link, or a team and its first admin
  txxt team add|list [SLUG]  manage teams
  txxt user add|passwd|list|remove [--team SLUG] [--role R] [NAME]
                             manage logins and members (passwords are read from standard input)
  txxt service add|list --team SLUG [NAME]
                             manage a team's services
  txxt load SCENARIO [--spawn | --url U] [flags]
                             drive a server with real clients and measure (txxt load for the list)
  txxt info [--data FILE]    open (or create) a save file and print what it holds
  txxt check [FILE]          verify a save file: checksums, log continuity, snapshot = replay
  txxt backup --url U --user NAME OUT | --data FILE OUT
                             a consistent, verified copy of a save file, from a running server or not
  txxt version               print the version

The data directory (one save file per team, one for the accounts) defaults
to ./txxt-data; TXXT_DATA overrides the default and --data overrides both.
The administration commands go through the running server when there is one.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "team":
		return runTeam(ctx, args[1:], getenv, stdout, stderr)
	case "service":
		return runService(ctx, args[1:], getenv, stdout, stderr)
	case "setup":
		return runSetup(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], getenv, stdout, stderr)
	case "info":
		return runInfo(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return runCheck(args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "txxt", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// saveFileFlag registers --data with the default the original honoured:
// TXXT_SAVE_FILE, else ./txxt.db.
func saveFileFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	def := "txxt.db"
	if v := getenv("TXXT_SAVE_FILE"); v != "" {
		def = v
	}
	return fs.String("data", def, "save file (env TXXT_SAVE_FILE)")
}

func runInfo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := saveFileFlag(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	st, err := openSaveFile(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	e, err := engine.Open(st, engine.Options{})
	if err != nil {
		return refused(fmt.Errorf("boot %s: %w", *data, err))
	}
	defer e.Close()
	booted := time.Since(start)
	var tasks, services, users int
	var grid uint16
	var staged int
	if err := e.Read(ctx, func(w *world.World) {
		tasks, services, users = w.Counts()
		grid = w.Grid()
		staged = len(w.StagingQueue())
	}); err != nil {
		return err
	}
	size, _ := st.Size()
	fmt.Fprintf(stdout, "save file  %s (%d bytes)\nrevision   %d (log kept from %d)\ntasks      %d (%d staged)\nservices   %d\nusers      %d\ngrid       %d minutes\nboot       %s\n",
		*data, size, e.Revision(), st.FirstRevision(), tasks, staged, services, users, grid, booted.Round(time.Microsecond))
	return nil
}
