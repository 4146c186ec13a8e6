package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
	"txxt/worldlog"
)

// Tests run the real server on a real socket (httptest listens on a free
// loopback port, with the http.Server txxt serve has) over a real save
// file, and talk to it with a real WebSocket client. Only argon2's cost is
// lowered, so logins are fast.
var fastHash = server.HashParams{Time: 1, Memory: 64, Threads: 1}

const wait = 30 * time.Second // how long a test waits for a frame that must come (a deadline for failing, never a pace: a busy machine is slow)

type harness struct {
	t      testing.TB
	path   string
	st     *store.Store
	eng    *engine.Engine
	srv    *server.Server
	hs     *httptest.Server
	admin  string // bearer token of the admin "ann"
	member string // bearer token of the member "bob"
	once   sync.Once
}

type options struct {
	cfg    server.Config
	engine engine.Options
	path   string // save file; default: a new one in a temporary directory
	noSync bool   // the store does not fsync (benchmarks of CPU cost only)
	// wrap, if set, stands between the engine and the store's log: the
	// way to inject a storage fault a real disk cannot give on demand.
	wrap func(*store.Store) worldlog.Log
}

// start opens a save file (new unless o.path names one), creates the
// accounts ann (admin) and bob (member) when they do not exist, and serves.
func start(t testing.TB, o options) *harness {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "txxt.db")
	}
	st, err := store.Open(o.path, store.Options{NoSync: o.noSync})
	if err != nil {
		t.Fatal(err)
	}
	var log worldlog.Log = st
	if o.wrap != nil {
		log = o.wrap(st)
	}
	eng, err := engine.Open(log, o.engine)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.HashParams == (server.HashParams{}) {
		o.cfg.HashParams = fastHash
	}
	o.cfg.Version = "test"
	srv, err := server.New(o.cfg, eng, st)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = srv.HTTPServer() // the timeouts txxt serve has
	hs.Start()
	h := &harness{t: t, path: o.path, st: st, eng: eng, srv: srv, hs: hs}
	t.Cleanup(h.stop)
	for _, u := range []struct {
		name string
		role server.Role
	}{{"ann", server.RoleAdmin}, {"bob", server.RoleMember}} {
		if _, err := srv.Accounts().Get(u.name); errors.Is(err, server.ErrNoSuchUser) {
			if _, err := srv.Accounts().Create(u.name, u.name+"-pw", u.role); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.AddMember(context.Background(), server.MainTeam, u.name, "", u.role); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.admin = h.login("ann", "ann-pw")
	h.member = h.login("bob", "bob-pw")
	return h
}

// stop shuts the server down gracefully and closes the save file.
func (h *harness) stop() {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			h.t.Errorf("shutdown: %v", err)
		}
		h.hs.Close()
		if err := h.st.Close(); err != nil {
			h.t.Errorf("close store: %v", err)
		}
	})
}

func (h *harness) login(name, password string) string {
	h.t.Helper()
	res, body := h.do("POST", "/api/auth/login", "", map[string]string{"username": name, "password": password})
	if res.StatusCode != 200 {
		h.t.Fatalf("login %s: %d %s", name, res.StatusCode, body)
	}
	var out struct{ Token string }
	json.Unmarshal(body, &out)
	return out.Token
}

// request sends a JSON API request; body may be nil, a string (sent as
// is) or a value (sent as JSON).
func (h *harness) request(method, path, token string, body any, header http.Header) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.hs.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

func (h *harness) do(method, path, token string, body any) (*http.Response, []byte) {
	h.t.Helper()
	return h.request(method, path, token, body, nil)
}

// wsURL is the game endpoint's address with query (which may be empty).
func (h *harness) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(h.hs.URL, "http") + "/api/game"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialRaw opens a game connection with the given headers and protocol.
func (h *harness) dialRaw(v1 bool, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	return h.dialVia(nil, v1, query, header)
}

