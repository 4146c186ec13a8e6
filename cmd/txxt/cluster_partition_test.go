package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/jetstream"
	"txxt/server"
	"txxt/wire"
	"txxt/world"
)

// A partition between one txxt node and NATS, made by a TCP proxy in the
// test process that the node connects through (every connection it makes,
// its reconnections too). Each direction can be cut on its own: the proxy
// then stops passing that direction's bytes and holds them, without
// closing either socket, so both ends see an open connection that has
// gone silent, as they would behind a dropped link (TCP would hold and
// retransmit them; at the heal they arrive, late, as its retransmissions
// would). A socket one end closes during a cut is closed on the other only
// at the heal (its FIN is a packet too). See docs/RELIABILITY.md,
// "A node cut off from NATS".

// partDir names a direction of the proxy.
type partDir int

const (
	partToNATS partDir = iota // node → NATS: its publishes, requests, renewals
	partToNode                // NATS → node: replies, acknowledgements, deliveries
)

// partGate is one direction's switch: open passes bytes, cut holds them.
type partGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the direction passes
}

func newPartGate() *partGate {
	g := &partGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *partGate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // cut already
	}
}

func (g *partGate) heal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// wait returns once the direction passes, or when done is closed.
func (g *partGate) wait(done <-chan struct{}) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-done:
	}
}

// partProxy is the proxy: it listens on a loopback port and connects each
// connection it accepts to target. Close ends every connection and waits
// for every goroutine.
type partProxy struct {
	ln     net.Listener
	target string
	gates  [2]*partGate // by partDir
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	held  [2]atomic.Int64 // bytes that waited at a cut, by direction
}

// partStartProxy starts a proxy to the NATS server at natsURL and returns
// it; its URL is what the node behind it is given. It closes when the
// test ends (after the nodes, which the test started later, stopped).
func partStartProxy(t *testing.T, natsURL string) *partProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partProxy{ln: ln, target: strings.TrimPrefix(natsURL, "nats://"), done: make(chan struct{})}
	p.gates[partToNATS], p.gates[partToNode] = newPartGate(), newPartGate()
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		p.close()
		waitGroup(t, &p.wg, 10*time.Second, "the partition proxy's goroutines to end")
	})
	return p
}

// URL is the proxy's address as a NATS URL.
func (p *partProxy) URL() string { return "nats://" + p.ln.Addr().String() }

// cut stops passing the given directions' bytes.
func (p *partProxy) cut(dirs ...partDir) {
	for _, d := range dirs {
		p.gates[d].cut()
	}
}

// heal passes both directions again, with what they held.
func (p *partProxy) heal() {
	p.gates[partToNATS].heal()
	p.gates[partToNode].heal()
}

func (p *partProxy) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *partProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *partProxy) accept() {
	for {
		node, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(node) {
			return
		}
		var d net.Dialer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		up, err := d.DialContext(ctx, "tcp", p.target)
		cancel()
		if err != nil {
			node.Close()
			continue
		}
		if !p.track(up) {
			return
		}
		p.wg.Go(func() { p.pump(node, up, partToNATS) })
		p.wg.Go(func() { p.pump(up, node, partToNode) })
	}
}

// pump copies src to dst while d passes. Bytes read while d is cut wait
// (and src is no longer read, so its sender's buffers fill as behind a
// dead link); an end of src is passed on (dst closed) only once d passes.
func (p *partProxy) pump(src, dst net.Conn, d partDir) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.gates[d].openNow():
		default:
			p.held[d].Add(int64(n))
			p.gates[d].wait(p.done)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

// openNow is the channel closed while the direction passes, as of now.
func (g *partGate) openNow() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// partNode is a txxt node a partition test started, with its log.
type partNode struct {
	*spawned
	name string
	log  *syncBuffer
}

// partSpawn starts `txxt serve --nats natsURL --node name` as spawnNodeTTL
// does, keeping the node's log for the test to read.
func partSpawn(t *testing.T, natsURL, name string, ttl time.Duration) *partNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := &syncBuffer{}
	s, err := spawnServerOn(ctx, t.TempDir(), []string{"--nats", natsURL, "--node", name, "--lease-ttl", ttl.String(), "--demo-tasks", "20"}, log)
	if err != nil {
		t.Fatalf("start node %s: %v\n%s", name, err, log.String())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("node %s's log:\n%s", name, log.String())
		}
	})
	return &partNode{spawned: s, name: name, log: log}
}

