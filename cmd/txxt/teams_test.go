package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/tables"
	"txxt/world"
)

// served is a `txxt serve` running inside the test, through run.
type served struct {
	t      *testing.T
	base   string // http://127.0.0.1:PORT
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	ended  bool
}

var servingLine = regexp.MustCompile(`serving .* at (http://[0-9.:]+)/`)

// serveTxxt starts `txxt serve --addr 127.0.0.1:0 ARGS…` and waits for it
// to print where it listens. The server stops when the test ends, if it
// has not been stopped before.
func serveTxxt(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env(nil), strings.NewReader(""), s.stdout, s.stderr)
	}()
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(30 * time.Second); s.base == ""; time.Sleep(10 * time.Millisecond) {
		if m := servingLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
		}
		select {
		case err := <-s.done:
			s.ended = true
			t.Fatalf("serve ended: %v\n%s\n%s", err, s.stdout.String(), s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no address in 30s:\n%s\n%s", s.stdout.String(), s.stderr.String())
		}
	}
	return s
}

// stop sends what SIGINT does and waits for serve to return.
func (s *served) stop() {
	if s.ended {
		return
	}
	s.ended = true
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("serve did not stop in 30s after its context ended")
	}
}

// call sends a JSON request with a bearer token (may be empty) and decodes
// a 2xx answer into out.
func (s *served) call(method, path, token string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return res.StatusCode
}

func (s *served) login(name, password string) string {
	s.t.Helper()
	var out struct{ Token string }
	if code := s.call("POST", "/api/auth/login", "", map[string]string{"username": name, "password": password}, &out); code != 200 {
		s.t.Fatalf("login %s: %d", name, code)
	}
	return out.Token
}

// me is GET /api/me.
type me struct {
	Name  string
	Admin bool
	Teams []struct{ Slug, Role string }
}

func (s *served) me(token string) me {
	s.t.Helper()
	var m me
	if code := s.call("GET", "/api/me", token, nil, &m); code != 200 {
		s.t.Fatalf("GET /api/me: %d", code)
	}
	return m
}

// The fixture testdata/pre-teams.db (see testdata/pre-teams.md).
const (
	fixtureRevision = 50
	fixtureTasks    = 30
	demoToken       = "qEDQxg7_vA20VHSip908N962fQlt6qmWRW5UHNMOVBI"
	olgaToken       = "rIPmlZPDNYc07Ed0raD0SpLPgyvwgDKHNMzqTN-fBXk"
)

