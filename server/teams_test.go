package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

// deployment is a server of a data directory (NewDeployment), on a real
// socket, over real save files: accounts.db and teams/SLUG.db.
type deployment struct {
	*harness
	dir     string
	tokens  map[string]string   // user name → bearer token
	service map[string]world.ID // team slug → the id of its service
}

// teamUsers are the accounts startDeployment makes in each team: SLUG-admin,
// SLUG-member, SLUG-viewer; "both" is a member of every team.
var teamRoles = []struct {
	suffix string
	role   server.Role
}{{"admin", server.RoleAdmin}, {"member", server.RoleMember}, {"viewer", server.RoleViewer}}

// startDeployment serves a new data directory holding the given teams,
// each with an admin, a member, a viewer, and one service named
// "SLUG-service"; "both" is a member of every team, and "root" is an
// admin of the deployment and of no team. With no slug the server has no
// team (it waits for its setup).
func startDeployment(t *testing.T, slugs ...string) *deployment {
	t.Helper()
	dir := t.TempDir()
	if _, err := store.PrepareDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	accounts, err := store.Open(filepath.Join(dir, store.AccountsFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(slug string) (*engine.Engine, *store.Store, error) {
		st, err := store.Open(store.TeamFile(dir, slug), store.Options{})
		if err != nil {
			return nil, nil, err
		}
		eng, err := engine.Open(st, engine.Options{})
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return eng, st, nil
	}
	srv, err := server.NewDeployment(server.Config{HashParams: fastHash, Version: "test"}, accounts, open, nil)
	if err != nil {
		accounts.Close()
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = srv.HTTPServer()
	hs.Start()
	h := &harness{t: t, path: dir, st: accounts, srv: srv, hs: hs}
	t.Cleanup(h.stop)
	d := &deployment{harness: h, dir: dir, tokens: map[string]string{}, service: map[string]world.ID{}}
	ctx := context.Background()
	if _, err := srv.Accounts().Create("root", "root-pw", server.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	d.tokens["root"] = h.login("root", "root-pw")
	for _, slug := range slugs {
		if _, err := srv.CreateTeam(ctx, slug, strings.ToUpper(slug)); err != nil {
			t.Fatal(err)
		}
		for _, u := range teamRoles {
			name := slug + "-" + u.suffix
			if _, err := srv.AddMember(ctx, slug, name, name+"-pw", u.role); err != nil {
				t.Fatal(err)
			}
			d.tokens[name] = h.login(name, name+"-pw")
		}
		if _, err := srv.AddMember(ctx, slug, "both", "both-pw", server.RoleMember); err != nil {
			t.Fatal(err)
		}
		res, body := d.do("POST", "/t/"+slug+"/api/services", d.tokens[slug+"-admin"], map[string]string{"name": slug + "-service"})
		if res.StatusCode != 200 {
			t.Fatalf("create %s's service: %d %s", slug, res.StatusCode, body)
		}
		var sv struct{ ID world.ID }
		json.Unmarshal(body, &sv)
		d.service[slug] = sv.ID
	}
	if len(slugs) > 0 {
		d.tokens["both"] = h.login("both", "both-pw")
	}
	return d
}

// dialTeam opens a game connection to path's game endpoint ("/t/alpha" or
// "" for the one without a team) with token, speaking v1.
func (d *deployment) dialTeam(prefix, token string) (*client, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(d.hs.URL, "http") + prefix + "/api/game"
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		return nil, res, err
	}
	ws.SetReadLimit(-1)
	d.t.Cleanup(func() { ws.CloseNow() })
	return &client{t: d.t, ws: ws, v1: true}, res, nil
}

func (d *deployment) mustDial(prefix, token string) *client {
	d.t.Helper()
	c, res, err := d.dialTeam(prefix, token)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		d.t.Fatalf("dial %s/api/game: %v (HTTP %d)", prefix, err, status)
	}
	return c
}

// revision returns the team's revision from its status endpoint.
func (d *deployment) revision(slug string) uint64 {
	d.t.Helper()
	res, body := d.do("GET", "/t/"+slug+"/api/status", d.tokens[slug+"-admin"], nil)
	if res.StatusCode != 200 {
		d.t.Fatalf("status of %s: %d %s", slug, res.StatusCode, body)
	}
	var st struct{ Revision uint64 }
	json.Unmarshal(body, &st)
	return st.Revision
}

// errorCode returns the code of a JSON error answer.
func errorCode(body []byte) string {
	var e struct{ Code string }
	json.Unmarshal(body, &e)
	return e.Code
}

// route is one route of routes.go.
type route struct {
	method, path string
	guard        string // "admin", "viewer" (a team's), "deployAdmin", or "" (none, or its own)
}

// parsedRoutes reads routes.go, so that a route added there is in these
// tests without anyone remembering to add it: the team routes (teamRoute,
// and handle with /t/{team}) and the deployment's.
func parsedRoutes(t *testing.T) (team, deploy []route) {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^\s*(teamRoute|handle)\("(\w+)", "([^"]+)", (?:(viewer|admin)\(|s\.(deployAdmin)\()?`)
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		guard := m[4] + m[5]
		path := m[3]
		switch {
		case m[1] == "teamRoute":
			team = append(team, route{m[2], path, guard})
		case strings.HasPrefix(path, "/t/{team}"):
			team = append(team, route{m[2], strings.TrimPrefix(path, "/t/{team}"), guard})
		default:
			deploy = append(deploy, route{m[2], path, guard})
		}
	}
	if len(team) < 20 || len(deploy) < 10 {
		t.Fatalf("routes.go: found only %d team routes and %d others: has its layout changed?", len(team), len(deploy))
	}
	return team, deploy
}

