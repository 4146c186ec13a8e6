package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/world"
)

// Abuse: one address cannot hold every game connection, and a client that
// sends its request slowly, or sends nothing, or keeps a connection alive
// doing nothing, is closed while everyone else carries on. The timeouts are
// shortened here; each test's bounds are generous (wait), and only lower
// bounds are exact, so a slow machine cannot fail them.

// TestConnectionsPerHost: with a limit of 3, the fourth game connection
// from 127.0.0.1 is refused with 429 TOO_MANY_CONNECTIONS before the
// upgrade; 127.0.0.2 has slots of its own; closing one connection frees
// its slot; refused upgrades (a bad token) hold none.
func TestConnectionsPerHost(t *testing.T) {
	const limit = 3
	h := start(t, options{cfg: server.Config{Limits: server.Limits{MaxConnsPerHost: limit}}})
	other := h.from("127.0.0.2")
	bearer := http.Header{"Authorization": {"Bearer " + h.admin}}
	dial := func(via *http.Client) (*client, *http.Response, []byte) {
		t.Helper()
		ws, res, err := h.dialVia(via, true, "", bearer)
		if err != nil {
			if res == nil {
				t.Fatalf("dial: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			return nil, res, body
		}
		t.Cleanup(func() { ws.CloseNow() })
		c := &client{t: t, ws: ws, v1: true}
		c.handshake()
		return c, nil, nil
	}
	full := func(via *http.Client, who string) {
		t.Helper()
		c, res, body := dial(via)
		if c != nil {
			t.Fatalf("%s: connection %d let in", who, limit+1)
		}
		apiError(t, res, body, http.StatusTooManyRequests, world.CodeTooManyConnections)
	}

	for range 2 * limit {
		ws, res, err := h.dialRaw(true, "", http.Header{"Authorization": {"Bearer nope"}})
		if err == nil {
			ws.CloseNow()
			t.Fatal("a bad token was let in")
		}
		if res == nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a bad token: %v, want 401", err)
		}
	}
	var mine []*client
	for range limit {
		c, res, body := dial(nil)
		if c == nil {
			t.Fatalf("connection %d of %d refused (after refused upgrades): %d %s", len(mine)+1, limit, res.StatusCode, body)
		}
		mine = append(mine, c)
	}
	full(nil, "127.0.0.1")

	for i := range limit {
		if c, res, body := dial(other); c == nil {
			t.Fatalf("127.0.0.2's connection %d refused while 127.0.0.1 is full: %d %s", i+1, res.StatusCode, body)
		}
	}
	full(other, "127.0.0.2")
	if n := h.status()["connections"].(float64); n != 2*limit {
		t.Fatalf("%v connections open, want %d", n, 2*limit)
	}

	// Closing one frees its slot: the server lets it go a moment after
	// the close handshake, so poll.
	if err := mine[0].ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	var again *client
	eventually(t, "a closed connection's slot is free", func() bool {
		c, res, body := dial(nil)
		if c == nil && res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("refused with %d %s", res.StatusCode, body)
		}
		again = c
		return c != nil
	})
	again.ack(1, newTask(h.service("ops"), "in the freed slot"))
	full(nil, "127.0.0.1")
}

