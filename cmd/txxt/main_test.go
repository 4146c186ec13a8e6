package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/wire"
)

// syncBuffer is a bytes.Buffer the program and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestServeDemo runs `txxt serve --demo` as a user does: it logs in as
// demo/demo, plays over a WebSocket, and stops the server with the signal's
// context.
func TestServeDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "demo.db")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data}, env(nil), strings.NewReader(""), &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`http://([0-9.:]+)/`)
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "log in as demo, password demo") {
		t.Fatalf("the login is not printed:\n%s", stdout.String())
	}

	res, err := http.Post("http://"+base+"/api/auth/login", "application/json", strings.NewReader(`{"username":"demo","password":"demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || login.Token == "" {
		t.Fatalf("demo login: %d", res.StatusCode)
	}

	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+base+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + login.Token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	var snap int
	for snap == 0 {
		_, raw, err := ws.Read(dctx)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := wire.DecodeServerFrame(raw, true); err == nil && f.Type == wire.TypeSnapshot {
			snap = len(f.Snapshot.Tasks)
			if len(f.Snapshot.Services) < 3 || len(f.Snapshot.Users) < 2 {
				t.Fatalf("demo world: %d services, %d users", len(f.Snapshot.Services), len(f.Snapshot.Users))
			}
		}
	}
	if snap < 150 || snap > 250 {
		t.Fatalf("demo world has %d tasks, want about 200", snap)
	}

	// SIGINT: the socket is closed with 1001 and serve returns cleanly.
	stop()
	for {
		if _, _, err := ws.Read(dctx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Fatalf("closed with %d (%v), want 1001", code, err)
			}
			break
		}
	}
	if err := recv(t, done, 30*time.Second, "serve to return after SIGINT"); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}

	// A second start does not seed again.
	var out2 syncBuffer
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() {
		done2 <- run(ctx2, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data}, env(nil), strings.NewReader(""), &out2, &stderr)
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out2.String(), "http://"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("second start printed nothing: %s", stderr.String())
		}
	}
	stop2()
	if err := recv(t, done2, 30*time.Second, "the second serve to return after SIGINT"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.String(), "not seeded") {
		t.Fatalf("second start: %s", out2.String())
	}
}

func TestUserCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := env(map[string]string{"TXXT_DATA": data})
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := func(stdin string, args ...string) (string, error) {
		var out, errb syncBuffer
		err := run(context.Background(), append([]string{"user"}, args...), vars, strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := cmd("s3cret\n", "add", "--admin", "ann"); err != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	if _, err := cmd("s3cret\n", "add", "ann"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("adding ann twice: %v", err)
	}
	if _, err := cmd("", "add", "bob"); err == nil {
		t.Fatal("add without a password succeeded")
	}
	if _, err := cmd("hunter22\n", "add", "bob"); err != nil {
		t.Fatal(err)
	}
	out, err := cmd("", "list")
	if err != nil || !regexp.MustCompile(`(?m)^ann\s+true`).MatchString(out) || !regexp.MustCompile(`(?m)^bob\s+false`).MatchString(out) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := cmd("changed1\n", "passwd", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("x1234\n", "passwd", "nobody"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("passwd nobody: %v", err)
	}
	if _, err := cmd("", "remove", "bob"); err != nil {
		t.Fatal(err)
	}
	if out, _ := cmd("", "list"); strings.Contains(out, "bob") {
		t.Fatalf("bob still listed:\n%s", out)
	}
	if _, err := cmd("", "frobnicate"); err == nil {
		t.Fatal("unknown user command succeeded")
	}
}

// --pprof serves the profiles on a listener of its own; the game's address
// does not have them.
func TestServePprof(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--pprof", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "p.db")},
			env(nil), strings.NewReader(""), &stdout, &stderr)
	}()
	pp := regexp.MustCompile(`pprof at (http://[0-9.:]+)/`)
	game := regexp.MustCompile(`serving .* at (http://[0-9.:]+)/`)
	var pprofURL, gameURL string
	for deadline := time.Now().Add(30 * time.Second); pprofURL == ""; time.Sleep(20 * time.Millisecond) {
		if m := pp.FindStringSubmatch(stdout.String()); m != nil {
			pprofURL = m[1]
			gameURL = game.FindStringSubmatch(stdout.String())[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pprof address printed:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	for _, c := range []struct {
		url    string
		status int
	}{{pprofURL + "/debug/pprof/", 200}, {pprofURL + "/debug/pprof/goroutine?debug=1", 200}, {gameURL + "/debug/pprof/", 404}} {
		res, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("GET %s: %d, want %d", c.url, res.StatusCode, c.status)
		}
	}
	stop()
	if err := recv(t, done, 30*time.Second, "serve --pprof to return after SIGINT"); err != nil {
		t.Fatal(err)
	}
}

// --max-conns-per-host (or TXXT_MAX_CONNS_PER_HOST) bounds the game
// connections from one address, --max-conns-per-user (TXXT_MAX_CONNS_PER_USER)
// those of one user, --max-conns (TXXT_MAX_CONNS) all of them; 0 lifts a
// limit, past the default.
func TestServeMaxConnsPerHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		vars  map[string]string
		limit int // 0: none
	}{
		{"flag", []string{"--max-conns-per-host", "2"}, nil, 2},
		{"env", nil, map[string]string{"TXXT_MAX_CONNS_PER_HOST": "2"}, 2},
		{"0 is no limit", []string{"--max-conns-per-host", "0", "--max-conns-per-user", "0"}, map[string]string{"TXXT_MAX_CONNS_PER_HOST": "2"}, 0},
		{"per user, flag", []string{"--max-conns-per-user", "3"}, nil, 3},
		{"per user, env", nil, map[string]string{"TXXT_MAX_CONNS_PER_USER": "3"}, 3},
		{"in total, flag", []string{"--max-conns", "2"}, nil, 2},
		{"in total, env", nil, map[string]string{"TXXT_MAX_CONNS": "2"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := context.WithCancel(context.Background())
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				args := append([]string{"serve", "--insecure-no-auth", "--demo", "--demo-tasks", "0", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "c.db")}, tc.args...)
				done <- run(ctx, args, env(tc.vars), strings.NewReader(""), &stdout, &stderr)
			}()
			defer func() {
				stop()
				if err := recv(t, done, 30*time.Second, "serve to return after SIGINT"); err != nil {
					t.Errorf("serve: %v\n%s", err, stderr.String())
				}
			}()
			addr := regexp.MustCompile(`http://([0-9.:]+)/`)
			var base string
			for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
				if m := addr.FindStringSubmatch(stdout.String()); m != nil {
					base = m[1]
				}
				if time.Now().After(deadline) {
					t.Fatalf("no URL printed:\n%s\n%s", stdout.String(), stderr.String())
				}
			}
			n := tc.limit
			if n == 0 {
				n = server.DefaultMaxConnsPerHost + 1
			}
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range n + 1 {
				ws, res, err := websocket.Dial(dctx, "ws://"+base+"/api/game", nil)
				switch {
				case err == nil:
					defer ws.CloseNow()
					if tc.limit > 0 && i == tc.limit {
						t.Fatalf("connection %d let in, over the limit %d", i+1, tc.limit)
					}
				case tc.limit > 0 && i == tc.limit && res != nil && res.StatusCode == http.StatusTooManyRequests:
				default:
					t.Fatalf("connection %d: %v", i+1, err)
				}
			}
		})
	}
	var stderr syncBuffer
	err := run(context.Background(), []string{"serve"}, env(map[string]string{"TXXT_MAX_CONNS_PER_HOST": "many"}), strings.NewReader(""), &stderr, &stderr)
	if err != exitCode(2) || !strings.Contains(stderr.String(), "TXXT_MAX_CONNS_PER_HOST") {
		t.Fatalf("a bad TXXT_MAX_CONNS_PER_HOST: %v %s", err, stderr.String())
	}
}