// fill puts real values of the team slug in a route's path parameters.
func (d *deployment) fill(path, slug string) string {
	path = strings.ReplaceAll(path, "{name}", slug+"-member")
	path = strings.ReplaceAll(path, "{id}", d.service[slug].String())
	return "/t/" + slug + path
}

// bodies are requests that would be valid for each method, so that a
// refusal is the guard's and not the body's.
func bodyFor(r route) any {
	switch {
	case r.method == "GET" || r.method == "DELETE":
		return nil
	case strings.HasSuffix(r.path, "/password"):
		return map[string]string{"password": "new-password"}
	case strings.HasPrefix(r.path, "/api/members/"):
		return map[string]string{"role": "viewer"}
	case r.path == "/api/members":
		return map[string]string{"name": "newcomer", "password": "newcomer-pw", "role": "member"}
	case r.path == "/api/invites":
		return map[string]string{"role": "member"}
	case strings.HasPrefix(r.path, "/api/services"):
		return map[string]string{"name": "Renamed"}
	case strings.HasPrefix(r.path, "/api/profiles"):
		return map[string]any{}
	}
	return map[string]any{}
}

// TestTeamsIsolated checks, for every team route and both ways, that a
// member (even an admin) of one team finds nothing of another: 404
// NOT_FOUND, as for a team that does not exist, and the other team's
// world and members unchanged; and that nothing of one team shows in the
// other's answers.
func TestTeamsIsolated(t *testing.T) {
	d := startDeployment(t, "alpha", "beta")
	routes, _ := parsedRoutes(t)
	other := map[string]string{"alpha": "beta", "beta": "alpha"}
	for _, slug := range []string{"alpha", "beta"} {
		them := other[slug]
		before := d.revision(them)
		_, membersBefore := d.do("GET", "/t/"+them+"/api/members", d.tokens[them+"-admin"], nil)
		for _, r := range routes {
			if r.path == "/api/game" {
				continue // below, over a WebSocket
			}
			t.Run(slug+" members "+r.method+" /t/"+them+r.path, func(t *testing.T) {
				for _, u := range teamRoles {
					who := slug + "-" + u.suffix
					res, body := d.do(r.method, d.fill(r.path, them), d.tokens[who], bodyFor(r))
					if res.StatusCode != 404 || errorCode(body) != "NOT_FOUND" {
						t.Fatalf("%s got %d %s, want 404 NOT_FOUND", who, res.StatusCode, body)
					}
					if strings.Contains(string(body), them+"-") {
						t.Errorf("the refusal tells %s something of %s: %s", who, them, body)
					}
					// The same as for a team that does not exist: its
					// existence is not revealed.
					_, ghost := d.do(r.method, d.fill(r.path, "ghost"), d.tokens[who], bodyFor(r))
					if want := strings.ReplaceAll(string(ghost), "ghost", them); want != string(body) {
						t.Errorf("to %s a foreign team answers %s, a team that does not exist %s", who, body, ghost)
					}
				}
			})
			if r.method == "GET" {
				t.Run(slug+" admin "+r.method+" /t/"+slug+r.path+" shows nothing of "+them, func(t *testing.T) {
					path := d.fill(r.path, slug)
					res, body := d.do("GET", path, d.tokens[slug+"-admin"], nil)
					if res.StatusCode != 200 {
						t.Fatalf("got %d %s, want 200", res.StatusCode, body)
					}
					for _, secret := range []string{them + "-", d.service[them].String()} {
						if strings.Contains(string(body), secret) {
							t.Errorf("%s's answer holds %q of %s: %.300s", slug, secret, them, body)
						}
					}
				})
			}
		}
		if got := d.revision(them); got != before {
			t.Errorf("%s's revision moved from %d to %d under %s's requests", them, before, got, slug)
		}
		if _, after := d.do("GET", "/t/"+them+"/api/members", d.tokens[them+"-admin"], nil); string(after) != string(membersBefore) {
			t.Errorf("%s's members changed under %s's requests:\n%s\n%s", them, slug, membersBefore, after)
		}
		t.Run(slug+" admin dials /t/"+them+"/api/game", func(t *testing.T) {
			c, res, err := d.dialTeam("/t/"+them, d.tokens[slug+"-admin"])
			if err == nil {
				c.ws.CloseNow()
				t.Fatal("the game endpoint of another team took the connection")
			}
			if res == nil || res.StatusCode != 404 {
				t.Fatalf("got %v (%+v), want a 404 before the upgrade", err, res)
			}
		})
	}

	// A command on alpha's game connection is never seen on beta's: beta's
	// next event is its own, at its own next revision.
	a := d.mustDial("/t/alpha", d.tokens["both"])
	b := d.mustDial("/t/beta", d.tokens["both"])
	a.handshake()
	_, bsnap := b.handshake()
	a.send(1, newTask(d.service["alpha"], "alpha's secret task"))
	if f, events := a.answer(1); f.Type != wire.TypeAck {
		t.Fatalf("alpha's task refused: %+v", f)
	} else if len(events) == 0 {
		a.expect(wire.TypeTaskCreated)
	}
	// alpha's event has been published; beta's connection must see only
	// its own, at beta's next revision.
	b.send(2, newTask(d.service["beta"], "beta's own task"))
	f, events := b.answer(2)
	if f.Type != wire.TypeAck || f.Ack.Revision != bsnap.Revision+1 {
		t.Fatalf("beta's task: %+v, want an Ack at revision %d: beta's revisions are its own", f, bsnap.Revision+1)
	}
	if len(events) == 0 {
		events = append(events, b.expect(wire.TypeTaskCreated).Event)
	}
	for _, e := range events {
		if e.Task.Title != "beta's own task" || e.Revision != bsnap.Revision+1 {
			t.Fatalf("beta's connection saw %+v", e)
		}
	}
	fresh := d.mustDial("/t/beta", d.tokens["beta-viewer"])
	_, snap := fresh.handshake()
	for _, task := range snap.Tasks {
		if task.Title == "alpha's secret task" {
			t.Fatal("alpha's task is in beta's snapshot")
		}
	}
}

