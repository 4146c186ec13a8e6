// Package lab is txxt's load generator: scenarios that drive a running
// server over its real protocol and real sockets, measure what a client
// sees, scrape what the server measured, and compare a run with a
// baseline. `txxt load` is its command line.
package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"txxt/wire"
	"txxt/world"
)

// Target is the server a run drives.
type Target struct {
	URL   string // http://host:port, or a team's http://host:port/t/TEAM
	Token string // a session token (Authorization: Bearer)
}

// Origin is the server of a URL that may name a team
// (http://host:port/t/TEAM → http://host:port): where the server's own
// routes (login, /metrics) are.
func Origin(url string) string {
	url = strings.TrimSuffix(url, "/")
	if i := strings.Index(url, "/t/"); i > 0 {
		return url[:i]
	}
	return url
}

// Login opens a session on url's server and returns the target (url, with
// its team if it names one).
func Login(ctx context.Context, url, user, password string) (Target, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", Origin(url)+"/api/auth/login", bytes.NewReader(body))
	if err != nil {
		return Target{}, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return Target{}, err
	}
	defer res.Body.Close()
	var out struct{ Token, Code, Message string }
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 || out.Token == "" {
		return Target{}, fmt.Errorf("login as %s: %d %s %s", user, res.StatusCode, out.Code, out.Message)
	}
	return Target{URL: strings.TrimSuffix(url, "/"), Token: out.Token}, nil
}

// client is one v1 game connection. Its reader goroutine decodes every
// frame: answers go to the waiter of their request id, events to onEvent.
type client struct {
	ws       *websocket.Conn
	welcome  wire.Welcome
	snapshot *world.State
	last     uint64 // revision of the last event or snapshot (reader only)

	mu      sync.Mutex
	waiters map[uint32]chan wire.ServerFrame
	next    uint32
	created map[uint64]world.ID // revision → the task or service this client's command created

	onEvent func(rev uint64, at time.Time)
	gaps    int                   // events that did not follow the previous one (reader only)
	recent  [recentCreated]recent // the latest creations by anyone, by revision (reader only)
	buf     []byte                // the reader's message buffer, reused
	done    chan struct{}
	err     error
}

// recentCreated bounds what the reader remembers of others' creations: an
// Ack follows its own event within the same write, so a creation is
// looked up a few frames after it was seen, never thousands.
const recentCreated = 1024

type recent struct {
	rev uint64
	id  world.ID
}

// dial connects, reads Welcome and the Snapshot (or, with since, the
// events after it until the first live wait), and starts the reader.
func dial(ctx context.Context, t Target, query string, onEvent func(uint64, time.Time)) (*client, error) {
	u := "ws" + strings.TrimPrefix(t.URL, "http") + "/api/game"
	if query != "" {
		u += "?" + query
	}
	ws, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + t.Token}},
	})
	if err != nil {
		if res != nil && res.StatusCode == http.StatusTooManyRequests {
			// Every client of a load has the same address.
			return nil, fmt.Errorf("%w: the server refuses more connections from this address (txxt serve --max-conns-per-host 0 --max-conns-per-user 0 lifts the limits)", err)
		}
		return nil, err
	}
	ws.SetReadLimit(-1)
	c := &client{ws: ws, waiters: map[uint32]chan wire.ServerFrame{}, created: map[uint64]world.ID{}, onEvent: onEvent, done: make(chan struct{})}
	f, err := c.read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if f.Type != wire.TypeWelcome {
		ws.CloseNow()
		return nil, fmt.Errorf("first frame 0x%02x, not Welcome", f.Type)
	}
	c.welcome = f.Welcome
	if !strings.Contains(query, "since=") {
		for c.snapshot == nil {
			f, err := c.read(ctx)
			if err != nil {
				ws.CloseNow()
				return nil, err
			}
			if f.Type == wire.TypeSnapshot {
				c.snapshot, c.last = f.Snapshot, f.Snapshot.Revision
			}
		}
	} else {
		fmt.Sscanf(query[strings.Index(query, "since=")+6:], "%d", &c.last)
	}
	go c.readLoop()
	return c, nil
}

func (c *client) read(ctx context.Context) (wire.ServerFrame, error) {
	_, raw, err := c.ws.Read(ctx)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	return wire.DecodeServerFrame(raw, true)
}