// --insecure-no-auth (or TXXT_INSECURE_NO_AUTH=1) listens on loopback
// only: on any other address serve refuses to start, with exit status 2.
func TestInsecureModeOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
	}{
		{"flag, every interface", []string{"--insecure-no-auth", "--addr", ":0"}, nil},
		{"flag, 0.0.0.0", []string{"--insecure-no-auth", "--addr", "0.0.0.0:0"}, nil},
		{"env", []string{"--addr", "[::]:0"}, map[string]string{"TXXT_INSECURE_NO_AUTH": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			args := append([]string{"serve", "--data", filepath.Join(t.TempDir(), "d")}, tc.args...)
			err := run(context.Background(), args, env(tc.vars), strings.NewReader(""), &stdout, &stderr)
			if err != exitCode(2) || !strings.Contains(stderr.String(), "only on loopback") {
				t.Fatalf("serve %v: %v\n%s%s", tc.args, err, stdout.String(), stderr.String())
			}
		})
	}
}

// TestServeDemoOffLoopback: --demo on an address others can reach makes
// the two logins' passwords anew and prints them; the published ones do
// not work there. The member login is a member, not an admin.
func TestServeDemoOffLoopback(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		args := []string{"serve", "--demo", "--demo-tasks", "0", "--addr", "0.0.0.0:0", "--data", filepath.Join(t.TempDir(), "d")}
		done <- run(ctx, args, env(nil), strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() {
		stop()
		if err := recv(t, done, 30*time.Second, "serve to return after SIGINT"); err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
	}()
	logins := regexp.MustCompile(`log in as demo, password (\S+) \(an admin\), or as member, password (\S+) \(a member\)`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		m = logins.FindStringSubmatch(stdout.String())
		if time.Now().After(deadline) {
			t.Fatalf("no logins printed:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	pm := regexp.MustCompile(`at http://\S+:(\d+)/`).FindStringSubmatch(stdout.String())
	if pm == nil {
		t.Fatalf("no address printed:\n%s", stdout.String())
	}
	port := pm[1]
	base := "http://127.0.0.1:" + port
	if m[1] == server.DemoPassword || m[2] == server.DemoMemberPassword || len(m[1]) < 16 || m[1] == m[2] {
		t.Fatalf("the passwords printed are not new ones: %q %q", m[1], m[2])
	}
	login := func(name, pw string) (int, string) {
		res, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(`{"username":"`+name+`","password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Role string }
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out.Role
	}
	for _, c := range []struct {
		name, pw string
		status   int
		role     string
	}{
		{"demo", "demo", 401, ""},
		{"member", "member", 401, ""},
		{"demo", m[1], 200, "admin"},
		{"member", m[2], 200, "member"},
	} {
		if status, role := login(c.name, c.pw); status != c.status || role != c.role {
			t.Errorf("login %s/%s: %d %q, want %d %q", c.name, c.pw, status, role, c.status, c.role)
		}
	}
}