// partSpawnNodes starts the three nodes a, b and c at once, behind is
// connected through proxy, the others straight to NATS.
func partSpawnNodes(t *testing.T, natsURL string, proxy *partProxy, behind string) (map[string]*partNode, map[string]*spawned) {
	t.Helper()
	nodes := map[string]*partNode{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Go(func() {
			u := natsURL
			if name == behind {
				u = proxy.URL()
			}
			n := partSpawn(t, u, name, clusterTTL)
			mu.Lock()
			nodes[name] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	plain := map[string]*spawned{}
	for name, n := range nodes {
		plain[name] = n.spawned
	}
	return nodes, plain
}

// partAnswer is the answer to one command: an Ack (code "") or an Error.
type partAnswer struct {
	request  uint32
	revision uint64
	code     string
	message  string
}

// partClient is one game connection of the demo's team: a goroutine reads
// every frame, checks that the events' revisions follow one another
// (after the snapshot, or the revision it resumed after), and hands the
// answers to send.
type partClient struct {
	ws      *websocket.Conn
	client  world.ID // from the Welcome: the id its commands carry into the log
	answers chan partAnswer
	ended   chan struct{} // closed when the reader stops: endErr, endedAt set

	mu        sync.Mutex
	last      uint64 // the newest revision it has seen
	hole      error  // the first revision that did not follow the one before
	snapshots int    // Snapshots it was sent
	names     map[string]uint64
	endErr    error
	endedAt   time.Time
}

// partDial opens a game connection on url, resuming after since when it
// is not 0 (with client's id, when it is not zero). It fails (without
// failing the test) when the node does not let it in within within.
func partDial(t *testing.T, url, token string, client world.ID, since uint64, within time.Duration) (*partClient, error) {
	t.Helper()
	q := ""
	if since > 0 {
		q = fmt.Sprintf("?since=%d", since)
		if client != (world.ID{}) {
			q += "&client=" + client.String()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/game"+q, &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		if res != nil && res.Body != nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
			res.Body.Close()
			return nil, fmt.Errorf("connect to %s: %s %s", url, res.Status, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	ws.SetReadLimit(-1)
	_, raw, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("read the Welcome from %s: %w", url, err)
	}
	f, err := wire.DecodeServerFrame(raw, true)
	if err != nil || f.Type != wire.TypeWelcome {
		ws.CloseNow()
		return nil, fmt.Errorf("the first frame from %s is not a Welcome (%#x, %v)", url, raw[0], err)
	}
	c := &partClient{ws: ws, client: f.Welcome.Client, answers: make(chan partAnswer, 16), ended: make(chan struct{}),
		last: since, names: map[string]uint64{}}
	go c.read()
	t.Cleanup(func() {
		c.ws.CloseNow()
		select {
		case <-c.ended:
		case <-time.After(10 * time.Second):
			t.Errorf("waited 10 s for a game connection's reader to end")
		}
	})
	return c, nil
}

func (c *partClient) read() {
	defer close(c.ended)
	for {
		_, raw, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.endErr, c.endedAt = err, time.Now()
			c.mu.Unlock()
			return
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			continue
		}
		switch {
		case f.Type == wire.TypeSnapshot:
			c.mu.Lock()
			c.last = f.Snapshot.Revision
			c.snapshots++
			c.mu.Unlock()
		case wire.IsEvent(f.Type):
			c.mu.Lock()
			if f.Event.Revision != c.last+1 && c.hole == nil {
				c.hole = fmt.Errorf("revision %d came after %d", f.Event.Revision, c.last)
			}
			c.last = f.Event.Revision
			if f.Type == wire.TypeServiceCreated {
				c.names[f.Event.Service.Name] = f.Event.Revision
			}
			c.mu.Unlock()
		case f.Type == wire.TypeAck:
			c.answer(partAnswer{request: f.Ack.Request, revision: f.Ack.Revision})
		case f.Type == wire.TypeError && f.Error.Request != 0:
			c.answer(partAnswer{request: f.Error.Request, code: f.Error.Code.String(), message: f.Error.Message})
		}
	}
}

// answer hands a to send; one nobody waits for any more (its send gave
// up) is dropped when the buffer is full, so the reader never blocks.
func (c *partClient) answer(a partAnswer) {
	select {
	case c.answers <- a:
	default:
	}
}

// state returns what the client has seen so far.
func (c *partClient) state() (last uint64, names map[string]uint64, hole error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, maps.Clone(c.names), c.hole
}

// end returns when and why the connection ended, or ok false while open.
func (c *partClient) end() (at time.Time, ok bool, err error) {
	select {
	case <-c.ended:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.endedAt, true, c.endErr
	default:
		return time.Time{}, false, nil
	}
}

// errPartNoAnswer is send's error when the answer did not come in time.
var errPartNoAnswer = errors.New("no answer")

// send sends a CreateService named name as request n and waits within for
// its answer: the answer, or the connection's end, or errPartNoAnswer.
func (c *partClient) send(n uint32, name string, within time.Duration) (partAnswer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := world.Command{Kind: world.CmdCreateService, Text: name}
	if err := c.ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, n, &cmd)); err != nil {
		if _, ended, rerr := c.end(); ended {
			err = fmt.Errorf("%w (the connection ended: %w)", err, rerr)
		}
		return partAnswer{}, fmt.Errorf("send %s: %w", name, err)
	}
	for {
		select {
		case a := <-c.answers:
			if a.request == n {
				return a, nil
			}
		case <-c.ended:
			_, _, err := c.end()
			return partAnswer{}, fmt.Errorf("%s: the connection ended before its answer: %w", name, err)
		case <-ctx.Done():
			return partAnswer{}, fmt.Errorf("%s: waited %s: %w", name, within, errPartNoAnswer)
		}
	}
}

// partWriter writes a trickle of commands on one connection, one after
// another, until stopped or until one is not acknowledged. With redial,
// a connection closed with 1001 or a command refused NOT_OWNER (the world
// changed hands on its node, as a loaded machine can make it do without
// any cut: a node's renewals late past the TTL) is replaced, as a browser
// reconnects, and the writer goes on; moves counts those.
type partWriter struct {
	c      atomic.Pointer[partClient]
	prefix string
	redial func() (*partClient, error)
	stop   atomic.Bool
	done   chan struct{}
	err    error     // why it ended; nil when stopped
	at     time.Time // when
	last   string    // the command it ended on, when it was refused, and its request id
	req    uint32
	answer partAnswer
	acks   atomic.Int64
	moves  atomic.Int64 // connections replaced after a 1001
}

// partWrite starts a writer on c; every acknowledgement goes to ack. It
// ends with the test at the latest (its connection closed).
func partWrite(t *testing.T, c *partClient, prefix string, ack func(acked), redial func() (*partClient, error)) *partWriter {
	w := &partWriter{prefix: prefix, redial: redial, done: make(chan struct{})}
	w.c.Store(c)
	t.Cleanup(func() {
		w.stop.Store(true)
		w.c.Load().ws.CloseNow()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Errorf("waited 10 s for the writer %s to end", prefix)
		}
	})
	go func() {
		defer close(w.done)
		k := 0
		for n := uint32(1); !w.stop.Load(); n++ {
			k++
			name := fmt.Sprintf("%s-%d", prefix, k)
			a, err := w.c.Load().send(n, name, answerWait)
			// The world moved off the connection's node: its connection
			// closed with 1001, or its command refused NOT_OWNER by an
			// engine that had just stepped down (the connection closes
			// next); a browser reconnects.
			notOwner := err == nil && a.code == world.CodeNotOwner.String()
			if (moved(err) || notOwner) && w.redial != nil && !w.stop.Load() {
				if next, derr := w.redial(); derr == nil {
					w.c.Store(next)
					w.moves.Add(1)
					n = 0
					continue
				} else {
					err = fmt.Errorf("%w; reconnecting: %w", err, derr)
				}
			}
			if err == nil && a.code != "" {
				err = fmt.Errorf("%s refused: %s %s", name, a.code, a.message)
				w.last, w.req, w.answer = name, n, a
			}
			if err != nil {
				w.err, w.at = err, time.Now()
				return
			}
			w.acks.Add(1)
			ack(acked{name: name, rev: a.revision})
			time.Sleep(5 * time.Millisecond)
		}
		w.at = time.Now()
	}()
	return w
}

// partRedial returns a redial for partWrite: a new connection on url,
// tried again (a node switching its world answers 503) within partSettle.
func partRedial(t *testing.T, url, token string) func() (*partClient, error) {
	return func() (*partClient, error) {
		deadline := time.Now().Add(partSettle)
		for {
			c, err := partDial(t, url, token, world.ID{}, 0, answerWait)
			if err == nil || time.Now().After(deadline) {
				return c, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// wait stops the writer if it is still writing and waits for it to end,
// within d.
func (w *partWriter) wait(t *testing.T, d time.Duration, what string) {
	t.Helper()
	w.stop.Store(true)
	recv(t, w.done, d, what)
}

// partCatchUp reconnects to url after revision since, as a browser does
// (again after each 1001 or refusal, until within passes), and reads until
// it has seen revision want: every revision after since, in order, no
// hole. It returns the services created in what it saw, by name.
func partCatchUp(t *testing.T, url, token string, client world.ID, since, want uint64, within time.Duration, what string) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	seen := map[string]uint64{}
	last := since
	var why error
	for time.Now().Before(deadline) {
		c, err := partDial(t, url, token, client, last, time.Until(deadline))
		if err != nil {
			why = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for {
			l, names, hole := c.state()
			if hole != nil {
				t.Fatalf("%s: resumed after %d: %v", what, last, hole)
			}
			for k, v := range names {
				seen[k] = v
			}
			if l >= want {
				c.ws.Close(websocket.StatusNormalClosure, "")
				return seen
			}
			if _, ok, err := c.end(); ok {
				last, why = l, err
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Fatalf("waited %s for %s: seen up to %d of %d (last: %v)", within, what, last, want, why)
	return nil
}

// partRetry sends request req (a CreateService named name) again on a
// new connection of client's on url, resuming after since, until it is
// answered (a connection refused or closed while the world changes hands
// is tried again, within partSettle); the answer must be an Ack.
func partRetry(t *testing.T, url, token string, client world.ID, since uint64, req uint32, name string) partAnswer {
	t.Helper()
	deadline := time.Now().Add(partSettle)
	var why error
	for time.Now().Before(deadline) {
		c, err := partDial(t, url, token, client, since, time.Until(deadline))
		if err == nil {
			var a partAnswer
			if a, err = c.send(req, name, time.Until(deadline)); err == nil {
				c.ws.Close(websocket.StatusNormalClosure, "")
				if a.code != "" {
					t.Fatalf("%s, sent again: refused %s %s", name, a.code, a.message)
				}
				return a
			}
		}
		why = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waited %s for %s, sent again, to be answered: %v", partSettle, name, why)
	return partAnswer{}
}

// partOwnerAmong waits until the nodes given all name one of them as the
// demo's owner, which says it owns it, and returns it (ownerOf over a
// part of the cluster: the node cut off is not asked).
func partOwnerAmong(t *testing.T, nodes map[string]*spawned, token string, within time.Duration, what string) string {
	t.Helper()
	return ownerOf(t, nodes, token, server.DemoTeam, within, what)
}

// partWriters reads the demo's messages from the stream and returns, for
// every record, the node whose ownership marker came last before it: the
// node that wrote it (the fence lets no other write after a marker). The
// layout is jetstream/log.go's: one shard, subject worlds.0.<world>; a
// marker has the header Txxt-Owner; a record is revision u64 · time i64 ·
// actor 16 · client 16 · request u32 · frame length u32 · frame.
func partWriters(t *testing.T, natsURL string) (byClient map[world.ID][]string, markers []string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, "WORLDS_0")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byClient = map[world.ID][]string{}
	writer := ""
	subject := "worlds.0." + server.DemoTeam
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if m.Subject != subject {
			continue
		}
		if owner := m.Header.Get("Txxt-Owner"); owner != "" {
			writer = owner
			markers = append(markers, owner)
			continue
		}
		for b := m.Data; len(b) > 0; {
			if len(b) < 56 {
				t.Fatalf("message %d: a record cut short", seq)
			}
			var client world.ID
			copy(client[:], b[32:48])
			byClient[client] = append(byClient[client], writer)
			n := int(binary.LittleEndian.Uint32(b[52:]))
			if len(b) < 56+n {
				t.Fatalf("message %d: a frame cut short", seq)
			}
			b = b[56+n:]
		}
	}
	return byClient, markers
}

// Bounds of the partition tests. partAnswered: a client of a node cut off
// from NATS is answered (an error, a refused connection, a close) within
// it; the forwarder's own bound is 10 s, the lease's TTL 1 s. partSettle:
// a world taken over, handed back, or a feed caught up, on a loaded
// machine.
const (
	partAnswered = 15 * time.Second
	partSettle   = 30 * time.Second
)

// partRound is one way of cutting a node off.
type partRound struct {
	name string
	dirs []partDir
}

var partRounds = []partRound{
	{"both ways", []partDir{partToNATS, partToNode}},
	{"NATS→node dropped", []partDir{partToNode}},
	{"node→NATS dropped", []partDir{partToNATS}},
}

// partAcks collects the acknowledgements every client got.
type partAcks struct {
	mu  sync.Mutex
	all []acked
}

func (a *partAcks) add(x acked) { a.mu.Lock(); a.all = append(a.all, x); a.mu.Unlock() }

func (a *partAcks) snapshot() []acked { a.mu.Lock(); defer a.mu.Unlock(); return slices.Clone(a.all) }

func (a *partAcks) head() uint64 {
	var h uint64
	for _, x := range a.snapshot() {
		h = max(h, x.rev)
	}
	return h
}

// partTrickle waits until w has had n acknowledgements.
func partTrickle(t *testing.T, w *partWriter, n int64, what string) {
	t.Helper()
	deadline := time.Now().Add(partSettle)
	for w.acks.Load() < n {
		select {
		case <-w.done:
			t.Fatalf("%s: the writer %s ended: %v", what, w.prefix, w.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %d of %d acknowledged", partSettle, what, w.acks.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// partFresh is a client that comes to a node cut off from NATS: it must be
// answered within partAnswered: its connection refused, or its command
// answered (whatever the answer), or its connection closed. It returns
// what it got and how long it took; an Ack is reported too (the caller
// records it).
func partFresh(t *testing.T, url, token, name string) (got string, took time.Duration, ack *acked) {
	t.Helper()
	start := time.Now()
	c, err := partDial(t, url, token, world.ID{}, 0, partAnswered)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a client connecting to the cut-off node waited %s without an answer: %v", partAnswered, err)
		}
		return "connection refused (" + err.Error() + ")", time.Since(start), nil
	}
	defer c.ws.CloseNow()
	a, err := c.send(1, name, partAnswered-time.Since(start))
	switch {
	case errors.Is(err, errPartNoAnswer):
		t.Fatalf("a command sent to the cut-off node waited %s without an answer", partAnswered)
	case err != nil:
		return "closed (" + err.Error() + ")", time.Since(start), nil
	case a.code != "":
		return a.code, time.Since(start), nil
	}
	return "acknowledged", time.Since(start), &acked{name: name, rev: a.revision}
}

// TestClusterPartitionedOwner cuts the demo's owner off from NATS, three
// times (both ways; NATS→node only; node→NATS only), under a trickle of
// commands on it and on a node that follows the world and stays a
// follower, on a lease TTL of 1 s. Each time: another node takes the world
// within partSettle (the figure is logged); the cut-off node's clients
// are answered (an error or a close) within partAnswered, and so is a
// client that connects to it during the cut; after the heal it has stepped
// down (its log says its team was lost), the world comes back to it by a
// hand-over (it is the preferred node), and its client, reconnecting
// after the last revision it saw, gets every revision it missed in order.
// At the end the world's log in JetStream holds every acknowledged
// command once at its revision (verifyCluster), and every record of a
// command sent straight to the owner's clients follows an ownership
// marker of that owner: nothing was written by the cut-off node after
// another took the world.
func TestClusterPartitionedOwner(t *testing.T) {
	natsURL := startNATS(t)
	proxy := partStartProxy(t, natsURL)
	cutOff := jetstream.Preferred([]string{"a", "b", "c"}, server.DemoTeam)
	nodes, plain := partSpawnNodes(t, natsURL, proxy, cutOff)
	rest := map[string]*spawned{}
	for name, n := range plain {
		if name != cutOff {
			rest[name] = n
		}
	}
	names := slices.Sorted(maps.Keys(rest))
	taker := jetstream.Preferred(names, server.DemoTeam)
	bystander := names[0]
	if bystander == taker {
		bystander = names[1]
	}
	token := login(t, plain[bystander].url)
	var acks partAcks
	ownerClients := map[world.ID]bool{}
	for i, r := range partRounds {
		what := fmt.Sprintf("round %d (%s)", i, r.name)
		if owner := settledOwner(t, plain, token, server.DemoTeam, what+": the world owned by "+cutOff); owner != cutOff {
			t.Fatalf("%s: %s owns the world, %s is preferred", what, owner, cutOff)
		}
		conn := func(url string) *partClient {
			c, err := partDial(t, url, token, world.ID{}, 0, answerWait)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return c
		}
		onOwner, watcher, onBystander := conn(nodes[cutOff].url), conn(nodes[cutOff].url), conn(nodes[bystander].url)
		ownerClients[onOwner.client] = true
		wOwner := partWrite(t, onOwner, fmt.Sprintf("r%d-owner", i), acks.add, nil)
		wBy := partWrite(t, onBystander, fmt.Sprintf("r%d-by", i), acks.add, partRedial(t, nodes[bystander].url, token))
		partTrickle(t, wOwner, 3, what+": a trickle on the owner")
		partTrickle(t, wBy, 3, what+": a trickle on the bystander")

		cutAt := time.Now()
		proxy.cut(r.dirs...)
		next := partOwnerAmong(t, rest, token, partSettle, what+": another node to take the world")
		takeover := time.Since(cutAt)
		if next != taker {
			t.Logf("%s: %s took the world (%s expected by placement)", what, next, taker)
		}

		// The cut-off owner's clients are answered: the writer's
		// command refused or its connection closed; the watcher closed.
		recv(t, wOwner.done, partAnswered, what+": the writer on the cut-off owner to get an answer")
		if wOwner.err == nil {
			t.Fatalf("%s: the writer on the cut-off owner stopped without an error", what)
		}
		select {
		case <-watcher.ended:
		case <-time.After(time.Until(cutAt.Add(partAnswered))):
			t.Fatalf("%s: a connection to the cut-off owner was still open %s after the cut", what, partAnswered)
		}
		watcherAt, _, _ := watcher.end()
		answered := max(wOwner.at.Sub(cutAt), watcherAt.Sub(cutAt))
		got, freshTook, freshAck := partFresh(t, nodes[cutOff].url, token, fmt.Sprintf("r%d-fresh", i))
		if freshAck != nil {
			t.Fatalf("%s: the cut-off node acknowledged %s at %d", what, freshAck.name, freshAck.rev)
		}
		// The bystander's commands reach the new owner while the cut
		// lasts.
		partTrickle(t, wBy, wBy.acks.Load()+3, what+": the bystander's commands acknowledged by the new owner")
		healAt := time.Now()
		proxy.heal()
		back := settledOwner(t, plain, token, server.DemoTeam, what+": the world back on "+cutOff+" after the heal")
		handBack := time.Since(healAt)
		wBy.wait(t, answerWait, what+": the bystander's writer to stop")
		if wBy.err != nil {
			t.Fatalf("%s: the writer on %s (a follower all along) failed: %v", what, bystander, wBy.err)
		}
		if n := wBy.moves.Load(); n > 0 {
			t.Logf("%s: the world moved on %s, a follower: its writer reconnected %d times", what, bystander, n)
		}

		// The cut-off node's client comes back after the last revision it
		// saw and gets every one it missed.
		last, _, hole := watcher.state()
		if hole != nil {
			t.Fatalf("%s: the watcher on the cut-off owner: %v", what, hole)
		}
		head := acks.head()
		seen := partCatchUp(t, nodes[cutOff].url, token, watcher.client, last, head, partSettle, what+": the cut-off node's client to catch up")
		missed := 0
		for _, a := range acks.snapshot() {
			if a.rev <= last {
				continue
			}
			missed++
			if seen[a.name] != a.rev {
				t.Fatalf("%s: %s, acknowledged at %d, reached the resumed client at %d", what, a.name, a.rev, seen[a.name])
			}
		}
		// The command the cut-off owner refused, sent again by its
		// client (its id kept, as a browser keeps it across reconnects)
		// with its request id: applied once, or, when it was in the log
		// already, answered at its revision there. In that case its
		// refusal must not have said that nothing was changed.
		retried := "none"
		if w := wOwner; w.last != "" {
			a := partRetry(t, nodes[cutOff].url, token, onOwner.client, head, w.req, w.last)
			acks.add(acked{name: w.last, rev: a.revision})
			retried = fmt.Sprintf("%s applied at %d", w.last, a.revision)
			if a.revision <= head {
				retried = fmt.Sprintf("%s was in the log already, at %d", w.last, a.revision)
				if strings.Contains(w.answer.message, "nothing was changed") {
					t.Errorf("%s: %s was refused %s %q, yet it is in the log at %d", what, w.last, w.answer.code, w.answer.message, a.revision)
				}
			}
		}
		if strings.Count(nodes[cutOff].log.String(), "team lost") < i+1 {
			t.Fatalf("%s: %s's log does not say it lost the team", what, cutOff)
		}
		t.Logf("%s: %s took the world %s after the cut; the cut-off owner's clients answered within %s (writer: %v); a client connecting to it during the cut: %s after %s; healed after %s, the world back on %s %s after the heal; its client resumed after %d and got %d acknowledged commands it missed, up to %d; the refused command retried: %s; %d held bytes node→NATS, %d NATS→node so far",
			what, next, takeover.Round(time.Millisecond), answered.Round(time.Millisecond), wOwner.err, got, freshTook.Round(time.Millisecond),
			healAt.Sub(cutAt).Round(time.Millisecond), back, handBack.Round(time.Millisecond), last, missed, head, retried,
			proxy.held[partToNATS].Load(), proxy.held[partToNode].Load())
	}
	for _, n := range nodes {
		n.stop()
	}
	all := acks.snapshot()
	verifyCluster(t, natsURL, all)
	byClient, markers := partWriters(t, natsURL)
	for client := range ownerClients {
		for _, w := range byClient[client] {
			if w != cutOff {
				t.Fatalf("a command sent to %s while it owned the world is in the log after %s's ownership marker", cutOff, w)
			}
		}
	}
	t.Logf("ownership markers in the log: %v; %d acknowledged commands", markers, len(all))
}

// TestClusterPartitionedFollower cuts off from NATS a node that follows
// the demo's world, three times (both ways; NATS→node only; node→NATS
// only), while a client on the owner writes a trickle and a client on the
// cut-off node is connected. Each time: a command sent on the cut-off
// node is answered within partAnswered (NO_OWNER, after the forwarder's
// bound: never silence); after the heal that client's feed catches up
// with the owner's acknowledgements, every revision in order (no hole),
// and the command sent again with its request id is acknowledged once
// (applied now, or, when the owner had applied it and only its answer was
// lost, answered at the revision it had), and a new command too. At the
// end the log holds every acknowledged command once, at its revision.
func TestClusterPartitionedFollower(t *testing.T) {
	natsURL := startNATS(t)
	proxy := partStartProxy(t, natsURL)
	all := []string{"a", "b", "c"}
	owner := jetstream.Preferred(all, server.DemoTeam)
	cutOff := ""
	for _, n := range all {
		if n != owner {
			cutOff = n
			break
		}
	}
	nodes, plain := partSpawnNodes(t, natsURL, proxy, cutOff)
	token := login(t, plain[owner].url)
	var acks partAcks
	for i, r := range partRounds {
		what := fmt.Sprintf("round %d (%s)", i, r.name)
		if got := settledOwner(t, plain, token, server.DemoTeam, what+": the world owned by "+owner); got != owner {
			t.Fatalf("%s: %s owns the world, %s is preferred", what, got, owner)
		}
		conn := func(url string) *partClient {
			c, err := partDial(t, url, token, world.ID{}, 0, answerWait)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return c
		}
		onOwner, onCut := conn(nodes[owner].url), conn(nodes[cutOff].url)
		wOwner := partWrite(t, onOwner, fmt.Sprintf("r%d-owner", i), acks.add, partRedial(t, nodes[owner].url, token))
		partTrickle(t, wOwner, 3, what+": a trickle on the owner")
		before := fmt.Sprintf("r%d-cut-before", i)
		a, err := onCut.send(1, before, answerWait)
		if err != nil || a.code != "" {
			t.Fatalf("%s: %s on %s before the cut: %v %s %s", what, before, cutOff, err, a.code, a.message)
		}
		acks.add(acked{name: before, rev: a.revision})

		cutAt := time.Now()
		proxy.cut(r.dirs...)
		during := fmt.Sprintf("r%d-cut-during", i)
		a, err = onCut.send(2, during, partAnswered)
		answered := time.Since(cutAt)
		var got string
		switch {
		case errors.Is(err, errPartNoAnswer):
			t.Fatalf("%s: %s, sent on the cut-off node, had no answer within %s", what, during, partAnswered)
		case err != nil:
			got = "closed: " + err.Error()
		case a.code == "":
			t.Fatalf("%s: %s, sent on the cut-off node, was acknowledged at %d during the cut", what, during, a.revision)
		default:
			got = a.code + " " + a.message
		}
		partTrickle(t, wOwner, wOwner.acks.Load()+3, what+": the owner's commands during the cut")
		healAt := time.Now()
		proxy.heal()
		wOwner.wait(t, answerWait, what+": the owner's writer to stop")
		if wOwner.err != nil {
			t.Fatalf("%s: the writer on the owner failed: %v", what, wOwner.err)
		}

		// The cut-off node's client catches up on the connection it had,
		// or, if that closed, by resuming after what it saw.
		head := acks.head()
		deadline := time.Now().Add(partSettle)
		for {
			last, _, hole := onCut.state()
			if hole != nil {
				t.Fatalf("%s: the client on the cut-off node: %v", what, hole)
			}
			if last >= head {
				break
			}
			if _, ended, err := onCut.end(); ended {
				t.Logf("%s: the client on the cut-off node was closed (%v): it resumes after %d", what, err, last)
				partCatchUp(t, nodes[cutOff].url, token, onCut.client, last, head, time.Until(deadline), what+": the cut-off node's client to catch up")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("waited %s for %s: the client on the cut-off node is at %d, the owner acknowledged %d", partSettle, what+": the cut-off node's feed to catch up", last, head)
			}
			time.Sleep(10 * time.Millisecond)
		}
		caughtUp := time.Since(healAt)
		onCut.mu.Lock()
		resyncs := onCut.snapshots - 1 // the first is the connection's own
		onCut.mu.Unlock()

		// Sent again with its request id: acknowledged once.
		retried := partRetry(t, nodes[cutOff].url, token, onCut.client, head, 2, during)
		acks.add(acked{name: during, rev: retried.revision})
		how := fmt.Sprintf("applied at %d", retried.revision)
		if retried.revision <= head {
			how = fmt.Sprintf("answered at %d, where the owner had applied it during the cut", retried.revision)
		}
		after := fmt.Sprintf("r%d-cut-after", i)
		fresh := partRetry(t, nodes[cutOff].url, token, onCut.client, head, 3, after)
		acks.add(acked{name: after, rev: fresh.revision})
		t.Logf("%s: a command on the cut-off node answered %s after the cut (%s); healed after %s; its feed caught up to %d (no hole; %d snapshots sent again) %s after the heal; the command sent again: %s; a new one applied at %d; the owner's writer reconnected %d times (the world moved: the owner's log says it lost it %d times so far)",
			what, answered.Round(time.Millisecond), got, healAt.Sub(cutAt).Round(time.Millisecond), head, resyncs, caughtUp.Round(time.Millisecond), how, fresh.revision,
			wOwner.moves.Load(), strings.Count(nodes[owner].log.String(), "team lost"))
	}
	for _, n := range nodes {
		n.stop()
	}
	verifyCluster(t, natsURL, acks.snapshot())
}
