package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/engine"
	"txxt/jetstream/natstest"
	"txxt/world"
	"txxt/worldlog"
	"txxt/worldlog/logtest"
)

// startNATS runs one NATS server with JetStream inside the test process,
// file storage under the test's directory, fsync on every write (sync
// always, as production must), and returns a JetStream client set up with
// the streams and the snapshot bucket. Both end with the test.
func startNATS(t testing.TB) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(natstest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Setup(ctx, js, Options{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	return js
}

func open(t testing.TB, js natsjs.JetStream, world, owner string) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Open(ctx, js, world, owner, Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func openReader(t testing.TB, js natsjs.JetStream, world string) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := OpenReader(ctx, js, world, Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// JetStream passes the suite the save file and the memory log pass: one
// server for the whole suite, a world of its own for each case.
func TestJetStream(t *testing.T) {
	js := startNATS(t)
	var worlds atomic.Int64
	logtest.Run(t, logtest.Backend{
		New: func(t *testing.T) worldlog.Log {
			return open(t, js, fmt.Sprintf("world-%d", worlds.Add(1)), "node-a")
		},
		Reopen: func(t *testing.T, l worldlog.Log) worldlog.Log {
			return open(t, js, l.(*Log).world, "node-a") // a restart takes the world over again
		},
		Takeover: func(t *testing.T, l worldlog.Log) (worldlog.Log, error) {
			return open(t, js, l.(*Log).world, "node-b"), nil
		},
		Follow: func(t *testing.T, l worldlog.Log) worldlog.Follower {
			return openReader(t, js, l.(*Log).world)
		},
		CutsToSnapshots: true, // it keeps the past (history.go)
	})
}

// A retried append whose acknowledgement was lost is committed once: the
// stream deduplicates it by its message id, and the append is answered
// as written.
func TestJetStreamRetriedAppendIsStoredOnce(t *testing.T) {
	js := startNATS(t)
	l := open(t, js, "retry", "node-a")
	ctx := context.Background()
	recs := []worldlog.Record{{Revision: 1, Frame: []byte("one")}, {Revision: 2, Frame: []byte("two")}}
	if err := l.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// As if the acknowledgement had been lost: the writer still thinks
	// the head is where it was before.
	l.mu.Lock()
	l.head, l.lastSeq = 0, l.lastSeq-1
	l.mu.Unlock()
	if err := l.Append(ctx, recs); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	n := 0
	if err := l.Records(ctx, 0, func(worldlog.Record) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("%d records (%v), want 2", n, err)
	}
	// A different batch at the same revisions is no retry: the fence
	// refuses it, as another writer's would be.
	l.mu.Lock()
	l.head, l.lastSeq = 0, l.lastSeq-1
	l.mu.Unlock()
	other := []worldlog.Record{{Revision: 1, Frame: []byte("uno")}}
	if err := l.Append(ctx, other); !errors.Is(err, worldlog.ErrFenced) {
		t.Fatalf("another batch at the same revision: %v, want ErrFenced", err)
	}
}

// An engine on JetStream: commands are durable in the stream, a restart
// on another node boots the same world, and the engine that node took the
// world from steps down (NOT_OWNER) at its next command.
func TestEngineOnJetStream(t *testing.T) {
	js := startNATS(t)
	a, err := engine.Open(open(t, js, "team", "node-a"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	service := world.ID{1}
	res, err := a.Do(ctx, engine.Request{Command: world.Command{Kind: world.CmdCreateService, Service: service, Text: "Ops"}})
	if err != nil || res.Err != nil || res.Revision != 1 {
		t.Fatalf("create a service: %+v, %v", res, err)
	}

	b, err := engine.Open(open(t, js, "team", "node-b"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Revision() != 1 {
		t.Fatalf("the new owner boots at %d, want 1", b.Revision())
	}
	task := world.Command{Kind: world.CmdCreateTask, Service: service, Slot: world.Slot{Date: 20000, Start: 540, Duration: 30}, Text: "t"}
	if res, err := a.Do(ctx, engine.Request{Command: task}); err != nil || res.Err == nil || res.Err.Code != world.CodeNotOwner {
		t.Fatalf("a command on the old owner: %+v, %v, want NOT_OWNER", res, err)
	}
	if res, err := b.Do(ctx, engine.Request{Command: task}); err != nil || res.Err != nil || res.Revision != 2 {
		t.Fatalf("a command on the new owner: %+v, %v", res, err)
	}
}