// TestBarePaths checks the paths without /t/{team}: with two teams they
// answer 404 with a message that says what to use instead; with one they
// are that team's, as before teams.
func TestBarePaths(t *testing.T) {
	t.Run("two teams", func(t *testing.T) {
		d := startDeployment(t, "alpha", "beta")
		res, body := d.do("GET", "/api/settings", d.tokens["both"], nil)
		if res.StatusCode != 404 || errorCode(body) != "NOT_FOUND" || !strings.Contains(string(body), "/t/{team}/api/settings") {
			t.Fatalf("GET /api/settings: %d %s, want 404 NOT_FOUND saying to use /t/{team}/api/settings", res.StatusCode, body)
		}
		c, res, err := d.dialTeam("", d.tokens["both"])
		if err == nil {
			c.ws.CloseNow()
			t.Fatal("/api/game took a connection with two teams")
		}
		if res == nil || res.StatusCode != 404 {
			t.Fatalf("/api/game: %v, want 404 before the upgrade", err)
		}
	})
	t.Run("one team", func(t *testing.T) {
		d := startDeployment(t, "alpha")
		res, body := d.do("GET", "/api/settings", d.tokens["alpha-member"], nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET /api/settings: %d %s", res.StatusCode, body)
		}
		res, body = d.do("GET", "/api/services", d.tokens["alpha-member"], nil)
		if res.StatusCode != 200 || !strings.Contains(string(body), "alpha-service") {
			t.Fatalf("GET /api/services: %d %s", res.StatusCode, body)
		}
		c := d.mustDial("", d.tokens["alpha-member"])
		_, snap := c.handshake()
		c.ack(1, newTask(d.service["alpha"], "by the old path"))
		if got := d.revision("alpha"); got != snap.Revision+1 {
			t.Fatalf("alpha's revision %d after a command on /api/game, want %d", got, snap.Revision+1)
		}
	})
	t.Run("no team", func(t *testing.T) {
		d := startDeployment(t)
		res, body := d.do("GET", "/api/settings", d.tokens["root"], nil)
		if res.StatusCode != 404 || !strings.Contains(string(body), "setup") {
			t.Fatalf("GET /api/settings: %d %s, want 404 pointing to the setup link", res.StatusCode, body)
		}
	})
}

