package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"txxt/engine"
	"txxt/server"
	"txxt/tables"
	"txxt/wire"
	"txxt/world"
)

// apiError decodes an error body and checks it is the JSON the API
// promises.
func apiError(t *testing.T, res *http.Response, body []byte, status int, code world.Code) {
	t.Helper()
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error body is not JSON (%s): %s", res.Header.Get("Content-Type"), body)
	}
	if res.StatusCode != status || e.Code != code.String() || e.Message == "" {
		t.Fatalf("got %d %s %q, want %d %s", res.StatusCode, e.Code, e.Message, status, code)
	}
}

func TestLogin(t *testing.T) {
	h := start(t, options{})
	t.Run("success sets the cookie", func(t *testing.T) {
		res, body := h.do("POST", "/api/auth/login", "", map[string]string{"username": "bob", "password": "bob-pw"})
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		// The original server's shape (user: id and username) and ours
		// (token, role, expires, teams) in one answer.
		var out struct {
			Token string
			User  struct {
				ID       world.ID `json:"id"`
				Username string   `json:"username"`
			}
			Role    string
			Expires time.Time
			Teams   []struct{ Slug, Role string }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var bob world.ID
		h.eng.Read(context.Background(), func(w *world.World) {
			for _, u := range w.State().Users {
				if u.Name == "bob" {
					bob = u.ID
				}
			}
		})
		if out.Token == "" || out.User.Username != "bob" || out.User.ID.IsZero() || out.User.ID != bob || out.Role != "member" {
			t.Fatalf("body %s (bob is %s in the world)", body, bob)
		}
		if !out.Expires.After(time.Now()) || len(out.Teams) != 1 || out.Teams[0].Role != "member" {
			t.Fatalf("body %s", body)
		}
		var ck *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == "txxt_session" {
				ck = c
			}
		}
		if ck == nil || ck.Value != out.Token || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
			t.Fatalf("cookie %+v", ck)
		}
		// The cookie works as a credential, and the file holds no token.
		r2, _ := h.request("GET", "/api/settings", "", nil, http.Header{"Cookie": {"txxt_session=" + out.Token}})
		if r2.StatusCode != 200 {
			t.Fatalf("cookie refused: %d", r2.StatusCode)
		}
		tables.ForEach(context.Background(), h.st, "sessions", func(k string, v []byte) error {
			if strings.Contains(k, out.Token) || strings.Contains(string(v), out.Token) {
				t.Fatal("the save file holds a session token")
			}
			return nil
		})
	})
	t.Run("failures", func(t *testing.T) {
		res, body := h.do("POST", "/api/auth/login", "", map[string]string{"username": "bob", "password": "wrong"})
		apiError(t, res, body, 401, world.CodeUnauthorized)
		res, body = h.do("POST", "/api/auth/login", "", map[string]string{"username": "nobody", "password": "x"})
		apiError(t, res, body, 401, world.CodeUnauthorized)
		res, body = h.do("POST", "/api/auth/login", "", "{not json")
		apiError(t, res, body, 400, world.CodeBadRequest)
		res, body = h.do("POST", "/api/auth/login", "", `{"username":"bob","password":"bob-pw","admin":true}`)
		apiError(t, res, body, 400, world.CodeBadRequest)
		res, body = h.do("POST", "/api/auth/login", "", `{"username":"`+strings.Repeat("a", 70000)+`"}`)
		apiError(t, res, body, 413, world.CodeFrameTooLarge)
		res, body = h.request("POST", "/api/auth/login", "", map[string]string{"username": "bob", "password": "bob-pw"}, http.Header{"Origin": {"https://evil.example"}})
		apiError(t, res, body, 403, world.CodeUnauthorized)
	})
	t.Run("guessing is slowed down", func(t *testing.T) {
		var res *http.Response
		var body []byte
		for range 12 {
			if res, body = h.do("POST", "/api/auth/login", "", map[string]string{"username": "ann", "password": "guess"}); res.StatusCode == 429 {
				break
			}
		}
		apiError(t, res, body, 429, world.CodeRateLimited)
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
	})
}

