package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// logBuffer is a server's log, safe to read while it writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func logged(cfg *server.Config) *logBuffer {
	b := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(b, nil))
	return b
}

// A failed login's user name is the limiter's key and goes to the log:
// both are bounded, whatever the body holds.
func TestLoginNamesAreBounded(t *testing.T) {
	var cfg server.Config
	log := logged(&cfg)
	h := start(t, options{cfg: cfg})
	for i := range 3 {
		name := strings.Repeat(fmt.Sprint(i), 60<<10)
		res, body := h.do("POST", "/api/auth/login", "", map[string]string{"username": name, "password": "x"})
		if res.StatusCode != 401 {
			t.Fatalf("a 60 KiB name: %d %s", res.StatusCode, body)
		}
	}
	for _, k := range h.srv.LoginKeys() {
		if len(k) > 100 {
			t.Errorf("the login limiter holds a key of %d bytes", len(k))
		}
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if len(line) > 400 {
			t.Errorf("a log line of %d bytes: %.120s…", len(line), line)
		}
	}
}

// encoding/json takes {"GRID":…} for "grid" and lets the last of two
// equal keys win; decodeJSON refuses both.
func TestJSONNamesAreExact(t *testing.T) {
	h := start(t, options{})
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/api/settings", `{"GRID":30}`},
		{"PUT", "/api/settings", `{"grid":15,"grid":30}`},
		{"POST", "/api/auth/login", `{"Username":"ann","password":"ann-pw"}`},
		{"POST", "/api/auth/login", `{"username":"bob","username":"ann","password":"ann-pw"}`},
		{"PUT", "/api/profiles/x", `{"view":"week","View":"month"}`},
		{"PUT", "/api/profiles/x", `{"view":"week","services":[],"services":[]}`},
	} {
		res, body := h.do(c.method, c.path, h.admin, c.body)
		if res.StatusCode != 400 || errorCode(body) != "BAD_REQUEST" {
			t.Errorf("%s %s %s: %d %s, want 400 BAD_REQUEST", c.method, c.path, c.body, res.StatusCode, body)
		}
	}
	if res, body := h.do("PUT", "/api/settings", h.admin, `{"grid":30}`); res.StatusCode != 200 {
		t.Fatalf("the right name: %d %s", res.StatusCode, body)
	}
}