// TestRoles checks what each role may do: a viewer reads and never
// changes (its commands refused with FORBIDDEN); a member gets FORBIDDEN
// on every admin endpoint and admin command; a team's admin is no admin of
// the deployment; and a role change takes effect on open connections.
func TestRoles(t *testing.T) {
	d := startDeployment(t, "alpha", "beta")
	routes, deploy := parsedRoutes(t)

	t.Run("a viewer reads", func(t *testing.T) {
		for _, p := range []string{"/api/settings", "/api/members", "/api/services", "/api/status", "/api/profiles"} {
			if res, body := d.do("GET", "/t/alpha"+p, d.tokens["alpha-viewer"], nil); res.StatusCode != 200 {
				t.Errorf("GET /t/alpha%s as a viewer: %d %s", p, res.StatusCode, body)
			}
		}
		c := d.mustDial("/t/alpha", d.tokens["alpha-viewer"])
		w, snap := c.handshake()
		if w.Role != uint8(server.RoleViewer) {
			t.Errorf("Welcome role %d, want %d (viewer)", w.Role, server.RoleViewer)
		}
		if len(snap.Services) != 1 {
			t.Errorf("the viewer's snapshot has %d services, want 1", len(snap.Services))
		}
	})

	t.Run("a viewer's command is refused", func(t *testing.T) {
		before := d.revision("alpha")
		c := d.mustDial("/t/alpha", d.tokens["alpha-viewer"])
		c.handshake()
		for i, cmd := range []world.Command{
			newTask(d.service["alpha"], "viewer's task"),
			{Kind: world.CmdCreateService, Service: engine.RandomID(), Text: "viewer's service"},
		} {
			req := uint32(10 + i)
			c.send(req, cmd)
			f, events := c.answer(req)
			if f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
				t.Fatalf("%s as a viewer: %+v, want an Error FORBIDDEN (%d)", cmd.Kind, f, world.CodeForbidden)
			}
			if len(events) != 0 {
				t.Fatalf("events after a refused command: %+v", events)
			}
		}
		if got := d.revision("alpha"); got != before {
			t.Fatalf("the world moved from %d to %d under a viewer", before, got)
		}
	})

	t.Run("a member is no admin", func(t *testing.T) {
		n := 0
		for _, r := range routes {
			if r.guard != "admin" {
				continue
			}
			n++
			res, body := d.do(r.method, d.fill(r.path, "alpha"), d.tokens["alpha-member"], bodyFor(r))
			if res.StatusCode != 403 || errorCode(body) != "FORBIDDEN" {
				t.Errorf("%s %s as a member: %d %s, want 403 FORBIDDEN", r.method, r.path, res.StatusCode, body)
			}
		}
		if n < 10 {
			t.Fatalf("only %d admin routes found in routes.go", n)
		}
		before := d.revision("alpha")
		c := d.mustDial("/t/alpha", d.tokens["alpha-member"])
		c.handshake()
		for i, cmd := range []world.Command{
			{Kind: world.CmdCreateService, Service: engine.RandomID(), Text: "member's service"},
			{Kind: world.CmdSetGrid, Grid: 15},
		} {
			req := uint32(20 + i)
			c.send(req, cmd)
			if f, _ := c.answer(req); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
				t.Errorf("%s as a member: %+v, want an Error FORBIDDEN", cmd.Kind, f)
			}
		}
		if got := d.revision("alpha"); got != before {
			t.Fatalf("the world moved from %d to %d under a member's admin commands", before, got)
		}
		// What a member may do, it does.
		c.ack(30, newTask(d.service["alpha"], "member's task"))
	})

	t.Run("a team admin is no deployment admin", func(t *testing.T) {
		n := 0
		for _, r := range deploy {
			if r.guard != "deployAdmin" {
				continue
			}
			n++
			path := strings.ReplaceAll(strings.ReplaceAll(r.path, "{slug}", "alpha"), "{name}", "alpha-member")
			var body any = map[string]any{}
			if r.method == "GET" || r.method == "DELETE" {
				body = nil
			}
			res, raw := d.do(r.method, path, d.tokens["alpha-admin"], body)
			if res.StatusCode != 403 || errorCode(raw) != "FORBIDDEN" {
				t.Errorf("%s %s as a team admin: %d %s, want 403 FORBIDDEN", r.method, path, res.StatusCode, raw)
			}
			if r.method == "GET" {
				if res, raw := d.do(r.method, path, d.tokens["root"], nil); res.StatusCode != 200 {
					t.Errorf("%s %s as the deployment's admin: %d %s", r.method, path, res.StatusCode, raw)
				}
			}
		}
		if n < 8 {
			t.Fatalf("only %d deployment admin routes found in routes.go", n)
		}
	})

	t.Run("a role change reconnects with the new role", func(t *testing.T) {
		c := d.mustDial("/t/beta", d.tokens["beta-member"])
		if w, _ := c.handshake(); w.Role != uint8(server.RoleMember) {
			t.Fatalf("Welcome role %d, want member", w.Role)
		}
		res, body := d.do("PUT", "/t/beta/api/members/beta-member", d.tokens["beta-admin"], map[string]string{"role": "viewer"})
		if res.StatusCode != 200 {
			t.Fatalf("role change: %d %s", res.StatusCode, body)
		}
		if code := c.closedWith(); code == -1 {
			t.Fatal("the connection ended without a close code")
		}
		c = d.mustDial("/t/beta", d.tokens["beta-member"])
		if w, _ := c.handshake(); w.Role != uint8(server.RoleViewer) {
			t.Fatalf("Welcome role %d after the change, want %d (viewer)", w.Role, server.RoleViewer)
		}
		c.send(1, newTask(d.service["beta"], "no longer allowed"))
		if f, _ := c.answer(1); f.Type != wire.TypeError || f.Error.Code != world.CodeForbidden {
			t.Fatalf("a command after the change: %+v, want FORBIDDEN", f)
		}
	})
}