// from returns an HTTP client whose connections come from the loopback
// address ip (on Linux all of 127.0.0.0/8 is loopback, so a test can be
// several hosts), or skips the test where ip cannot be used.
func (h *harness) from(ip string) *http.Client {
	h.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", h.hs.Listener.Addr().String())
	if err != nil {
		h.t.Skipf("cannot connect from %s here: %v", ip, err)
	}
	nc.Close()
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// dialVia is dialRaw through client (nil: the default one).
func (h *harness) dialVia(client *http.Client, v1 bool, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	opts := &websocket.DialOptions{HTTPClient: client, HTTPHeader: header}
	if v1 {
		opts.Subprotocols = []string{wire.Subprotocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, h.wsURL(query), opts)
	if ws != nil {
		ws.SetReadLimit(-1)
	}
	return ws, res, err
}

// client is a test's game connection.
type client struct {
	t  testing.TB
	ws *websocket.Conn
	v1 bool
}

// dial connects as the admin with a bearer token.
func (h *harness) dial(v1 bool, query string) *client {
	return h.dialAs(h.admin, v1, query)
}

func (h *harness) dialAs(token string, v1 bool, query string) *client {
	h.t.Helper()
	ws, _, err := h.dialRaw(v1, query, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	c := &client{t: h.t, ws: ws, v1: v1}
	h.t.Cleanup(func() { ws.CloseNow() })
	return c
}

// read returns the next frame, raw and decoded.
func (c *client) read() ([]byte, wire.ServerFrame) {
	c.t.Helper()
	raw, f, err := c.readErr()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return raw, f
}

func (c *client) readErr() ([]byte, wire.ServerFrame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, raw, err := c.ws.Read(ctx)
	if err != nil {
		return nil, wire.ServerFrame{}, err
	}
	if typ != websocket.MessageBinary {
		c.t.Fatalf("got a text frame: %q", raw)
	}
	f, err := wire.DecodeServerFrame(raw, c.v1)
	if err != nil {
		c.t.Fatalf("server sent a frame that does not decode: %v (% x)", err, raw)
	}
	return raw, f, nil
}

// isControl reports frames that may come at any time: presence,
// telemetry, server state.
func isControl(t byte) bool {
	return t == wire.TypePresence || t == wire.TypeTelemetry || t == wire.TypeServerState
}

// next returns the next frame that is not a control frame.
func (c *client) next() wire.ServerFrame {
	c.t.Helper()
	deadline := time.Now().Add(wait) // control frames come every few seconds: bound the whole wait
	for time.Now().Before(deadline) {
		_, f := c.read()
		if !isControl(f.Type) {
			return f
		}
	}
	c.t.Fatalf("only control frames for %s", wait)
	return wire.ServerFrame{}
}

// expect returns the next non-control frame, which must be of type typ.
func (c *client) expect(typ byte) wire.ServerFrame {
	c.t.Helper()
	f := c.next()
	if f.Type != typ {
		c.t.Fatalf("got frame 0x%02x (%+v), want 0x%02x", f.Type, f, typ)
	}
	return f
}

// handshake reads what a new connection gets first: Welcome (v1), then
// the Snapshot.
func (c *client) handshake() (wire.Welcome, *world.State) {
	c.t.Helper()
	var w wire.Welcome
	if c.v1 {
		_, f := c.read()
		if f.Type != wire.TypeWelcome {
			c.t.Fatalf("first frame 0x%02x, want Welcome", f.Type)
		}
		w = f.Welcome
	}
	return w, c.expect(wire.TypeSnapshot).Snapshot
}

func (c *client) send(request uint32, cmd world.Command) {
	c.t.Helper()
	c.write(wire.AppendCommand(nil, c.v1, request, &cmd))
}

func (c *client) write(frame []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// answer reads until the answer (Ack or Error) to request, returning it
// and the events read on the way.
func (c *client) answer(request uint32) (wire.ServerFrame, []world.Event) {
	c.t.Helper()
	var events []world.Event
	for {
		f := c.next()
		switch {
		case wire.IsEvent(f.Type):
			events = append(events, f.Event)
		case f.Type == wire.TypeAck && f.Ack.Request == request,
			f.Type == wire.TypeError && f.Error.Request == request:
			return f, events
		default:
			c.t.Fatalf("while waiting for the answer to %d: frame 0x%02x %+v", request, f.Type, f)
		}
	}
}

// ack sends cmd and returns the revision of its Ack.
func (c *client) ack(request uint32, cmd world.Command) uint64 {
	c.t.Helper()
	c.send(request, cmd)
	f, _ := c.answer(request)
	if f.Type != wire.TypeAck {
		c.t.Fatalf("%s refused: %s %s", cmd.Kind, f.Error.Code, f.Error.Message)
	}
	return f.Ack.Revision
}

// closedWith reads until the connection ends and returns its close code.
func (c *client) closedWith() websocket.StatusCode {
	c.t.Helper()
	for {
		_, _, err := c.readErr()
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// service creates a service through the engine and returns its id.
func (h *harness) service(name string) world.ID {
	h.t.Helper()
	id := engine.RandomID()
	res, err := h.eng.Do(context.Background(), engine.Request{Command: world.Command{Kind: world.CmdCreateService, Service: id, Text: name}})
	if err != nil || res.Err != nil {
		h.t.Fatalf("create service: %v %v", err, res.Err)
	}
	return id
}

func newTask(svc world.ID, title string) world.Command {
	return world.Command{Kind: world.CmdCreateTask, Service: svc, Priority: world.Medium, Slot: world.NoSlot, Text: title}
}

// status returns GET /api/status.
func (h *harness) status() map[string]any {
	h.t.Helper()
	_, body := h.do("GET", "/api/status", "", nil)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		h.t.Fatalf("status: %v: %s", err, body)
	}
	return m
}

// eventually polls cond until it holds or the wait runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %s: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