func TestLogout(t *testing.T) {
	h := start(t, options{})
	tok := h.login("bob", "bob-pw")
	res, body := h.do("POST", "/api/auth/logout", tok, nil)
	if res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	res, body = h.do("GET", "/api/settings", tok, nil)
	apiError(t, res, body, 401, world.CodeUnauthorized)
	res, body = h.do("POST", "/api/auth/logout", tok, nil)
	apiError(t, res, body, 401, world.CodeUnauthorized)
	// Other sessions live on.
	if res, _ := h.do("GET", "/api/settings", h.member, nil); res.StatusCode != 200 {
		t.Fatalf("another session of bob ended: %d", res.StatusCode)
	}
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	h := start(t, options{})
	if err := h.srv.Accounts().SetPassword("bob", "new-pw"); err != nil {
		t.Fatal(err)
	}
	res, body := h.do("GET", "/api/settings", h.member, nil)
	apiError(t, res, body, 401, world.CodeUnauthorized)
	h.login("bob", "new-pw")
}

func TestStatusAndHealth(t *testing.T) {
	h := start(t, options{})
	c := h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "Ops"})
	// The latency is taken once the answer is written: just after the
	// client can have read it.
	eventually(t, "a latency sample", func() bool {
		return h.status()["latency_us"].(map[string]any)["total"].(map[string]any)["samples"].(float64) >= 1
	})
	st := h.status()
	for _, k := range []string{"version", "uptime_seconds", "revision", "tasks", "services", "users", "connections", "degraded", "degraded_reason", "save_file_bytes", "latency_us"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %s: %v", k, st)
		}
	}
	if st["services"].(float64) != 1 || st["users"].(float64) != 2 || st["connections"].(float64) != 1 || st["degraded"] != false || st["save_file_bytes"].(float64) <= 0 {
		t.Fatalf("status %v", st)
	}
	for _, stage := range []string{"total", "decode", "queue", "apply", "commit", "encode", "fanout", "batch"} {
		lat := st["latency_us"].(map[string]any)[stage].(map[string]any)
		if lat["samples"].(float64) < 1 || lat["p50"].(float64) <= 0 || lat["p95"].(float64) < lat["p50"].(float64) {
			t.Errorf("stage %s: %v", stage, lat)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if res, body := h.do("GET", p, "", nil); res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, res.StatusCode, body)
		}
	}
}

