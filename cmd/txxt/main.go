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
	"slices"
	"strings"
	"syscall"
	"time"

	"txxt/engine"
	"txxt/store"
	"txxt/world"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if _, bare := err.(exitCode); err != nil && !bare { // a bare status has said its piece already
		fmt.Fprintln(os.Stderr, "txxt:", err)
	}
	os.Exit(exitStatus(err))
}

// signalContext returns a context that SIGINT or SIGTERM ends. That first
// signal asks the command to end well (a server shuts down, a load run
// deletes its tasks), which takes a moment; a second one ends the process
// at once, by the signal's default action.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// exitCode is an error that asks for a specific exit status. Returned
// alone, it means the command has printed why (a usage, a message).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitStatus is the process's exit status for run's error: 0 for none,
// the exitCode it carries, else 1.
func exitStatus(err error) int {
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	}
	return 1
}

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
  txxt load SCENARIO [--spawn | --url U] [--keep] [flags]
                             drive a server with real clients and measure (txxt load --help for the list)
  txxt load attack --kind KIND[,KIND...]|all [--duration D]
                             run the attacks of RELIABILITY.md against a server of its own; lost commands fail it
  txxt info [--data FILE]    print what a save file holds (it must exist)
  txxt check [FILE]          verify a save file: checksums, log continuity, snapshot = replay
  txxt backup --url U --user NAME OUT | --data FILE OUT
                             a consistent, verified copy of a save file, from a running server or not
  txxt version               print the version
  txxt help [COMMAND]        this list, or a command's usage and flags (as txxt COMMAND --help)

The data directory (one save file per team, one for the accounts) defaults
to ./txxt-data; TXXT_DATA overrides the default and --data overrides both.
The administration commands go through the running server when there is one.
`

// run is the whole program: main only gives it the process's arguments,
// environment and streams. A command asked for its usage (--help) prints
// it and returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		if len(args) > 1 && strings.HasPrefix(args[1], "-") { // a flag where the verb goes
			if isHelp(args[1]) {
				fmt.Fprint(stdout, userUsage)
				return nil
			}
			fmt.Fprint(stderr, userUsage)
			return exitError{fmt.Errorf("user: the verb comes before %s (txxt user add %s ...)", args[1], args[1]), 2}
		}
		return runUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "team":
		return runTeam(ctx, args[1:], getenv, stdout, stderr)
	case "service":
		return runService(ctx, args[1:], getenv, stdout, stderr)
	case "setup":
		return runSetup(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "load":
		if len(args) > 1 && args[1] == "attack" {
			return runAttack(ctx, args[2:], stdin, stdout, stderr)
		}
		return runLoad(ctx, args[1:], getenv, stdout, stderr)
	case "info":
		return runInfo(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return runCheck(args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fs := flag.NewFlagSet("version", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := parseFlags(fs, args[1:], stdout); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fs.Usage()
			return exitCode(2)
		}
		fmt.Fprintln(stdout, "txxt", version)
		return nil
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && !isHelp(args[1]) { // txxt help COMMAND...: its usage
			return runCommand(ctx, slices.Concat(args[1:], []string{"--help"}), getenv, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return exitError{fmt.Errorf("unknown command %q", args[0]), 2}
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
	data := dataFlag(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitCode(2)
	}
	if fi, err := os.Stat(*data); err == nil && fi.IsDir() {
		// A data directory: each team's save file in turn.
		slugs, err := store.TeamSlugs(*data)
		if err != nil {
			return err
		}
		for i, slug := range slugs {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "team       %s\n", slug)
			if err := infoOf(ctx, store.TeamFile(*data, slug), stdout); err != nil {
				return err
			}
		}
		if len(slugs) == 0 {
			fmt.Fprintf(stdout, "%s holds no team yet\n", *data)
		}
		return nil
	}
	return infoOf(ctx, *data, stdout)
}

// infoOf prints what one save file holds.
func infoOf(ctx context.Context, path string, stdout io.Writer) error {
	data := &path
	st, err := openExisting(*data) // looking at a file must never create one
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	e, err := engine.Open(st, engine.Options{NoFinalSnapshot: true})
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