// TestFirstRun walks a new server's first run over HTTP and the game
// endpoint: the setup link claims it once, its admin makes a service and
// an invitation, the invited user joins, logs in and schedules a task, and
// the admin's open page sees it as it happens.
func TestFirstRun(t *testing.T) {
	d := startDeployment(t)
	needed := func() bool {
		t.Helper()
		res, body := d.do("GET", "/api/setup", "", nil)
		var out struct{ Needed bool }
		if res.StatusCode != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET /api/setup: %d %s", res.StatusCode, body)
		}
		return out.Needed
	}
	if !needed() {
		t.Fatal("a server with no team says it needs no setup")
	}
	link, err := d.srv.SetupLink(d.hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil || u.Path != "/setup" || u.Query().Get("token") == "" {
		t.Fatalf("setup link %q", link)
	}
	token := u.Query().Get("token")
	setup := func(tok string) (*http.Response, []byte) {
		return d.do("POST", "/api/setup", "", map[string]string{"token": tok, "team": "Ops Berlin", "username": "ann", "password": "ann-password"})
	}

	res, body := setup(token[:len(token)-2] + "xx")
	if res.StatusCode != 403 || errorCode(body) != "UNAUTHORIZED" {
		t.Fatalf("setup with a wrong token: %d %s, want 403 UNAUTHORIZED", res.StatusCode, body)
	}
	if !needed() {
		t.Fatal("a refused setup set the server up")
	}
	if _, err := d.srv.Accounts().Get("ann"); err == nil {
		t.Fatal("a refused setup made the account")
	}

	res, body = setup(token)
	if res.StatusCode != 200 {
		t.Fatalf("setup: %d %s", res.StatusCode, body)
	}
	var done struct {
		Token string
		URL   string
		Team  struct{ Slug string }
	}
	json.Unmarshal(body, &done)
	if done.Team.Slug != "ops-berlin" || done.URL != "/t/ops-berlin/" || done.Token == "" {
		t.Fatalf("setup answered %s", body)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "txxt_session" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != done.Token || !cookie.HttpOnly {
		t.Fatalf("setup set no session cookie: %v", res.Header["Set-Cookie"])
	}
	if needed() {
		t.Fatal("the server still needs a setup")
	}
	if res, body := setup(token); res.StatusCode != 403 {
		t.Fatalf("the same setup token again: %d %s, want 403", res.StatusCode, body)
	}
	// The cookie is a login.
	res, body = d.request("GET", "/api/me", "", nil, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}})
	if res.StatusCode != 200 || !strings.Contains(string(body), `"role":"admin"`) {
		t.Fatalf("GET /api/me with the setup's cookie: %d %s", res.StatusCode, body)
	}

	ann := done.Token
	team := "/t/ops-berlin"
	res, body = d.do("POST", team+"/api/services", ann, map[string]string{"name": "Billing"})
	if res.StatusCode != 200 {
		t.Fatalf("create a service: %d %s", res.StatusCode, body)
	}
	var svc struct{ ID world.ID }
	json.Unmarshal(body, &svc)
	res, body = d.do("POST", team+"/api/invites", ann, map[string]string{"role": "member"})
	if res.StatusCode != 200 {
		t.Fatalf("invite: %d %s", res.StatusCode, body)
	}
	var inv struct{ Token, URL string }
	json.Unmarshal(body, &inv)
	if !strings.HasSuffix(inv.URL, "/invite?token="+inv.Token) {
		t.Fatalf("invitation link %q", inv.URL)
	}
	annPage := d.mustDial(team, ann)
	annPage.handshake()

	res, body = d.do("POST", "/api/invites/"+inv.Token+"/accept", "", map[string]string{"username": "bob", "password": "bob-password"})
	if res.StatusCode != 200 {
		t.Fatalf("accept the invitation: %d %s", res.StatusCode, body)
	}
	res, body = d.do("POST", "/api/invites/"+inv.Token+"/accept", "", map[string]string{"username": "eve", "password": "eve-password"})
	if res.StatusCode != 403 {
		t.Fatalf("the invitation a second time: %d %s, want 403", res.StatusCode, body)
	}
	if _, err := d.srv.Accounts().Get("eve"); err == nil {
		t.Fatal("a spent invitation made an account")
	}
	bob := d.login("bob", "bob-password")
	bobPage := d.mustDial(team, bob)
	if w, _ := bobPage.handshake(); w.Role != uint8(server.RoleMember) || w.UserName != "bob" {
		t.Fatalf("bob's Welcome: %+v", w)
	}
	bobPage.send(1, newTask(svc.ID, "Deploy backup"))
	f, events := bobPage.answer(1)
	if f.Type != wire.TypeAck {
		t.Fatalf("bob's task refused: %+v", f)
	}
	if len(events) == 0 {
		events = append(events, bobPage.expect(wire.TypeTaskCreated).Event)
	}
	id := events[0].Task.ID
	slot := world.Slot{Date: 20000, Start: 9 * 60, Duration: 60}
	bobPage.ack(2, world.Command{Kind: world.CmdScheduleTask, Task: id, Slot: slot})

	// ann's page, open all along, sees bob join, then his task created
	// and scheduled, as they happen.
	e := annPage.next().Event
	if e.Kind != world.EvUserCreated || e.User.Name != "bob" {
		t.Fatalf("ann's page got %+v, want bob's UserCreated", e)
	}
	e = annPage.expect(wire.TypeTaskCreated).Event
	if e.Task.Title != "Deploy backup" {
		t.Fatalf("ann's page got %+v", e)
	}
	e = annPage.expect(wire.TypeTaskScheduled).Event
	if e.Task.ID != id || e.Task.Slot != slot {
		t.Fatalf("ann's page got %+v, want the task scheduled at %+v", e, slot)
	}
}