// fixtureSessionsLive is a moment when the fixture's sessions had not
// expired yet: the sessions are checked at it, so the test does not
// depend on today's date.
var fixtureSessionsLive = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// copyFixture copies the fixture to dst.
func copyFixture(t *testing.T, dst string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "pre-teams.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// worldOf reads the world of a save file that no server holds.
func worldOf(t *testing.T, path string) world.State {
	t.Helper()
	st, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.Open(st, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var state world.State
	if err := eng.Read(context.Background(), func(w *world.World) { state = w.State() }); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestAdoptPreTeamsSaveFile serves a save file written by txxt before it
// held teams, given as --data FILE and as the old default ./txxt.db, and
// checks nothing of it is lost: its revision and tasks, both logins with
// their passwords and roles, the sessions made before, and that a restart
// adopts nothing again.
func TestAdoptPreTeamsSaveFile(t *testing.T) {
	for _, how := range []string{"--data FILE", "./txxt.db"} {
		t.Run(how, func(t *testing.T) {
			tmp := t.TempDir()
			file := filepath.Join(tmp, "txxt.db")
			copyFixture(t, file)
			want := worldOf(t, file)
			if want.Revision != fixtureRevision || len(want.Tasks) != fixtureTasks {
				t.Fatalf("the fixture holds revision %d and %d tasks, want %d and %d", want.Revision, len(want.Tasks), fixtureRevision, fixtureTasks)
			}
			var args []string
			dir := file // adopted in place: the same --data goes on working
			if how == "./txxt.db" {
				t.Chdir(tmp)
				dir = filepath.Join(tmp, defaultData)
			} else {
				args = []string{"--data", file}
			}

			var earlier string // a session of the first start, tried on the second
			for run := 1; run <= 2; run++ {
				s := serveTxxt(t, args...)
				if earlier != "" {
					if m := s.me(earlier); m.Name != "demo" {
						t.Fatalf("a session of the first start is %+v on the second", m)
					}
				}
				adopted := strings.Contains(s.stderr.String(), "adopted")
				if adopted != (run == 1) {
					t.Fatalf("start %d: adopted=%v, want %v:\n%s", run, adopted, run == 1, s.stderr.String())
				}
				demo := s.me(s.login("demo", "demo"))
				if !demo.Admin || len(demo.Teams) != 1 || demo.Teams[0].Slug != "main" || demo.Teams[0].Role != "admin" {
					t.Fatalf("start %d: demo is %+v, want the deployment's admin and admin of main", run, demo)
				}
				olga := s.me(s.login("olga", "olga-pw"))
				if olga.Admin || len(olga.Teams) != 1 || olga.Teams[0].Slug != "main" || olga.Teams[0].Role != "member" {
					t.Fatalf("start %d: olga is %+v, want a member of main", run, olga)
				}
				var status struct {
					Revision uint64
					Tasks    int
				}
				tok := s.login("demo", "demo")
				earlier = tok
				if code := s.call("GET", "/t/main/api/status", tok, nil, &status); code != 200 {
					t.Fatalf("status: %d", code)
				}
				if status.Revision != fixtureRevision || status.Tasks != fixtureTasks {
					t.Fatalf("start %d: revision %d, %d tasks; want %d and %d", run, status.Revision, status.Tasks, fixtureRevision, fixtureTasks)
				}
				// The one team answers the paths of before.
				if code := s.call("GET", "/api/settings", tok, nil, nil); code != 200 {
					t.Fatalf("GET /api/settings: %d", code)
				}
				s.stop()

				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
					t.Fatalf("%s is not a data directory now: %v", dir, err)
				}
				team := store.TeamFile(dir, store.AdoptedTeam)
				if got := worldOf(t, team); !reflect.DeepEqual(got, want) {
					t.Fatalf("start %d: the adopted world differs from the fixture's:\n%+v\n%+v", run, got, want)
				}
				checkAdoptedFiles(t, dir)
			}
			if how == "./txxt.db" {
				if _, err := os.Stat(file); err == nil {
					t.Fatal("./txxt.db is still there: it was copied, not moved")
				}
			}
		})
	}
}

// checkAdoptedFiles checks a stopped data directory made from the
// fixture: the team's file keeps no user or session; the accounts file
// has both, and the sessions made before the adoption still open.
func checkAdoptedFiles(t *testing.T, dir string) {
	t.Helper()
	team, err := store.Open(store.TeamFile(dir, store.AdoptedTeam), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"users", "sessions"} {
		n := 0
		tables.ForEach(context.Background(), team, table, func(string, []byte) error { n++; return nil })
		if n != 0 {
			t.Errorf("the team's file still holds %d rows of %s", n, table)
		}
	}
	team.Close()
	st, err := store.Open(filepath.Join(dir, store.AccountsFile), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	accounts := server.NewAccounts(st, server.HashParams{}, 7*24*time.Hour, func() time.Time { return fixtureSessionsLive })
	list, err := accounts.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("accounts: %v %+v, want demo and olga", err, list)
	}
	for name, tok := range map[string]string{"demo": demoToken, "olga": olgaToken} {
		sess, err := accounts.Session(tok)
		if err != nil || sess.Name != name {
			t.Errorf("%s's session from before the adoption: %+v %v", name, sess, err)
		}
	}
}

// txxt runs one command of the CLI with stdin, and returns its output; it
// fails the test when the command fails.
func txxt(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, args, env(nil), strings.NewReader(stdin), &stdout, &stderr); err != nil {
		t.Fatalf("txxt %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var setupLink = regexp.MustCompile(`(http://[0-9.:]+)/setup\?token=([A-Za-z0-9_-]+)`)

// TestCLIAgainstRunningServer runs the administration commands while the
// server holds the data directory (they go through its admin socket: the
// files are locked), checks their effect over HTTP, then runs them again
// with the server stopped, on the files.
func TestCLIAgainstRunningServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := serveTxxt(t, "--data", dir)
	// The link may come just after the address serveTxxt waited for.
	var m []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m = setupLink.FindStringSubmatch(s.stdout.String()); m != nil || time.Now().After(deadline) {
			break
		}
	}
	if m == nil || m[1] != s.base {
		t.Fatalf("no setup link for %s printed within 30 s:\n%s", s.base, s.stdout.String())
	}
	token := m[2]

	out := txxt(t, "ann-password\n", "setup", "--data", dir, "--team", "alpha", "--admin", "ann")
	if !strings.Contains(out, "/t/alpha/") {
		t.Fatalf("setup said %q", out)
	}
	txxt(t, "vic-password\n", "user", "add", "--data", dir, "--team", "alpha", "--role", "viewer", "vic")
	txxt(t, "", "service", "add", "--data", dir, "--team", "alpha", "Billing")
	txxt(t, "", "team", "add", "--data", dir, "beta")
	if out := txxt(t, "", "team", "list", "--data", dir); !regexp.MustCompile(`(?m)^alpha\s`).MatchString(out) || !regexp.MustCompile(`(?m)^beta\s`).MatchString(out) {
		t.Fatalf("team list:\n%s", out)
	}
	if out := txxt(t, "", "user", "list", "--data", dir, "--team", "alpha"); !regexp.MustCompile(`(?m)^ann\s+admin$`).MatchString(out) || !regexp.MustCompile(`(?m)^vic\s+viewer$`).MatchString(out) {
		t.Fatalf("user list --team alpha:\n%s", out)
	}
	if out := txxt(t, "", "service", "list", "--data", dir, "--team", "alpha"); !strings.Contains(out, "Billing") {
		t.Fatalf("service list --team alpha:\n%s", out)
	}

	// Over HTTP, while it runs.
	ann := s.login("ann", "ann-password")
	var services []struct{ Name string }
	if code := s.call("GET", "/t/alpha/api/services", ann, nil, &services); code != 200 || len(services) != 1 || services[0].Name != "Billing" {
		t.Fatalf("GET /t/alpha/api/services: %d %+v", code, services)
	}
	var members []struct{ Name, Role string }
	s.call("GET", "/t/alpha/api/members", ann, nil, &members)
	roles := map[string]string{}
	for _, m := range members {
		roles[m.Name] = m.Role
	}
	if roles["ann"] != "admin" || roles["vic"] != "viewer" || len(roles) != 2 {
		t.Fatalf("alpha's members: %+v", members)
	}
	if vic := s.me(s.login("vic", "vic-password")); len(vic.Teams) != 1 || vic.Teams[0].Role != "viewer" {
		t.Fatalf("vic is %+v", vic)
	}
	// The server is set up: its printed link no longer claims it.
	if code := s.call("POST", "/api/setup", "", map[string]string{"token": token, "team": "Intruders", "username": "mallory", "password": "mallory-pw"}, nil); code != 403 {
		t.Fatalf("the printed setup link after txxt setup: %d, want 403", code)
	}
	s.stop()

	// Offline, on the files.
	txxt(t, "wes-password\n", "user", "add", "--data", dir, "--team", "beta", "--role", "member", "wes")
	txxt(t, "", "service", "add", "--data", dir, "--team", "beta", "Ops")
	txxt(t, "", "team", "add", "--data", dir, "gamma")
	if out := txxt(t, "", "team", "list", "--data", dir); !regexp.MustCompile(`(?m)^gamma\s`).MatchString(out) {
		t.Fatalf("team list offline:\n%s", out)
	}
	if out := txxt(t, "", "user", "list", "--data", dir, "--team", "beta"); !regexp.MustCompile(`(?m)^wes\s+member$`).MatchString(out) {
		t.Fatalf("user list --team beta offline:\n%s", out)
	}
	if out := txxt(t, "", "service", "list", "--data", dir, "--team", "beta"); !strings.Contains(out, "Ops") {
		t.Fatalf("service list --team beta offline:\n%s", out)
	}

	// And the server started again has what was done offline.
	s = serveTxxt(t, "--data", dir)
	if strings.Contains(s.stdout.String(), "setup?token=") {
		t.Fatalf("a set-up server prints a setup link:\n%s", s.stdout.String())
	}
	wes := s.login("wes", "wes-password")
	services = nil
	if code := s.call("GET", "/t/beta/api/services", wes, nil, &services); code != 200 || len(services) != 1 || services[0].Name != "Ops" {
		t.Fatalf("GET /t/beta/api/services as wes: %d %+v", code, services)
	}
	if code := s.call("GET", "/t/alpha/api/services", wes, nil, nil); code != 404 {
		t.Fatalf("wes sees alpha: %d, want 404", code)
	}
}