// readInto reads the next message into the reader's own buffer, reused
// from one message to the next: at 256 clients of one team the reader
// takes every event of every client, and a fresh buffer each (as Read
// makes) was most of the load generator's garbage. The frame decoded
// from it must not be kept past the next read: readLoop keeps only ids
// and revisions.
func (c *client) readInto(ctx context.Context) (wire.ServerFrame, error) {
	_, r, err := c.ws.Reader(ctx)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	n := 0
	for {
		if n == len(c.buf) {
			grown := make([]byte, max(2*len(c.buf), 512))
			copy(grown, c.buf)
			c.buf = grown
		}
		m, err := r.Read(c.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return wire.ServerFrame{}, err
		}
	}
	if cap(c.buf) > 64<<10 {
		defer func() { c.buf = nil }() // a snapshot's buffer is not kept
	}
	return wire.DecodeServerFrame(c.buf[:n], true)
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		f, err := c.readInto(context.Background())
		if err != nil {
			c.err = err
			c.mu.Lock()
			for _, w := range c.waiters {
				close(w)
			}
			c.waiters = nil
			c.mu.Unlock()
			return
		}
		now := time.Now()
		switch {
		case f.Type == wire.TypeSnapshot:
			c.last = f.Snapshot.Revision
		case wire.IsEvent(f.Type):
			if f.Event.Revision != c.last+1 {
				c.gaps++
			}
			c.last = f.Event.Revision
			switch f.Event.Kind {
			case world.EvTaskCreated:
				c.recent[f.Event.Revision%recentCreated] = recent{f.Event.Revision, f.Event.Task.ID}
			case world.EvServiceCreated:
				c.recent[f.Event.Revision%recentCreated] = recent{f.Event.Revision, f.Event.Service.ID}
			}
			if c.onEvent != nil {
				c.onEvent(f.Event.Revision, now)
			}
		case f.Type == wire.TypeAck || f.Type == wire.TypeError:
			req := f.Ack.Request
			if f.Type == wire.TypeError {
				req = f.Error.Request
			}
			c.mu.Lock()
			w := c.waiters[req]
			delete(c.waiters, req)
			if rev := f.Ack.Revision; f.Type == wire.TypeAck && w != nil {
				if r := c.recent[rev%recentCreated]; r.rev == rev && rev != 0 {
					c.created[rev] = r.id // what this client's command created
				}
			}
			c.mu.Unlock()
			if w != nil {
				w <- f
			}
		}
	}
}

// send sends cmd and returns the channel its answer arrives on (closed
// without a value if the connection ends first).
func (c *client) send(ctx context.Context, cmd world.Command) (<-chan wire.ServerFrame, error) {
	ch := make(chan wire.ServerFrame, 1)
	c.mu.Lock()
	if c.waiters == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("connection closed: %v", c.err)
	}
	c.next++
	req := c.next
	c.waiters[req] = ch
	c.mu.Unlock()
	return ch, c.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, req, &cmd))
}

// do sends cmd and waits for its answer: the round trip, and its revision
// or error.
func (c *client) do(ctx context.Context, cmd world.Command) (time.Duration, uint64, error) {
	start := time.Now()
	ch, err := c.send(ctx, cmd)
	if err != nil {
		return 0, 0, err
	}
	select {
	case f, ok := <-ch:
		rtt := time.Since(start)
		switch {
		case !ok:
			return rtt, 0, fmt.Errorf("connection closed before the answer: %v", c.err)
		case f.Type == wire.TypeError:
			return rtt, 0, refusal{f.Error.Code, f.Error.Message}
		}
		return rtt, f.Ack.Revision, nil
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// refusal is the server's Error answer to a command.
type refusal struct {
	code    world.Code
	message string
}

func (e refusal) Error() string { return fmt.Sprintf("%s: %s", e.code, e.message) }

// refusedWith reports whether err is the server's answer code.
func refusedWith(err error, code world.Code) bool {
	var r refusal
	return errors.As(err, &r) && r.code == code
}

// createdAt returns the id of what the event at rev created: the server
// sends a command's event before its Ack, so it is known by the answer.
func (c *client) createdAt(rev uint64) (world.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.created[rev]
	delete(c.created, rev)
	return id, ok
}

func (c *client) close() {
	c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}