// TestSetupLinkEndsWithTheFirstTeam: a server set up some other way (a
// deployment admin creates its first team, as txxt setup does) no longer
// takes the setup link it printed, which would make its holder an admin.
func TestSetupLinkEndsWithTheFirstTeam(t *testing.T) {
	d := startDeployment(t)
	link, err := d.srv.SetupLink(d.hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	if res, body := d.do("POST", "/api/teams", d.tokens["root"], map[string]string{"name": "Alpha", "slug": "alpha"}); res.StatusCode != 200 {
		t.Fatalf("create the first team: %d %s", res.StatusCode, body)
	}
	res, body := d.do("POST", "/api/setup", "", map[string]string{"token": u.Query().Get("token"), "team": "Intruders", "username": "mallory", "password": "mallory-pw"})
	if res.StatusCode != 403 || errorCode(body) != "UNAUTHORIZED" {
		t.Fatalf("the setup link after the first team: %d %s, want 403 UNAUTHORIZED", res.StatusCode, body)
	}
	if _, err := d.srv.Accounts().Get("mallory"); err == nil {
		t.Fatal("the stale setup link made an account")
	}
	// A link a deployment admin asks for afterwards is a new, deliberate one.
	if res, body := d.do("POST", "/api/setup/link", d.tokens["root"], nil); res.StatusCode != 200 {
		t.Fatalf("a new setup link: %d %s", res.StatusCode, body)
	}
}
