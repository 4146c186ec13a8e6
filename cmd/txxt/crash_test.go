package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"txxt/engine"
	"txxt/lab"
	"txxt/server"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

var crashKills = flag.Int("crash.kills", 6, "how many times TestCrashSafety kills the server (the long run: -crash.kills 500)")

// acked is a command the server acknowledged: a service created with a
// unique name, at a revision.
type acked struct {
	name string
	rev  uint64
}

// TestCrashSafety runs the real binary under concurrent writers, kills it
// with SIGKILL at random moments, restarts it on the same save file, and
// checks after every restart that every acknowledged command is there;
// at the end, that each is at the revision it was acknowledged at, that
// the log has no revision missing or doubled, and that replaying the whole
// log gives the world the server booted from its snapshot.
func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	var mu sync.Mutex
	var all []acked
	var token string
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	start := time.Now()
	for k := 0; k <= *crashKills; k++ {
		srv := spawnTest(t, path)
		if token == "" { // the session survives the kills: it is in the save file
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			target, err := lab.Login(ctx, srv.url, "demo", "demo")
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			token = target.Token
		}
		// Every acknowledged command is in the world the server came back with.
		names, rev := services(t, srv.url, token)
		mu.Lock()
		for _, a := range all {
			if !names[a.name] {
				t.Fatalf("after kill %d: %s, acknowledged at revision %d, is gone (server at %d)", k, a.name, a.rev, rev)
			}
			if a.rev > rev {
				t.Fatalf("after kill %d: the server is at revision %d, but %d was acknowledged", k, rev, a.rev)
			}
		}
		mu.Unlock()
		if k == *crashKills {
			srv.stop() // the last one ends cleanly
			break
		}

		// Four writers, then SIGKILL at a random moment while they write.
		// A writer ends when the kill closes its connection; one that ends
		// before the kill says why and fails the test.
		var wg sync.WaitGroup
		var killed atomic.Bool
		for w := range 4 {
			wg.Go(func() {
				err := write(srv.url, token, fmt.Sprintf("k%d-w%d", k, w), func(a acked) {
					mu.Lock()
					all = append(all, a)
					mu.Unlock()
				})
				if !killed.Load() {
					t.Errorf("before kill %d: %v", k, err)
				}
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		killed.Store(true)
		srv.cmd.Process.Kill()
		srv.cmd.Wait()
		waitGroup(t, &wg, 2*answerWait, fmt.Sprintf("the writers to end after kill %d", k))
		if t.Failed() {
			t.FailNow()
		}
	}
	verifyLog(t, store.TeamFile(path, server.DemoTeam), all)
	t.Logf("%d kills, %d acknowledged commands, every one kept at its revision (%s)", *crashKills, len(all), time.Since(start).Round(time.Millisecond))
}

// answerWait bounds the wait for each answer a writer waits for.
const answerWait = 30 * time.Second

// write creates services named prefix-N one after another, reporting each
// acknowledgement, until something stops it, and returns what did: the
// connection ending (as when the server is killed or stopped), a command
// refused, or an answer that did not come within answerWait.
func write(url, token, prefix string, ack func(acked)) error {
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("writer %s: connect: %w", prefix, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for n := uint32(1); ; n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		rev, err := writeOne(ws, n, name)
		if err != nil {
			return fmt.Errorf("writer %s: %s: %w", prefix, name, err)
		}
		ack(acked{name: name, rev: rev})
	}
}

// writeOne sends one CreateService as request n and returns the revision
// of its Ack.
func writeOne(ws *websocket.Conn, n uint32, name string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	defer cancel()
	cmd := world.Command{Kind: world.CmdCreateService, Text: name}
	if err := ws.Write(ctx, websocket.MessageBinary, wire.AppendCommand(nil, true, n, &cmd)); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	for {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			return 0, fmt.Errorf("waiting for the answer: %w", err)
		}
		f, err := wire.DecodeServerFrame(raw, true)
		if err != nil {
			return 0, fmt.Errorf("a frame that does not decode: %w", err)
		}
		if f.Type == wire.TypeAck && f.Ack.Request == n {
			return f.Ack.Revision, nil
		}
		if f.Type == wire.TypeError && f.Error.Request == n {
			return 0, fmt.Errorf("refused: %s %s", f.Error.Code, f.Error.Message)
		}
	}
}

// services returns the names of the world's services and its revision,
// from a fresh connection's snapshot.
func services(t *testing.T, url, token string) (map[string]bool, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/game", &websocket.DialOptions{
		Subprotocols: []string{wire.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := wire.DecodeServerFrame(raw, true); err == nil && f.Type == wire.TypeSnapshot {
			names := map[string]bool{}
			for _, s := range f.Snapshot.Services {
				names[s.Name] = true
			}
			return names, f.Snapshot.Revision
		}
	}
}

// verifyLog reads the save file after the last run: every acknowledged
// command's event is at its revision (those still in the log); revisions follow one another with
// no hole and no repeat; and the log replayed from the start equals the
// world the engine boots (from its newest snapshot and the log after it).
func verifyLog(t *testing.T, path string, all []acked) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Past KeepLog revisions the engine compacts the log's head away;
	// those commands were checked in the world after every restart.
	at := map[uint64]string{}
	for _, a := range all {
		if a.rev >= st.FirstRevision() {
			at[a.rev] = a.name
		}
	}
	checked := len(at)
	replayed := world.New()
	fromStart := st.FirstRevision() <= 1
	prev := st.FirstRevision() - 1
	err = st.Records(context.Background(), prev, func(r store.Record) error {
		if r.Revision != prev+1 {
			return fmt.Errorf("revision %d follows %d", r.Revision, prev)
		}
		prev = r.Revision
		ev, err := wire.DecodeEvent(r.Frame)
		if err != nil {
			return fmt.Errorf("revision %d: %w", r.Revision, err)
		}
		if name, ok := at[r.Revision]; ok {
			if ev.Kind != world.EvServiceCreated || ev.Service.Name != name {
				return fmt.Errorf("revision %d holds %v %q, but %s was acknowledged there", r.Revision, ev.Kind, ev.Service.Name, name)
			}
			delete(at, r.Revision)
		}
		if fromStart {
			return replayed.Replay(ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(at) > 0 {
		lo, hi := ^uint64(0), uint64(0)
		for r := range at {
			lo, hi = min(lo, r), max(hi, r)
		}
		t.Fatalf("%d acknowledged revisions are not in the log (%d to %d; the log holds %d to %d)", len(at), lo, hi, st.FirstRevision(), st.LastRevision())
	}
	if prev != st.LastRevision() {
		t.Fatalf("log ends at %d, store says %d", prev, st.LastRevision())
	}
	t.Logf("the log holds revisions %d to %d; %d acknowledged commands checked in it; whole-log replay compared: %v",
		st.FirstRevision(), st.LastRevision(), checked, fromStart)
	if !fromStart {
		return // compacted: the replay check needs the whole log
	}
	eng, err := engine.Open(st, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var booted *world.World
	eng.Read(context.Background(), func(w *world.World) {
		booted, _ = world.FromState(w.State())
	})
	if !world.Equal(booted, replayed) {
		t.Fatal("the world booted from the snapshot differs from the whole log replayed")
	}
}