// The file server lists a directory's files; only / is a directory's
// answer.
func TestNoDirectoryListings(t *testing.T) {
	h := start(t, options{})
	for _, p := range []string{"/js/", "/js", "/css/", "/css", "/t/main/js/", "/js/../css/"} {
		res, body := h.do("GET", p, "", nil)
		if res.StatusCode != 404 || bytes.Contains(body, []byte("<a href")) {
			t.Errorf("GET %s: %d %.200s", p, res.StatusCode, body)
		}
	}
	for _, p := range []string{"/", "/t/main/", "/js/app.js", "/css/app.css"} {
		if res, _ := h.do("GET", p, "", nil); res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

// An Origin of the server's host with another scheme is another origin.
func TestOriginSchemeCounts(t *testing.T) {
	h := start(t, options{})
	host := h.hs.Listener.Addr().String()
	login := func(origin string) int {
		res, _ := h.request("POST", "/api/auth/login", "", map[string]string{"username": "ann", "password": "ann-pw"},
			http.Header{"Origin": {origin}})
		return res.StatusCode
	}
	if got := login("https://" + host); got != 403 {
		t.Errorf("login from https://%s on an http server: %d, want 403", host, got)
	}
	if got := login("http://" + host); got != 200 {
		t.Errorf("login from http://%s: %d", host, got)
	}
	_, res, err := h.dialRaw(true, "", http.Header{"Origin": {"https://" + host}, "Authorization": {"Bearer " + h.admin}})
	if err == nil || res == nil || res.StatusCode != 403 {
		t.Errorf("game connection from https://%s: %v %v", host, res, err)
	}
}

// HEAD /api/backup answers its headers without copying the save file.
func TestHeadBackupMakesNoCopy(t *testing.T) {
	var cfg server.Config
	log := logged(&cfg)
	h := start(t, options{cfg: cfg})
	res, _ := h.do("HEAD", "/api/backup", h.admin, nil)
	if res.StatusCode != 200 || res.Header.Get("X-Txxt-Revision") == "" {
		t.Fatalf("HEAD: %d %v", res.StatusCode, res.Header)
	}
	if strings.Contains(log.String(), "msg=backup") {
		t.Fatalf("HEAD made a copy:\n%s", log.String())
	}
	if res, _ := h.do("GET", "/api/backup", h.admin, nil); res.StatusCode != 200 || !strings.Contains(log.String(), "msg=backup") {
		t.Fatalf("GET: %d, log:\n%s", res.StatusCode, log.String())
	}
}

// The session cookie is Secure when the browser reached the server over
// HTTPS: --public-url https://…, or X-Forwarded-Proto: https from a proxy
// named in --trusted-proxy (and from no one else).
func TestSecureCookieOverHTTPS(t *testing.T) {
	secure := func(h *harness, header http.Header) bool {
		t.Helper()
		res, body := h.request("POST", "/api/auth/login", "", map[string]string{"username": "ann", "password": "ann-pw"}, header)
		if res.StatusCode != 200 || len(res.Cookies()) == 0 {
			t.Fatalf("login: %d %s", res.StatusCode, body)
		}
		return res.Cookies()[0].Secure
	}
	proto := http.Header{"X-Forwarded-Proto": {"https"}}
	plain := start(t, options{})
	if secure(plain, nil) || secure(plain, proto) {
		t.Error("Secure over plain HTTP, or on an untrusted X-Forwarded-Proto")
	}
	proxied := start(t, options{cfg: server.Config{TrustedProxies: []string{"127.0.0.1"}}})
	if !secure(proxied, proto) || secure(proxied, nil) {
		t.Error("a trusted proxy's X-Forwarded-Proto: https is not followed")
	}
	public := start(t, options{cfg: server.Config{PublicURL: "https://cal.example.com"}})
	if !secure(public, nil) {
		t.Error("not Secure with an https --public-url")
	}
}

// A server stopped for ten seconds (SIGSTOP) wakes to find the frames a
// client sent meanwhile, at the allowed rate, all queued: they are
// answered as they deserve, not refused RATE_LIMITED as one burst. A
// client that was idle for ten seconds while the server ran and then
// sends as many is still limited.
func TestPausedServerAnswersQueuedCommands(t *testing.T) {
	clk := &clock{base: time.Now()}
	h := start(t, options{noSync: true, cfg: server.Config{Now: clk.now, TelemetryEvery: time.Hour}})
	svc := h.service("Ops")
	const n = 1800 // 9 s at 200 a second: past the burst of 400, within 10 s
	flood := func(c *client, from uint32) (acked, limited int) {
		t.Helper()
		// Written while the answers are read, so that neither side
		// waits on the other.
		wrote := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			for i := range uint32(n) {
				cmd := newTask(svc, fmt.Sprint("t", from+i))
				if err := c.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, from+i, &cmd)); err != nil {
					wrote <- err
					return
				}
			}
			wrote <- nil
		}()
		defer func() {
			select {
			case err := <-wrote:
				if err != nil {
					t.Fatalf("writing the flood: %v", err)
				}
			case <-time.After(wait):
				t.Fatalf("the flood's writer did not finish within %s", wait)
			}
		}()
		for acked+limited < n {
			f := c.next()
			switch {
			case f.Type == wire.TypeAck:
				acked++
			case f.Type == wire.TypeError && f.Error.Code == world.CodeRateLimited:
				limited++
			case f.Type == wire.TypeError:
				t.Fatalf("refused %s %s", f.Error.Code, f.Error.Message)
			}
		}
		return acked, limited
	}

	t.Run("paused", func(t *testing.T) {
		c := h.dial(true, "")
		c.handshake()
		h.srv.Beat()
		clk.advance(10 * time.Second) // the process stopped: no beat
		if acked, limited := flood(c, 1); limited != 0 {
			t.Fatalf("after a 10 s pause: %d acknowledged, %d refused RATE_LIMITED", acked, limited)
		}
	})
	t.Run("idle while the server ran", func(t *testing.T) {
		h.srv.Beat() // the server runs again (its ticker may not have beaten yet)
		// Another user: a command budget is the user's, and ann's still
		// holds what the pause credited her.
		c := h.dialAs(h.member, true, "")
		c.handshake()
		for range 100 {
			clk.advance(100 * time.Millisecond)
			h.srv.Beat()
		}
		if acked, limited := flood(c, 100000); acked != 400 || limited != n-400 {
			t.Fatalf("after 10 s idle: %d acknowledged, %d refused RATE_LIMITED; want 400 and %d", acked, limited, n-400)
		}
	})
}
