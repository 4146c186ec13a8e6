package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Every subcommand parses its flags with parseFlags, so that -h, -help and
// --help print the same kind of page everywhere: the command's usage (its
// synopsis and what it does, from usageOf) and then its flags with their
// defaults. Asked for, the page goes to standard output and the program
// ends with status 0; after a wrong flag it goes to standard error, after
// the flag package's message, and the status is 2.

// parseFlags parses args into fs. On -h/-help/--help it prints the usage
// to stdout and returns flag.ErrHelp, which run turns into success; on a
// wrong flag it prints the message and the usage to fs's output (the
// command's stderr) and returns exitCode(2). It leaves fs.Usage printing
// the usage to that output, for a command that finds its arguments wrong
// after parsing.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	stderr := fs.Output()
	// The flag package writes its message and calls Usage before Parse
	// returns, when it cannot know yet where the page belongs: gather both
	// and send them where the outcome says.
	var page bytes.Buffer
	fs.SetOutput(&page)
	fs.Usage = func() { printUsage(&page, fs) }
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(stderr, fs) }
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(page.Bytes())
		return flag.ErrHelp
	case err != nil:
		stderr.Write(page.Bytes())
		return exitCode(2)
	}
	return nil
}

// isHelp reports whether arg asks for help, for the commands that look at
// an argument before their flags (a verb, a scenario).
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// printUsage writes fs's usage and its flags, spelt with two dashes as
// the README does (the flag package takes one or two).
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageOf(fs.Name()))
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		arg, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			if arg == "string" {
				text += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				text += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(text, "\n", "\n    \t"))
	})
}

// usageOf returns the usage of the command whose flag set is called name
// ("serve", "user add", "load create"): its synopsis and a sentence of
// what it does. A name it does not know gets its first word's usage (the
// command group's), or a bare synopsis.
func usageOf(name string) string {
	switch name {
	case "serve":
		return `Usage: txxt serve [--demo] [--addr HOST:PORT] [--data DIR] [flags]

Runs the server until SIGINT or SIGTERM: the calendar in the browser at
http://HOST:PORT/ (each team at /t/TEAM/), its game endpoint and the JSON
API, over a data directory (one save file per team, one for the accounts).
A server with no team yet prints a one-time setup link. With --demo, a new
data directory gets a demo team and the login demo/demo (one that holds
teams is never touched). A save file of an earlier txxt given as --data is
adopted as the team "main", its users becoming the team's members.
`
	case "info":
		return `Usage: txxt info [--data FILE]

Boots the world of a save file and prints what it holds: its revision,
tasks, services, users, grid, and how long the boot took. A file that does
not exist is not created: info says so and exits with status 1. A file a
running server holds is locked: run info on a backup of it.
`
	case "version":
		return `Usage: txxt version

Prints the version of this txxt binary.
`
	case "user":
		return userUsage
	case "user add":
		return `Usage: txxt user add [--team SLUG] [--role admin|member|viewer] [--admin] [--data DIR] NAME

Creates the login NAME; its password is read from standard input (one
line). With --team it also becomes a member of that team with --role (an
existing login is only added). --admin: an admin of the whole server.
While a server runs on DIR, this goes through it.
`
	case "user passwd":
		return `Usage: txxt user passwd [--data DIR] NAME

Sets a new password for NAME, read from standard input (one line), and ends
the user's sessions. While a server runs on DIR, this goes through it.
`
	case "user list":
		return `Usage: txxt user list [--team SLUG] [--data DIR]

Lists the logins, with their teams and roles, or a team's members.
`
	case "user remove":
		return `Usage: txxt user remove [--team SLUG] [--data DIR] NAME

Deletes the login NAME and ends its sessions (the tasks assigned to it keep
their assignee); with --team, only its membership of that team ends.
`
	case "team":
		return teamUsage
	case "service":
		return serviceUsage
	case "setup":
		return setupUsage
	case "load":
		return loadUsage
	case "check":
		return checkUsage
	case "backup":
		return backupUsage
	}
	if group, _, ok := strings.Cut(name, " "); ok {
		return usageOf(group)
	}
	return "Usage: txxt " + name + " [flags]\n"
}
