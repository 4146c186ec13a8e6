package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/world"
	"txxt/worldlog"
)

// wait bounds every wait of these tests for something that must come.
const wait = 10 * time.Second

// connect opens another connection to the NATS server js is connected
// to, as another node of the cluster would: its own connection, its own
// JetStream client. It closes with the test.
// startOwner runs the owner of world on a connection of its own: its
// engine on the world's log (taken over by name), and its command
// subject served. Both end with the test, unless it ends them before.
func startOwner(t testing.TB, js natsjs.JetStream, world, name string, log func(*Log) worldlog.Log, opts engine.Options) (*engine.Engine, *Owner) {
	t.Helper()
	js = connect(t, js.Conn().ConnectedUrl())
	l := open(t, js, world, name)
	var wl worldlog.Log = l
	if log != nil {
		wl = log(l)
	}
	e, err := engine.Open(wl, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	o, err := Serve(js.Conn(), world, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return e, o
}

// startFollower runs a node that serves world without owning it: a
// follower engine on a reader of the world's log, forwarding on a
// connection of its own.
func startFollower(t testing.TB, js natsjs.JetStream, world string, fopts ForwardOptions) (*engine.Engine, *Forwarder) {
	t.Helper()
	js = connect(t, js.Conn().ConnectedUrl())
	fwd := NewForwarder(js.Conn(), world, fopts)
	e, err := engine.Follow(openReader(t, js, world), fwd, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, fwd
}

func ctxWait(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// answered is the answer to a command submitted with Submit, and the
// revision its engine's feed had reached when it came.
type answered struct {
	res engine.Result
	fed uint64
}

// submit submits r to e and returns a channel of its answer.
func submit(t testing.TB, e *engine.Engine, r engine.Request) <-chan answered {
	t.Helper()
	ch := make(chan answered, 1)
	r.Done = func(res engine.Result) { ch <- answered{res, e.Revision()} }
	if err := e.Submit(r); err != nil {
		t.Fatal(err)
	}
	return ch
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("waited %s for %s", wait, what)
		panic("unreachable")
	}
}

// do submits r to e and waits for its answer, which must come after e's
// feed has its revision.
func do(t testing.TB, e *engine.Engine, r engine.Request) engine.Result {
	t.Helper()
	a := recv(t, submit(t, e, r), fmt.Sprintf("the answer to %s", r.Command.Kind))
	if a.res.Err == nil && a.fed < a.res.Revision {
		t.Fatalf("%s answered at revision %d while its engine's feed was at %d", r.Command.Kind, a.res.Revision, a.fed)
	}
	return a.res
}

func mustDo(t testing.TB, e *engine.Engine, r engine.Request) uint64 {
	t.Helper()
	res := do(t, e, r)
	if res.Err != nil {
		t.Fatalf("%s refused: %v", r.Command.Kind, res.Err)
	}
	return res.Revision
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", wait, what)
		}
	}
}

var (
	service = world.ID{0x5e}
	alice   = world.ID{0xa1}
)

func createService() engine.Request {
	return engine.Request{Command: world.Command{Kind: world.CmdCreateService, Service: service, Text: "Ops"}, Actor: alice}
}

func createTask(title string, origin engine.Origin) engine.Request {
	return engine.Request{
		Command: world.Command{Kind: world.CmdCreateTask, Service: service, Slot: world.Slot{Date: 20000, Start: 540, Duration: 30}, Text: title},
		Actor:   alice,
		Origin:  origin,
	}
}

// frames reads sub until it has delivered revision to and returns each
// event's frame by revision.
func frames(t testing.TB, sub *engine.Subscription, to uint64) map[uint64][]byte {
	t.Helper()
	out := map[uint64][]byte{}
	for sub.Last() < to {
		d, err := sub.Next(ctxWait(t))
		if err != nil {
			t.Fatalf("a subscriber at %d waiting for %d: %v", sub.Last(), to, err)
		}
		for _, p := range d.Events {
			out[p.Revision] = bytes.Clone(p.Frame)
		}
	}
	return out
}

func tasks(t testing.TB, e *engine.Engine) int {
	t.Helper()
	n := 0
	if err := e.Read(ctxWait(t), func(w *world.World) { n = len(w.Tasks()) }); err != nil {
		t.Fatal(err)
	}
	return n
}

// An owner and two followers of one world, each on its own connection:
// a command submitted on a follower is applied once, by the owner,
// answered with its revision after the follower's own feed has its
// event, and all three feeds deliver the same event at that revision; the
// same command again (a client's retry, on the other follower) gets the
// same revision and is not applied again.
func TestAnyNodeServesAnyClient(t *testing.T) {
	js := startNATS(t)
	owner, _ := startOwner(t, js, "team", "node-a", nil, engine.Options{})
	b, _ := startFollower(t, js, "team", ForwardOptions{})
	c, _ := startFollower(t, js, "team", ForwardOptions{})
	mustDo(t, b, createService())
	subs := []*engine.Subscription{owner.Resume(1, true), b.Resume(1, true), c.Resume(1, true)}

	origin := engine.Origin{Client: world.ID{0xc1}, Request: 1}
	rev := mustDo(t, b, createTask("from node b", origin))
	var want []byte
	for i, sub := range subs {
		got := frames(t, sub, rev)[rev]
		if i == 0 {
			want = got
		}
		if got == nil || !bytes.Equal(got, want) {
			t.Fatalf("feed %d delivered %x at revision %d, the owner's %x", i, got, rev, want)
		}
	}

	again := do(t, c, createTask("from node b", origin))
	if again.Err != nil || !again.Duplicate || again.Revision != rev {
		t.Fatalf("the retry on node c: %+v, want a duplicate at %d", again, rev)
	}
	if st := owner.Stats(); st.Accepted != 2 || st.Duplicates != 1 {
		t.Fatalf("the owner accepted %d and answered %d duplicates, want 2 and 1", st.Accepted, st.Duplicates)
	}
	for i, e := range []*engine.Engine{owner, b, c} {
		if n := tasks(t, e); n != 1 {
			t.Fatalf("node %d's world holds %d tasks, want 1", i, n)
		}
	}
	// A refusal comes back with its code and its words.
	res := do(t, c, engine.Request{Command: world.Command{Kind: world.CmdCompleteTask, Task: world.ID{0xde}}, Actor: alice})
	if res.Err == nil || res.Err.Code != world.CodeTaskNotFound || res.Err.Message == "" {
		t.Fatalf("a command the world refuses, through a follower: %+v", res)
	}
}

// gatedLog holds an owner's appends, once hold is set, until gate is
// closed: a commit that takes longer than a follower's request waits.
// held is closed when the first append reaches the closed gate.
type gatedLog struct {
	*Log
	hold     atomic.Bool
	gate     chan struct{}
	held     chan struct{}
	heldOnce sync.Once
}

func (g *gatedLog) Append(ctx context.Context, recs []worldlog.Record) error {
	if g.hold.Load() {
		g.heldOnce.Do(func() { close(g.held) })
		select {
		case <-g.gate:
		case <-time.After(wait):
		}
	}
	return g.Log.Append(ctx, recs)
}

// A reply that never reached the follower (its request timed out while
// the owner's commit was slow): the follower sends the command again,
// same ids, and the owner answers it from its retry table, so it is
// applied once and answered with its revision. Every request the
// follower sent again is such a retry: a loaded machine may answer the
// first retry later than the attempt's 100 ms, and the follower sends
// one more, which is answered the same way.
func TestRetryAfterALostReply(t *testing.T) {
	js := startNATS(t)
	var gated *gatedLog
	owner, _ := startOwner(t, js, "team", "node-a", func(l *Log) worldlog.Log {
		gated = &gatedLog{Log: l, gate: make(chan struct{}), held: make(chan struct{})}
		return gated
	}, engine.Options{})
	f, fwd := startFollower(t, js, "team", ForwardOptions{Attempt: 100 * time.Millisecond})
	mustDo(t, f, createService())

	gated.hold.Store(true)
	answer := submit(t, f, createTask("slow", engine.Origin{Client: world.ID{0xc1}, Request: 1}))
	// The first request's command is in the commit the gate holds (so it
	// is out of the queue); a retry, sent once that request timed out,
	// waits behind it.
	recv(t, gated.held, "the owner's commit of the first request to reach the gate")
	waitUntil(t, "the follower's retry to reach the owner's queue", func() bool { return owner.Stats().QueueLength >= 1 })
	close(gated.gate)
	a := recv(t, answer, "the answer to the retried command")
	if a.res.Err != nil || !a.res.Duplicate || a.res.Revision != 2 || a.fed < 2 {
		t.Fatalf("the retried command: %+v (feed at %d), want a duplicate at 2", a.res, a.fed)
	}
	// The answer came to the last request, so the owner has answered
	// every one before it (one connection, one subscription, one user's
	// queue: in the order sent): the first applied, each retry a
	// duplicate.
	retries := fwd.Retries()
	if retries == 0 {
		t.Fatal("the follower never sent the command again")
	}
	if st := owner.Stats(); st.Accepted != 2 || st.Duplicates != retries {
		t.Fatalf("the owner accepted %d and answered %d duplicates, want 2 and %d (one a retry)", st.Accepted, st.Duplicates, retries)
	}
	if n := tasks(t, f); n != 1 {
		t.Fatalf("the follower's world holds %d tasks, want 1", n)
	}
}

// No node serves the world yet (no responders): the follower tries again
// until one does; with nobody at all within its bound, the command is
// refused NO_OWNER.
func TestNoOwnerYet(t *testing.T) {
	js := startNATS(t)
	f, fwd := startFollower(t, js, "team", ForwardOptions{})
	answer := submit(t, f, createService())
	waitUntil(t, "the follower to try again", func() bool { return fwd.Retries() >= 2 })
	startOwner(t, js, "team", "node-a", nil, engine.Options{})
	a := recv(t, answer, "the answer once an owner serves the world")
	if a.res.Err != nil || a.res.Revision != 1 || a.fed < 1 {
		t.Fatalf("the command once an owner serves: %+v (feed at %d)", a.res, a.fed)
	}

	lonely, _ := startFollower(t, js, "nobody", ForwardOptions{Bound: 50 * time.Millisecond})
	res := do(t, lonely, createService())
	if res.Err == nil || res.Err.Code != world.CodeNoOwner {
		t.Fatalf("a command for a world nobody serves: %+v, want NO_OWNER", res)
	}
	if h := lonely.Health(); !h.Degraded || h.Reason == "" {
		t.Fatalf("the follower's health with no owner: %+v", h)
	}
}

// A failover: another node takes the world over while the old owner
// still serves its subject. A command the old owner committed is
// answered, retried, from the new owner's retry table (its boot refilled
// it from the log): the same revision, no second apply; new commands are
// applied by the new owner (the old one refuses NOT_OWNER, and the
// follower tries again); the followers' feeds go on across the takeover.
func TestRetryAcrossAFailover(t *testing.T) {
	js := startNATS(t)
	old, oldOwner := startOwner(t, js, "team", "node-a", nil, engine.Options{})
	b, _ := startFollower(t, js, "team", ForwardOptions{})
	c, cfwd := startFollower(t, js, "team", ForwardOptions{})
	mustDo(t, b, createService())
	committed := engine.Origin{Client: world.ID{0xc1}, Request: 1}
	rev := mustDo(t, b, createTask("before the failover", committed))
	sub := c.Resume(rev, true)

	// The new owner takes the world (its marker fences the old one),
	// while the old one still serves until it learns: the next command
	// reaches it first, is refused NOT_OWNER, and is sent again until the
	// new owner serves.
	cjs := connect(t, js.Conn().ConnectedUrl())
	cur, err := engine.Open(open(t, cjs, "team", "node-b"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if cur.Revision() != rev {
		t.Fatalf("the new owner boots at %d, want %d", cur.Revision(), rev)
	}
	retries := cfwd.Retries()
	answer := submit(t, c, createTask("after the failover", engine.Origin{Client: world.ID{0xc2}, Request: 1}))
	waitUntil(t, "the deposed owner to refuse the command", func() bool { return old.Health().NotOwner && cfwd.Retries() > retries })
	curOwner, err := Serve(cjs.Conn(), "team", cur)
	if err != nil {
		t.Fatal(err)
	}
	defer curOwner.Close()
	a := recv(t, answer, "the answer from the new owner")
	next := a.res.Revision
	if a.res.Err != nil || next != rev+1 || a.fed < next {
		t.Fatalf("the first command after the failover: %+v (feed at %d), want revision %d", a.res, a.fed, rev+1)
	}
	if got := frames(t, sub, next); got[next] == nil {
		t.Fatal("the follower's feed did not go on across the takeover")
	}
	oldOwner.Close()
	again := do(t, b, createTask("before the failover", committed))
	if again.Err != nil || !again.Duplicate || again.Revision != rev {
		t.Fatalf("the retry after the failover: %+v, want a duplicate at %d", again, rev)
	}
	if st := cur.Stats(); st.Accepted != 1 || st.Duplicates != 1 {
		t.Fatalf("the new owner accepted %d and answered %d duplicates, want 1 and 1", st.Accepted, st.Duplicates)
	}
	if st := old.Stats(); st.Accepted != 2 {
		t.Fatalf("the old owner accepted %d commands, want 2 (before the failover)", st.Accepted)
	}
	for i, e := range []*engine.Engine{cur, b, c} {
		if n := tasks(t, e); n != 2 {
			t.Fatalf("node %d's world holds %d tasks, want 2", i, n)
		}
	}
}

// Followers resume from their ring and give snapshots as an owner does;
// one started late, after the owner saved snapshots and compacted its
// log, boots from the newest snapshot and the records after it, and
// follows from there.
func TestFollowersResumeSnapshotAndCatchUp(t *testing.T) {
	js := startNATS(t)
	owner, _ := startOwner(t, js, "team", "node-a", nil, engine.Options{SnapshotEvery: 10, KeepLog: 5})
	b, _ := startFollower(t, js, "team", ForwardOptions{})
	mustDo(t, b, createService())
	var last uint64
	for i := range 30 {
		last = mustDo(t, b, createTask(fmt.Sprintf("task %d", i), engine.Origin{Client: world.ID{0xc1}, Request: uint32(i + 1)}))
	}
	// Resume: exactly what came after.
	got := frames(t, b.Resume(last-5, true), last)
	if len(got) != 5 {
		t.Fatalf("a resume after %d delivered %d events, want 5", last-5, len(got))
	}
	snapshot := func(e *engine.Engine) *engine.Snapshot {
		t.Helper()
		s, err := e.Snapshot(ctxWait(t), true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := snapshot(owner)
	if s := snapshot(b); s.Revision != a.Revision || !bytes.Equal(s.Frame, a.Frame) {
		t.Fatalf("the follower's snapshot at %d, the owner's at %d, same bytes %v", s.Revision, a.Revision, bytes.Equal(s.Frame, a.Frame))
	}

	l := openReader(t, js, "team")
	waitUntil(t, "the owner to save a snapshot and compact its log", func() bool {
		rev, _, err := l.LatestSnapshot(context.Background())
		first := uint64(0)
		l.Records(context.Background(), 0, func(r worldlog.Record) error {
			first = r.Revision
			return errStop
		})
		return err == nil && rev >= 20 && first > 1
	})
	late, _ := startFollower(t, js, "team", ForwardOptions{})
	if late.Revision() != last {
		t.Fatalf("the late follower boots at %d, want %d", late.Revision(), last)
	}
	if s := snapshot(late); !bytes.Equal(s.Frame, snapshot(owner).Frame) {
		t.Fatal("the late follower's snapshot is not the owner's")
	}
	sub := late.Resume(last, true)
	next := mustDo(t, late, createTask("from the late one", engine.Origin{Client: world.ID{0xc2}, Request: 1}))
	if frames(t, sub, next)[next] == nil {
		t.Fatal("the late follower's feed did not deliver its own command's event")
	}
}

var errStop = fmt.Errorf("enough")

// Every field of a command crosses the wire: a command with each field
// set (by reflection, so a field added to world.Command is set too)
// decodes as it was encoded.
func TestForwardedCommandKeepsEveryField(t *testing.T) {
	var q engine.Request
	q.Actor, q.Origin = world.ID{1}, engine.Origin{Client: world.ID{2}, Request: 3}
	n := byte(10)
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		n++
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		case reflect.Array:
			for i := range v.Len() {
				v.Index(i).SetUint(uint64(n) + uint64(i))
			}
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(uint64(n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.String:
			v.SetString(fmt.Sprintf("text %d é", n))
		default:
			t.Fatalf("a command field of kind %s: teach the codec and this test", v.Kind())
		}
	}
	fill(reflect.ValueOf(&q.Command).Elem())
	data, count := encodeRequest([]engine.Request{q, q}, maxForward, 1<<20)
	if count != 2 {
		t.Fatalf("encoded %d of 2 commands", count)
	}
	got, err := decodeRequest(data)
	if err != nil || len(got) != 2 {
		t.Fatalf("decode: %d commands, %v", len(got), err)
	}
	if !reflect.DeepEqual(got[1], q) {
		t.Fatalf("decoded %+v, want %+v", got[1], q)
	}
	for cut := range data {
		if _, err := decodeRequest(data[:cut]); err == nil {
			t.Fatalf("a request cut at %d of %d bytes decodes", cut, len(data))
		}
	}
}

func TestForwardReplyRoundTrip(t *testing.T) {
	want := []engine.Result{
		{Revision: 7},
		{Revision: 5, Duplicate: true},
		{Err: &world.Error{Code: world.CodeTaskNotFound, Message: "'Deploy' was deleted by ann 2 minutes ago."}},
	}
	got, err := decodeReply(encodeReply(want))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, want)
	}
	if _, err := decodeReply(encodeRefusedRequest(fmt.Errorf("no"))); err == nil {
		t.Fatal("a refused request decodes as answers")
	}
	long := bytes.Repeat([]byte("é"), maxMessage)
	got, _ = decodeReply(encodeReply([]engine.Result{{Err: &world.Error{Code: world.CodeInternal, Message: string(long)}}}))
	if m := got[0].Err.Message; len(m) > maxMessage || !bytes.HasPrefix(long, []byte(m)) {
		t.Fatalf("a long message cut to %d bytes, not at a character", len(m))
	}
}

// The owner decodes what any node sends it: no input panics or decodes
// past its bytes.
func FuzzDecodeRequest(f *testing.F) {
	data, _ := encodeRequest([]engine.Request{createTask("fuzz", engine.Origin{Client: world.ID{1}, Request: 1}), createService()}, maxForward, 1<<20)
	f.Add(data)
	f.Add([]byte{forwardVersion, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, err := decodeRequest(data)
		if err == nil {
			again, _ := encodeRequest(reqs, 1<<16-1, 1<<30)
			if !bytes.Equal(again, data) {
				t.Fatalf("%x decodes to commands that encode as %x", data, again)
			}
		}
	})
}

// The cost of a command on a node that does not own the world, against
// the same on the owner: one request/reply more, and the wait for the
// follower's consumer to bring the event. Sync always, one NATS node.
func BenchmarkCommandRoundTrip(b *testing.B) {
	js := startNATS(b)
	owner, _ := startOwner(b, js, "team", "node-a", nil, engine.Options{})
	f, _ := startFollower(b, js, "team", ForwardOptions{})
	mustDo(b, owner, createService())
	for _, bc := range []struct {
		name string
		e    *engine.Engine
	}{{"on_the_owner", owner}, {"on_a_follower", f}} {
		i := uint32(0) // across -count's runs: each command new, never a retry
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				i++
				start := time.Now()
				mustDo(b, bc.e, createTask("bench", engine.Origin{Client: world.ID{0xbe, byte(len(bc.name))}, Request: i}))
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// Commands per second from 64 clients at once, on the owner and on a
// follower: the follower's forwards gather commands as the owner's
// commits do, one batch in flight at a time.
func BenchmarkCommandsPerSecond(b *testing.B) {
	js := startNATS(b)
	owner, _ := startOwner(b, js, "team", "node-a", nil, engine.Options{})
	f, _ := startFollower(b, js, "team", ForwardOptions{})
	mustDo(b, owner, createService())
	var client atomic.Uint32
	for _, bc := range []struct {
		name string
		e    *engine.Engine
	}{{"on_the_owner", owner}, {"on_a_follower", f}} {
		b.Run(bc.name, func(b *testing.B) {
			var refused atomic.Int64
			b.SetParallelism(32) // 64 clients on 2 cores
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				id := client.Add(1)
				answer := make(chan engine.Result, 1)
				req := uint32(0)
				for pb.Next() {
					req++
					r := createTask("bench", engine.Origin{Client: world.ID{0xbf, byte(id >> 8), byte(id)}, Request: req})
					r.Actor = world.ID{0xbf, byte(id >> 8), byte(id)}
					r.Done = func(res engine.Result) { answer <- res }
					if err := bc.e.Submit(r); err != nil {
						refused.Add(1)
						continue
					}
					if res := <-answer; res.Err != nil {
						refused.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cmd/s")
			if n := refused.Load(); n > 0 {
				b.Fatalf("%d of %d commands refused", n, b.N)
			}
		})
	}
}