func TestSettings(t *testing.T) {
	h := start(t, options{})
	c := h.dial(true, "")
	c.handshake()

	res, body := h.do("GET", "/api/settings", "", nil)
	apiError(t, res, body, 401, world.CodeUnauthorized)
	res, body = h.do("GET", "/api/settings", h.member, nil)
	var set server.Settings
	if err := json.Unmarshal(body, &set); err != nil || res.StatusCode != 200 || set.Grid != world.DefaultGrid || set.TimeZone != "UTC" {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	set.Grid, set.TimeZone, set.WorkdayStart, set.WorkdayEnd, set.FirstDayOfWeek = 15, "Europe/Paris", 9*60, 17*60, 6
	res, body = h.do("PUT", "/api/settings", h.member, set)
	apiError(t, res, body, 403, world.CodeForbidden)
	res, body = h.do("PUT", "/api/settings", h.admin, set)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	// The grid is the world's: every client hears of the change.
	if f := c.expect(wire.TypeGridChanged); f.Event.Grid != 15 {
		t.Fatalf("grid event %+v", f.Event)
	}
	_, body = h.do("GET", "/api/settings", h.member, nil)
	var got server.Settings
	json.Unmarshal(body, &got)
	if got != set {
		t.Fatalf("settings %+v, want %+v", got, set)
	}

	bad := []struct {
		body string
		code world.Code
	}{
		{`{"time_zone":"Mars/Olympus"}`, world.CodeInvalidTimeZone},
		{`{"workday_start":600,"workday_end":500}`, world.CodeInvalidTime},
		{`{"first_day_of_week":7}`, world.CodeInvalidDate},
		{`{"grid":7}`, world.CodeInvalidGrid},
		{`{"colour":"red"}`, world.CodeBadRequest},
	}
	for _, b := range bad {
		res, body := h.do("PUT", "/api/settings", h.admin, b.body)
		apiError(t, res, body, 400, b.code)
	}
	res, body = h.request("PUT", "/api/settings", "", set, http.Header{"Cookie": {"txxt_session=" + h.admin}, "Origin": {"https://evil.example"}})
	apiError(t, res, body, 403, world.CodeUnauthorized)
}

func TestProfiles(t *testing.T) {
	h := start(t, options{})
	svc := h.service("Design")
	week := map[string]any{"view": "week", "date": "2026-11-23", "services": []string{svc.String()}, "collapsed": true, "layout": "person"}
	if res, body := h.do("PUT", "/api/profiles/my%20week", h.member, week); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if res, body := h.do("PUT", "/api/profiles/month", h.member, map[string]any{"view": "month"}); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	for _, date := range []string{"garbage", "2026-13-01", "2026-02-30", "26-01-01"} {
		if res, body := h.do("PUT", "/api/profiles/x", h.member, map[string]any{"date": date}); res.StatusCode != 400 || !strings.Contains(string(body), "BAD_REQUEST") {
			t.Fatalf("profile with date %q: %d %s", date, res.StatusCode, body)
		}
	}
	res, body := h.do("PUT", "/api/profiles/x", h.member, map[string]any{"view": "year"})
	apiError(t, res, body, 400, world.CodeBadRequest)
	res, body = h.do("PUT", "/api/profiles/x", h.member, map[string]any{"layout": "sideways"})
	apiError(t, res, body, 400, world.CodeBadRequest)
	res, body = h.do("POST", "/api/profiles/nope/activate", h.member, nil)
	apiError(t, res, body, 404, world.CodeNotFound)
	res, body = h.do("DELETE", "/api/profiles/nope", h.member, nil)
	apiError(t, res, body, 404, world.CodeNotFound)
	if res, body := h.do("POST", "/api/profiles/my%20week/activate", h.member, nil); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}

	var list []server.Profile
	_, body = h.do("GET", "/api/profiles", h.member, nil)
	json.Unmarshal(body, &list)
	if len(list) != 2 || !list[1].Active || list[1].Name != "my week" || list[0].Active {
		t.Fatalf("profiles %s", body)
	}
	// Profiles are the user's own.
	_, body = h.do("GET", "/api/profiles", h.admin, nil)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("ann sees %s", body)
	}

	// The active profile is in Welcome, and survives a restart.
	h.stop()
	h2 := start(t, options{path: h.path})
	c := h2.dialAs(h2.member, true, "")
	w, _ := c.handshake()
	var p server.Profile
	if err := json.Unmarshal(w.Profile, &p); err != nil || p.Name != "my week" || !p.Collapsed || p.Layout != "person" || len(p.Services) != 1 || p.Services[0] != svc {
		t.Fatalf("welcome profile %s", w.Profile)
	}
	if res, body := h2.do("DELETE", "/api/profiles/my%20week", h2.member, nil); res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	c2 := h2.dialAs(h2.member, true, "")
	if w, _ := c2.handshake(); len(w.Profile) != 0 {
		t.Fatalf("deleted active profile still in Welcome: %s", w.Profile)
	}
}

