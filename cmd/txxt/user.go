package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

const userUsage = `Usage:
  txxt user add [--team SLUG] [--role admin|member|viewer] [--admin] NAME
                                 create a login (password on standard input); with --team, make it
                                 a member of that team (an existing login is added without a password)
  txxt user passwd NAME          set a new password (standard input) and end the user's sessions
  txxt user list [--team SLUG]   list the logins, or a team's members
  txxt user remove [--team SLUG] NAME
                                 delete a login and end its sessions (its tasks keep their assignee);
                                 with --team, only end its membership of that team

--admin makes the login an admin of the whole server (it manages teams and
logins). Each takes --data DIR. While a server runs on the directory, the
commands go through it (its admin socket, DIR/admin.sock): nobody has to
stop it; otherwise they open the files.
`

// runUser manages the logins of a deployment.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return exitCode(2)
	}
	verb := args[0]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs, getenv)
	var team, role string
	var admin bool
	switch verb {
	case "add":
		fs.StringVar(&team, "team", "", "make the login a member of this team (its slug)")
		fs.StringVar(&role, "role", "member", "with --team: the role in it: admin, member or viewer")
		fs.BoolVar(&admin, "admin", false, "an admin of the whole server (manages teams and logins)")
	case "list", "remove":
		fs.StringVar(&team, "team", "", "a team's members (its slug)")
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
	a, err := openAdmin(ctx, *data)
	if err != nil {
		return err
	}
	defer a.close()
	tp := ""
	if team != "" {
		tp = "/t/" + team
	}
	name := fs.Arg(0)
	switch verb {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if team != "" {
			var list []struct{ Name, Role string }
			if err := a.call(ctx, "GET", tp+"/api/members", nil, &list); err != nil {
				return err
			}
			fmt.Fprintln(tw, "NAME\tROLE")
			for _, m := range list {
				fmt.Fprintf(tw, "%s\t%s\n", m.Name, m.Role)
			}
			return tw.Flush()
		}
		var list []struct {
			Name    string
			Admin   bool
			Created time.Time
			Teams   map[string]string
		}
		if err := a.call(ctx, "GET", "/api/accounts", nil, &list); err != nil {
			return err
		}
		fmt.Fprintln(tw, "NAME\tSERVER ADMIN\tTEAMS\tCREATED")
		for _, acc := range list {
			var teams []string
			for slug, role := range acc.Teams {
				teams = append(teams, slug+" ("+role+")")
			}
			sort.Strings(teams)
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", acc.Name, acc.Admin, strings.Join(teams, ", "), acc.Created.Format(time.DateTime))
		}
		return tw.Flush()
	case "remove":
		if team != "" {
			if err := a.call(ctx, "DELETE", tp+"/api/members/"+name, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s is no longer a member of %s\n", name, team)
			return nil
		}
		if err := a.call(ctx, "DELETE", "/api/accounts/"+name, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", name)
		return nil
	case "passwd":
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := a.call(ctx, "PUT", "/api/accounts/"+name, map[string]any{"password": password}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions are ended\n", name)
		return nil
	}
	// add
	exists, err := a.accountExists(ctx, name)
	if err != nil {
		return err
	}
	if !exists {
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := a.call(ctx, "POST", "/api/accounts", map[string]any{"name": name, "password": password, "admin": admin}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s\n", name)
	} else if admin {
		if err := a.call(ctx, "PUT", "/api/accounts/"+name, map[string]any{"admin": true}, nil); err != nil {
			return err
		}
	} else if team == "" {
		return fmt.Errorf("there is a login %s already", name)
	}
	if team != "" {
		if err := a.call(ctx, "POST", tp+"/api/members", map[string]any{"name": name, "role": role}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is a member of %s (%s)\n", name, team, role)
	}
	return nil
}

const teamUsage = `Usage:
  txxt team add [--name NAME] SLUG   create a team; SLUG is what its paths carry (/t/SLUG/)
  txxt team list                     list the teams

Each takes --data DIR, and goes through the running server when there is one.
`

func runTeam(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, teamUsage)
		return exitCode(2)
	}
	verb := args[0]
	fs := flag.NewFlagSet("team "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs, getenv)
	name := fs.String("name", "", "the team's name as people see it (default: the slug)")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0}
	n, ok := want[verb]
	if !ok || fs.NArg() != n {
		fmt.Fprint(stderr, teamUsage)
		return exitCode(2)
	}
	a, err := openAdmin(ctx, *data)
	if err != nil {
		return err
	}
	defer a.close()
	if verb == "add" {
		slug := fs.Arg(0)
		if *name == "" {
			*name = slug
		}
		if err := a.call(ctx, "POST", "/api/teams", map[string]string{"name": *name, "slug": slug}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "team %s created: /t/%s/\n", *name, slug)
		return nil
	}
	var list []struct {
		Slug, Name string
		Archived   bool
	}
	if err := a.call(ctx, "GET", "/api/teams", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tARCHIVED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", t.Slug, t.Name, t.Archived)
	}
	return tw.Flush()
}

const serviceUsage = `Usage:
  txxt service add --team SLUG NAME   create a service in a team
  txxt service list --team SLUG       list a team's services

Each takes --data DIR, and goes through the running server when there is one.
`

func runService(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return exitCode(2)
	}
	verb := args[0]
	fs := flag.NewFlagSet("service "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs, getenv)
	team := fs.String("team", "", "the team (its slug)")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0}
	n, ok := want[verb]
	if !ok || fs.NArg() != n || *team == "" {
		fmt.Fprint(stderr, serviceUsage)
		return exitCode(2)
	}
	a, err := openAdmin(ctx, *data)
	if err != nil {
		return err
	}
	defer a.close()
	if verb == "add" {
		var sv struct{ ID, Name string }
		if err := a.call(ctx, "POST", "/t/"+*team+"/api/services", map[string]string{"name": fs.Arg(0)}, &sv); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "service %s created in %s (%s)\n", sv.Name, *team, sv.ID)
		return nil
	}
	var list []struct{ ID, Name string }
	if err := a.call(ctx, "GET", "/t/"+*team+"/api/services", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.ID)
	}
	return tw.Flush()
}

