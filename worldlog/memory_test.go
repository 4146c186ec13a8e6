package worldlog_test

import (
	"context"
	"errors"
	"testing"

	"txxt/worldlog"
	"txxt/worldlog/logtest"
)

// The in-memory log passes the suite every backend passes.
func TestMemory(t *testing.T) {
	logtest.Run(t, logtest.Backend{
		New: func(*testing.T) worldlog.Log { return worldlog.NewMemory() },
		Reopen: func(_ *testing.T, l worldlog.Log) worldlog.Log {
			// A restart in memory is a new writer of the same log.
			return l.(*worldlog.Memory).Takeover()
		},
		Takeover: func(_ *testing.T, l worldlog.Log) (worldlog.Log, error) {
			return l.(*worldlog.Memory).Takeover(), nil
		},
		Follow: func(_ *testing.T, l worldlog.Log) worldlog.Follower {
			return l.(*worldlog.Memory).Reader()
		},
	})
}

// A fenced writer of the memory log writes nothing at all: no records, no
// snapshot, no compaction.
func TestMemoryFencedWriterWritesNothing(t *testing.T) {
	ctx := context.Background()
	old := worldlog.NewMemory()
	if err := old.Append(ctx, []worldlog.Record{{Revision: 1}, {Revision: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := old.SaveSnapshot(ctx, 1, []byte("world at 1")); err != nil {
		t.Fatal(err)
	}
	cur := old.Takeover()
	if err := old.SaveSnapshot(ctx, 2, []byte("world at 2")); !errors.Is(err, worldlog.ErrFenced) {
		t.Errorf("snapshot by a fenced writer: %v", err)
	}
	if err := old.Compact(ctx, 1); !errors.Is(err, worldlog.ErrFenced) {
		t.Errorf("compaction by a fenced writer: %v", err)
	}
	if rev, _, _ := cur.LatestSnapshot(ctx); rev != 1 {
		t.Errorf("latest snapshot %d, want 1", rev)
	}
	n := 0
	cur.Records(ctx, 0, func(worldlog.Record) error { n++; return nil })
	if n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

// A reader of the memory log follows it and writes nothing.
func TestMemoryReaderWritesNothing(t *testing.T) {
	ctx := context.Background()
	w := worldlog.NewMemory()
	if err := w.Append(ctx, []worldlog.Record{{Revision: 1}}); err != nil {
		t.Fatal(err)
	}
	r := w.Reader()
	if err := r.Append(ctx, []worldlog.Record{{Revision: 2}}); !errors.Is(err, worldlog.ErrFenced) {
		t.Errorf("append by a reader: %v, want ErrFenced", err)
	}
	if err := r.SaveSnapshot(ctx, 1, []byte("world at 1")); !errors.Is(err, worldlog.ErrFenced) {
		t.Errorf("snapshot by a reader: %v, want ErrFenced", err)
	}
	if h, _ := r.Head(ctx); h != 1 {
		t.Errorf("a reader's head %d, want 1", h)
	}
	if err := w.Append(ctx, []worldlog.Record{{Revision: 2}}); err != nil {
		t.Errorf("the writer's append after a reader's: %v", err)
	}
}