// TestSlowHeadersAreCut: twenty clients each send a request's header a
// byte every 20 ms and never finish it (slowloris). The server closes
// each once the header timeout has passed since it connected, however
// steadily it sends; meanwhile REST requests and a game connection
// (opened before, so older than the timeout) carry on.
func TestSlowHeadersAreCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := start(t, options{cfg: server.Config{Limits: server.Limits{HeaderTimeout: timeout}}})
	game := h.dial(true, "")
	game.handshake()
	svc := h.service("ops")

	const n = 20
	ended := make(chan time.Duration, n)
	for range n {
		t0 := time.Now()
		nc, err := net.Dial("tcp", h.hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetReadDeadline(t0.Add(wait))
		go func() {
			if _, err := nc.Write([]byte("GET /api/status HTTP/1.1\r\nHost: txxt\r\nX-Slow: ")); err != nil {
				return
			}
			for {
				time.Sleep(20 * time.Millisecond)
				if _, err := nc.Write([]byte("x")); err != nil {
					return // closed by the server (or by the test's end)
				}
			}
		}()
		go func() {
			_, err := io.Copy(io.Discard, nc)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				ended <- -1
				return
			}
			ended <- time.Since(t0)
		}()
	}

	if _, body := h.do("GET", "/api/status", "", nil); len(body) == 0 {
		t.Fatal("status did not answer while the slow clients were sending")
	}
	h.login("bob", "bob-pw")
	game.ack(1, newTask(svc, "while the slow clients send"))

	for range n {
		switch d := <-ended; {
		case d < 0:
			t.Fatalf("a slow header was still open after %s", wait)
		case d < timeout:
			t.Fatalf("a slow header was closed after %s, before the header timeout (%s)", d, timeout)
		}
	}
	// The game connection upgraded before the header timeout and is
	// older than it now: an upgrade leaves the HTTP timeouts behind.
	game.ack(2, newTask(svc, "after the slow clients were cut"))
}

// TestIdleConnectionsAreClosed: a TCP connection that sends nothing is
// closed after the header timeout, and a kept-alive HTTP connection with
// no next request after the idle timeout. (A game connection that stops
// answering pings is TestKeepaliveClosesSilentConnection's.)
func TestIdleConnectionsAreClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// closed reads from nc until the server closes it and returns how long
	// that took since t0.
	closed := func(t *testing.T, t0 time.Time, nc net.Conn, r io.Reader) time.Duration {
		t.Helper()
		nc.SetReadDeadline(t0.Add(wait))
		if _, err := io.Copy(io.Discard, r); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("still open after %s", wait)
		}
		return time.Since(t0)
	}

	t.Run("a connection that sends nothing", func(t *testing.T) {
		h := start(t, options{cfg: server.Config{Limits: server.Limits{HeaderTimeout: timeout}}})
		t0 := time.Now()
		nc, err := net.Dial("tcp", h.hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if d := closed(t, t0, nc, nc); d < timeout {
			t.Fatalf("closed after %s, before the header timeout (%s)", d, timeout)
		}
	})

	t.Run("a kept-alive connection with no next request", func(t *testing.T) {
		h := start(t, options{cfg: server.Config{Limits: server.Limits{IdleTimeout: timeout}}})
		t0 := time.Now()
		nc, err := net.Dial("tcp", h.hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("GET /healthz HTTP/1.1\r\nHost: txxt\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(t0.Add(wait))
		br := bufio.NewReader(nc)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("got %d, close %v: want 200 on a kept-alive connection", res.StatusCode, res.Close)
		}
		// The header timeout (5 s) does not start before a next request
		// begins, and the read timeout is 30 s: only the idle timeout
		// closes it within the wait.
		if d := closed(t, t0, nc, br); d < timeout {
			t.Fatalf("closed after %s, before the idle timeout (%s)", d, timeout)
		}
	})
}

// TestSlowBodyIsCut: a client that sends a login's header at once and its
// body a byte every 20 ms is answered 408 once the read timeout has
// passed, and closed.
func TestSlowBodyIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := start(t, options{cfg: server.Config{Limits: server.Limits{ReadTimeout: timeout}}})
	t0 := time.Now()
	nc, err := net.Dial("tcp", h.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(t0.Add(wait))
	go func() {
		if _, err := nc.Write([]byte("POST /api/auth/login HTTP/1.1\r\nHost: " + h.hs.Listener.Addr().String() + "\r\nContent-Type: application/json\r\n" +
			"Content-Length: 1000\r\n\r\n{\"username\":\"ann\",\"password\":\"")); err != nil {
			return
		}
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := nc.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if d := time.Since(t0); d < timeout {
		t.Fatalf("answered after %s, before the read timeout (%s)", d, timeout)
	}
	apiError(t, res, body, http.StatusRequestTimeout, world.CodeBadRequest)
	if _, err := io.Copy(io.Discard, br); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("still open after %s", wait)
	}
	h.login("ann", "ann-pw") // and the server carries on
}