const setupUsage = `Usage:
  txxt setup                                   print a new one-time setup link (the page asks the rest)
  txxt setup --team SLUG [--name NAME] --admin USER
                                               create a team and its first admin (password on standard input)

It takes --data DIR, and goes through the running server when there is one.
`

func runSetup(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := dataFlag(fs, getenv)
	team := fs.String("team", "", "the team's slug, what its paths carry (/t/SLUG/)")
	name := fs.String("name", "", "the team's name as people see it (default: the slug)")
	user := fs.String("admin", "", "the team's first admin (a new login unless it exists)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*team == "") != (*user == "") {
		fmt.Fprint(stderr, setupUsage)
		return exitCode(2)
	}
	if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return err
		}
	}
	a, err := openAdmin(ctx, *data)
	if err != nil {
		return err
	}
	defer a.close()
	if *team == "" {
		if !a.live {
			return errors.New("no server is running on " + *data + ": start txxt serve, which prints a setup link itself")
		}
		var out struct{ URL string }
		if err := a.call(ctx, "POST", "/api/setup/link", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", out.URL)
		return nil
	}
	if *name == "" {
		*name = *team
	}
	exists, err := a.accountExists(ctx, *user)
	if err != nil {
		return err
	}
	if exists {
		if err := a.call(ctx, "PUT", "/api/accounts/"+*user, map[string]any{"admin": true}, nil); err != nil {
			return err
		}
	} else {
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := a.call(ctx, "POST", "/api/accounts", map[string]any{"name": *user, "password": password, "admin": true}, nil); err != nil {
			return err
		}
	}
	if err := a.call(ctx, "POST", "/api/teams", map[string]string{"name": *name, "slug": *team}, nil); err != nil {
		return err
	}
	if err := a.call(ctx, "POST", "/t/"+*team+"/api/members", map[string]any{"name": *user, "role": "admin"}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "team %s created with %s as its admin: /t/%s/\n", *name, *user, *team)
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

// accountExists reports whether the deployment has a login called name.
func (a *admin) accountExists(ctx context.Context, name string) (bool, error) {
	var list []struct{ Name string }
	if err := a.call(ctx, "GET", "/api/accounts", nil, &list); err != nil {
		return false, err
	}
	for _, acc := range list {
		if acc.Name == name {
			return true, nil
		}
	}
	return false, nil
}
