package server_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"txxt/server"
	"txxt/world"
)

// Abuse: one address cannot hold every game connection.

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
