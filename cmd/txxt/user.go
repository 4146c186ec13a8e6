package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"txxt/engine"
	"txxt/server"
)

const userUsage = `Usage:
  txxt user add [--admin] NAME   create a login; the password is read from standard input
  txxt user passwd NAME          set a new password (read from standard input) and end the user's sessions
  txxt user list                 list the logins
  txxt user remove NAME          delete a login and end its sessions (its tasks keep their assignee)

Each takes --data FILE (default ./txxt.db, or TXXT_SAVE_FILE). The save file
must not be open in a running server.
`

// runUser manages the logins of a save file.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return exitCode(2)
	}
	verb := args[0]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := saveFileFlag(fs, getenv)
	admin := false
	if verb == "add" {
		fs.BoolVar(&admin, "admin", false, "the user may change settings")
	}
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	wantArgs := 1
	switch verb {
	case "list":
		wantArgs = 0
	case "add", "passwd", "remove":
	default:
		fmt.Fprint(stderr, userUsage)
		return fmt.Errorf("unknown user command %q", verb)
	}
	if fs.NArg() != wantArgs {
		fmt.Fprint(stderr, userUsage)
		return exitCode(2)
	}

	st, err := openSaveFile(*data)
	if err != nil {
		return err
	}
	defer st.Close()
	accounts := server.NewAccounts(st, server.DefaultHashParams, 0, time.Now)

	switch verb {
	case "list":
		list, err := accounts.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Role, a.Created.Format(time.DateTime))
		}
		return tw.Flush()
	case "remove":
		if err := accounts.Remove(fs.Arg(0)); err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stdout, "removed %s\n", fs.Arg(0))
		return nil
	}

	name := fs.Arg(0)
	if verb == "passwd" {
		if _, err := accounts.Get(name); err != nil {
			return fmt.Errorf("%s: %w", name, err) // before asking for a password
		}
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if verb == "passwd" {
		if err := accounts.SetPassword(name, password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions are ended\n", name)
		return nil
	}
	eng, err := engine.Open(st, engine.Options{})
	if err != nil {
		return refused(fmt.Errorf("boot %s: %w", *data, err))
	}
	defer eng.Close()
	role := server.RoleMember
	if admin {
		role = server.RoleAdmin
	}
	if _, err := accounts.Add(ctx, eng, name, password, role); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s)\n", name, role)
	return nil
}

// readPassword reads one line of stdin, prompting when it is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "password (it will show as you type): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
