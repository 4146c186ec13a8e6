package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"txxt/engine"
	"txxt/store"
	"txxt/world"
)

// runArgs runs txxt with args and returns what it wrote, its exit status
// as main would give it, and its error.
func runArgs(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, status int, err error) {
	t.Helper()
	var out, errb syncBuffer
	err = run(context.Background(), args, env(vars), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), exitStatus(err), err
}

// Every subcommand prints its usage for --help, -h and `txxt help CMD`:
// on standard output, with status 0, its synopsis, what it does and each
// of its flags; a wrong flag prints the same usage on standard error, with
// status 2.
func TestCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		cmd   []string
		flags []string // some of its flags, each shown with two dashes
	}{
		{[]string{"serve"}, []string{"--addr", "--data", "--demo", "--origins"}},
		{[]string{"load"}, []string{"--url", "--spawn", "--keep", "--count"}},
		{[]string{"load", "create"}, []string{"--url", "--spawn", "--keep", "--count"}},
		{[]string{"user"}, nil},
		{[]string{"user", "add"}, []string{"--admin", "--data", "--team", "--role"}},
		{[]string{"team", "add"}, []string{"--data", "--name"}},
		{[]string{"service", "add"}, []string{"--data", "--team"}},
		{[]string{"setup"}, []string{"--data", "--team", "--admin"}},
		{[]string{"user", "passwd"}, []string{"--data"}},
		{[]string{"user", "list"}, []string{"--data"}},
		{[]string{"user", "remove"}, []string{"--data"}},
		{[]string{"info"}, []string{"--data"}},
		{[]string{"check"}, []string{"--data"}},
		{[]string{"backup"}, []string{"--url", "--user", "--data"}},
		{[]string{"version"}, nil},
	} {
		name := strings.Join(tc.cmd, " ")
		t.Run(name, func(t *testing.T) {
			synopsis := "txxt " + name
			if tc.cmd[0] == "load" {
				synopsis = "txxt load SCENARIO" // one page for every scenario
			}
			for _, args := range [][]string{
				append(append([]string{}, tc.cmd...), "--help"),
				append(append([]string{}, tc.cmd...), "-h"),
				append([]string{"help"}, tc.cmd...),
			} {
				out, errOut, status, _ := runArgs(t, nil, args...)
				if status != 0 || errOut != "" {
					t.Errorf("txxt %s: status %d, stderr %q", strings.Join(args, " "), status, errOut)
				}
				if !strings.Contains(out, "Usage:") || !strings.Contains(out, synopsis) {
					t.Errorf("txxt %s: no usage of %q:\n%s", strings.Join(args, " "), synopsis, out)
				}
				// A sentence of what it does, besides the synopsis.
				if !strings.Contains(out, ".") {
					t.Errorf("txxt %s says nothing of what it does:\n%s", strings.Join(args, " "), out)
				}
				for _, f := range tc.flags {
					if !strings.Contains(out, "\n  "+f+" ") && !strings.Contains(out, "\n  "+f+"\n") {
						t.Errorf("txxt %s does not show %s:\n%s", strings.Join(args, " "), f, out)
					}
				}
			}
			// Defaults are shown.
			if name == "serve" {
				out, _, _, _ := runArgs(t, nil, "serve", "--help")
				if !strings.Contains(out, `(default "127.0.0.1:3000")`) || !strings.Contains(out, `(default "txxt-data")`) {
					t.Errorf("serve --help shows no defaults:\n%s", out)
				}
			}

			// The message is the flag package's, or the error main prints.
			out, errOut, status, err := runArgs(t, nil, append(append([]string{}, tc.cmd...), "--no-such-flag")...)
			if _, bare := err.(exitCode); err != nil && !bare {
				errOut += "txxt: " + err.Error()
			}
			if status != 2 || out != "" || !strings.Contains(errOut, "Usage:") || !strings.Contains(errOut, "no-such-flag") {
				t.Errorf("a wrong flag: status %d, stdout %q, stderr:\n%s", status, out, errOut)
			}
		})
	}
}

// txxt alone, and txxt help, list every command; alone it is a mistake
// (status 2, on standard error), asked for it is not.
func TestCommandList(t *testing.T) {
	commands := []string{"serve", "user", "load", "info", "check", "backup", "version", "help"}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {}} {
		out, errOut, status, _ := runArgs(t, nil, args...)
		list, want := out, 0
		if len(args) == 0 {
			list, want = errOut, 2
		}
		if status != want {
			t.Errorf("txxt %v: status %d, want %d", args, status, want)
		}
		for _, c := range commands {
			if !strings.Contains(list, "\n  txxt "+c+" ") {
				t.Errorf("txxt %v does not list %s:\n%s", args, c, list)
			}
		}
	}
	if _, errOut, status, _ := runArgs(t, nil, "frobnicate"); status != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("an unknown command: status %d\n%s", status, errOut)
	}
	if _, errOut, status, _ := runArgs(t, nil, "help", "frobnicate"); status != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("help for an unknown command: status %d\n%s", status, errOut)
	}
}

// txxt info on a path with no file says so, with status 1, and leaves
// nothing behind; on a save file it prints what it holds.
func TestInfoNeverCreatesAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "none.db")
	for _, args := range [][]string{
		{"info", "--data", path},
		{"info"}, // from TXXT_SAVE_FILE
	} {
		out, errOut, status, err := runArgs(t, map[string]string{"TXXT_SAVE_FILE": path}, args...)
		if status != 1 || err == nil || err.Error() != "no save file at "+path {
			t.Errorf("txxt %v: status %d, error %v\n%s%s", args, status, err, out, errOut)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("txxt %v left %v behind", args, entries)
		}
	}

	newSaveFile(t, path)
	out, errOut, status, _ := runArgs(t, nil, "info", "--data", path)
	if status != 0 || !strings.Contains(out, "revision") || !strings.Contains(out, "tasks      0") {
		t.Fatalf("info of a save file: status %d\n%s%s", status, out, errOut)
	}
}

// newSaveFile writes a new, empty save file at path, as a server's first
// start would.
func newSaveFile(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(st, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// txxt info boots the world to count it, and leaves the file as it found
// it: no snapshot of the log written since the last one.
func TestInfoLeavesTheFileAsItFoundIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "team.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(st, engine.Options{NoFinalSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		res, err := e.Do(context.Background(), engine.Request{Command: world.Command{Kind: world.CmdCreateService, Service: world.ID{byte(i + 1)}, Text: fmt.Sprintf("service %d", i)}})
		if err != nil || res.Err != nil {
			t.Fatalf("create a service: %v %v", err, res.Err)
		}
	}
	e.Close()
	snapshotOf := func() (uint64, uint64) {
		t.Helper()
		snap, _, err := st.LatestSnapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return snap, st.LastRevision()
	}
	snapBefore, last := snapshotOf()
	if snapBefore >= last {
		t.Fatalf("the newest snapshot is at %d, the log at %d: nothing for info to leave alone", snapBefore, last)
	}
	st.Close()

	out, errOut, status, _ := runArgs(t, nil, "info", "--data", path)
	if status != 0 || !strings.Contains(out, "services   3") {
		t.Fatalf("info: status %d\n%s%s", status, out, errOut)
	}
	if st, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if snap, _ := snapshotOf(); snap != snapBefore {
		t.Fatalf("after txxt info the newest snapshot is at %d, was %d", snap, snapBefore)
	}
}