func TestRoutesAnswerJSON(t *testing.T) {
	h := start(t, options{})
	res, body := h.do("GET", "/api/nothing", "", nil)
	apiError(t, res, body, 404, world.CodeNotFound)
	res, body = h.do("DELETE", "/api/status", "", nil)
	apiError(t, res, body, 405, world.CodeMethodNotAllowed)
	if res.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("Allow %q", res.Header.Get("Allow"))
	}
	res, body = h.do("GET", "/api/auth/login", "", nil)
	apiError(t, res, body, 405, world.CodeMethodNotAllowed)
	res, body = h.do("POST", "/", "", nil)
	apiError(t, res, body, 405, world.CodeMethodNotAllowed)
	res, body = h.do("GET", "/", "", nil)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || len(body) == 0 {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The client's modules and style sheet, with the types a browser
	// insists on for them.
	for path, want := range map[string]string{"/js/app.js": "text/javascript", "/js/codec.js": "text/javascript", "/css/app.css": "text/css"} {
		res, body = h.do("GET", path, "", nil)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("GET %s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

func TestInsecureNoAuth(t *testing.T) {
	h := start(t, options{cfg: server.Config{InsecureNoAuth: true}})
	ws, _, err := h.dialRaw(true, "", nil)
	if err != nil {
		t.Fatalf("no-auth dial: %v", err)
	}
	c := &client{t: t, ws: ws, v1: true}
	w, _ := c.handshake()
	if w.UserName != "dev" || w.Role != uint8(server.RoleAdmin) {
		t.Fatalf("welcome %+v", w)
	}
	ws.CloseNow()
}

func TestExpiredSessions(t *testing.T) {
	var skew atomic.Int64 // the server's clock runs this far ahead
	h := start(t, options{cfg: server.Config{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }, SessionTTL: time.Hour}})
	if res, _ := h.do("GET", "/api/settings", h.member, nil); res.StatusCode != 200 {
		t.Fatalf("fresh session refused: %d", res.StatusCode)
	}
	skew.Store(int64(2 * time.Hour))
	n, err := h.srv.Accounts().Sweep()
	if err != nil || n != 2 {
		t.Fatalf("swept %d sessions (%v), want ann's and bob's", n, err)
	}
	res, body := h.do("GET", "/api/settings", h.member, nil)
	apiError(t, res, body, 401, world.CodeUnauthorized)
}

func TestMetricsEndpoint(t *testing.T) {
	h := start(t, options{})
	c := h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "Ops"})
	c.send(2, world.Command{Kind: world.CmdRenameService, Service: engine.RandomID(), Text: "x"})
	c.answer(2)
	eventually(t, "the answers are counted", func() bool {
		_, body := h.do("GET", "/metrics", "", nil)
		return strings.Contains(string(body), `txxt_stage_seconds_count{stage="total"} 2`)
	})
	res, body := h.do("GET", "/metrics", "", nil)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", res.Header.Get("Content-Type"))
	}
	text := string(body)
	for _, want := range []string{
		"# TYPE txxt_stage_seconds summary",
		`txxt_stage_seconds{stage="apply",quantile="0.99"} `,
		`txxt_stage_seconds_count{stage="commit"} `,
		`txxt_stage_seconds_count{stage="fanout"} `,
		"txxt_batch_commands_count ",
		`txxt_commands_total{outcome="accepted"} `,
		`txxt_commands_total{outcome="rejected"} 1`,
		`txxt_connections{protocol="v1"} 1`,
		"txxt_revision ",
		"# TYPE go_gc_heap_allocs_bytes_total counter",
		"go_sched_goroutines_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Every line is a comment or "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "#") && len(strings.Fields(line)) != 2 {
			t.Fatalf("malformed line %q", line)
		}
	}
}

func TestTelemetryFrame(t *testing.T) {
	h := start(t, options{cfg: server.Config{TelemetryEvery: 50 * time.Millisecond}})
	c := h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "Ops"})
	// A command's stages are recorded when each happens (its batch's
	// commit on the engine's goroutine, its total when its answer is
	// written), so under load they may fall in neighbouring windows: add
	// the windows up until every stage has been seen.
	want := []uint8{wire.StageTotal, wire.StageDecode, wire.StageQueue, wire.StageApply, wire.StageCommit, wire.StageEncode, wire.StageBatchSize}
	samples := map[uint8]uint32{}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		_, f := c.read()
		if f.Type != wire.TypeTelemetry {
			continue
		}
		if f.Telemetry.WindowMs != 50 {
			t.Fatalf("telemetry window %d ms, want 50", f.Telemetry.WindowMs)
		}
		for _, st := range f.Telemetry.Stages {
			if st.Samples > 0 && (st.P50 == 0 || st.P99 < st.P50) {
				t.Fatalf("stage %d: %+v", st.Stage, st)
			}
			samples[st.Stage] += st.Samples
		}
		all := true
		for _, st := range want {
			all = all && samples[st] > 0
		}
		if !all {
			continue
		}
		if samples[wire.StageTotal] != 1 {
			t.Fatalf("%d totals, want the one command's", samples[wire.StageTotal])
		}
		return
	}
	t.Fatalf("no Telemetry frames with every stage of the command: %v", samples)
}

// A session that expires while its game connection is open closes it.
func TestExpiredSessionClosesItsConnection(t *testing.T) {
	var skew atomic.Int64
	h := start(t, options{cfg: server.Config{
		Now:        func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
		SessionTTL: time.Hour,
		Limits:     server.Limits{PingInterval: 20 * time.Millisecond},
	}})
	c := h.dial(true, "")
	c.handshake()
	skew.Store(int64(2 * time.Hour))
	if code := c.closedWith(); code != 4002 {
		t.Fatalf("closed with %d, want 4002", code)
	}
}

// Failed logins slow down per user name too, not only per address: after
// ten failures for ann from 127.0.0.1, ann is refused from 127.0.0.2 as
// well, while bob logs in from there.
func TestLoginLimitPerUser(t *testing.T) {
	h := start(t, options{})
	for range 10 {
		h.do("POST", "/api/auth/login", "", map[string]string{"username": "ann", "password": "guess"})
	}
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	login := func(user, pw string) (*http.Response, []byte) {
		res, err := other.Post(h.hs.URL+"/api/auth/login", "application/json",
			strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
		if err != nil {
			t.Skipf("cannot connect from 127.0.0.2 here: %v", err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	res, body := login("ann", "ann-pw")
	apiError(t, res, body, 429, world.CodeRateLimited)
	if res, body := login("bob", "bob-pw"); res.StatusCode != 200 {
		t.Fatalf("bob from another address: %d %s", res.StatusCode, body)
	}
}

// A server that cannot read its sessions (here: its save file is closed
// under it) says so with 503, not 401: a client must not take the server's
// trouble for the end of its session and drop its user at the login page.
func TestUnreadableSessionsAreNotALogout(t *testing.T) {
	h := start(t, options{})
	h.st.Close()
	res, body := h.do("GET", "/api/settings", h.member, nil)
	apiError(t, res, body, 503, world.CodeStorageUnavailable)
	res, body = h.request("GET", "/api/game", h.member, nil, nil)
	apiError(t, res, body, 503, world.CodeStorageUnavailable)
}

// A store's error (here: the save file closed under the server) never
// reaches a client, neither its text nor the file's path: the client gets
// a code and a sentence, and the operator's log gets the error. Through
// the login check (the sessions are in the file) and, with the login
// turned off, in the handlers themselves: PUT /api/settings goes through
// the engine's commit, GET /api/profiles reads a table.
func TestStoreErrorsReachTheLogNotTheClient(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		t.Run(map[bool]string{false: "login", true: "handlers"}[insecure], func(t *testing.T) {
			var logs lockedBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			h := start(t, options{cfg: server.Config{Logger: logger, InsecureNoAuth: insecure}, engine: engine.Options{Logger: logger}})
			h.st.Close()
			storeErr := tables.ForEach(context.Background(), h.st, "profiles", func(string, []byte) error { return nil })
			if storeErr == nil {
				t.Fatal("a closed store reads")
			}
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"PUT", "/api/settings", map[string]any{"grid": 15}},
				{"GET", "/api/profiles", nil},
				{"PUT", "/api/profiles/mine", map[string]any{"view": "week"}},
				{"DELETE", "/api/profiles/mine", nil},
				{"GET", "/api/game", nil}, // without login, it upgrades: it needs no file
			} {
				if insecure && r.path == "/api/game" {
					continue
				}
				res, body := h.do(r.method, r.path, h.member, r.body)
				apiError(t, res, body, 503, world.CodeStorageUnavailable)
				for _, secret := range []string{storeErr.Error(), h.path, filepath.Base(h.path), "bolt"} {
					if strings.Contains(string(body), secret) {
						t.Errorf("%s %s answered %s: it shows %q", r.method, r.path, body, secret)
					}
				}
				var e struct{ Message string }
				json.Unmarshal(body, &e)
				if !strings.HasPrefix(e.Message, "The server ") || !strings.HasSuffix(e.Message, ".") {
					t.Errorf("%s %s: %q is not a sentence about the server", r.method, r.path, e.Message)
				}
			}
			if !strings.Contains(logs.String(), storeErr.Error()) {
				t.Errorf("the log does not have the store's error %q:\n%s", storeErr, logs.String())
			}
		})
	}
}
