package worldlog

import (
	"bytes"
	"context"
	"fmt"
	"sync"
)

// Memory is a world's log held in memory: durable only as long as the
// process, for tests and for a world nobody needs to keep. Each Memory is
// one writer's handle on a shared log; Takeover opens another one and
// fences this one, as a second node taking the world over would, and
// Reader one that only reads and follows, as a node that does not own the
// world would.
type Memory struct {
	log   *memoryLog
	epoch uint64 // this handle's writer epoch; fenced once log.epoch passes it (0: a reader)
}

// memoryLog is the log the handles share. mu guards everything.
type memoryLog struct {
	mu        sync.Mutex
	epoch     uint64 // the current writer's
	records   []Record
	snapshots []memorySnapshot // the two newest, oldest first
	grown     chan struct{}    // closed (and replaced) by each Append: wakes the followers
}

type memorySnapshot struct {
	rev   uint64
	frame []byte
}

// NewMemory returns the log of a new, empty world and its first writer.
func NewMemory() *Memory {
	return &Memory{log: &memoryLog{epoch: 1, grown: make(chan struct{})}, epoch: 1}
}

// Reader returns a handle on m's world that reads and follows it and never
// writes: every write through it is refused with ErrFenced, as no writer
// epoch is 0.
func (m *Memory) Reader() *Memory { return &Memory{log: m.log} }

// Takeover returns a new writer of m's world. From then on every write
// through m (or any handle older than the new one) is refused with
// ErrFenced; reads go on.
func (m *Memory) Takeover() *Memory {
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	return &Memory{log: l, epoch: l.epoch}
}

// write runs fn with the log locked, unless ctx has ended or m is fenced.
func (m *Memory) write(ctx context.Context, fn func(l *memoryLog) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch != m.epoch {
		return ErrFenced
	}
	return fn(l)
}

func (l *memoryLog) head() uint64 {
	if n := len(l.records); n > 0 {
		return l.records[n-1].Revision
	}
	if n := len(l.snapshots); n > 0 {
		return l.snapshots[n-1].rev
	}
	return 0
}

// Append implements Log.
func (m *Memory) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	return m.write(ctx, func(l *memoryLog) error {
		last := l.head()
		for i := range recs {
			if recs[i].Revision != last+1+uint64(i) {
				return fmt.Errorf("append revision %d after %d: %w", recs[i].Revision, last+uint64(i), ErrGap)
			}
		}
		for _, r := range recs {
			r.Frame = bytes.Clone(r.Frame)
			l.records = append(l.records, r)
		}
		close(l.grown)
		l.grown = make(chan struct{})
		return nil
	})
}

// Head implements Log.
func (m *Memory) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.log.mu.Lock()
	defer m.log.mu.Unlock()
	return m.log.head(), nil
}

// Records implements Log. fn runs without the log locked, on the records
// as they were when Records was called.
func (m *Memory) Records(ctx context.Context, after uint64, fn func(Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs, _ := m.records()
	return each(ctx, recs, after, fn)
}

// records returns the log's records as they are now, and a channel closed
// at the next Append. Appends only add past len(recs) and Compact makes a
// new slice, so the records returned stay as they are.
func (m *Memory) records() ([]Record, <-chan struct{}) {
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records, l.grown
}

// each calls fn for the records of recs after after.
func each(ctx context.Context, recs []Record, after uint64, fn func(Record) error) error {
	i := 0
	if len(recs) > 0 && after >= recs[0].Revision {
		i = int(min(after-recs[0].Revision+1, uint64(len(recs))))
	}
	for _, r := range recs[i:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Follow implements Follower. What Append stored is durable here (as
// long as the process), and what the fence refused was never stored, so
// a follower sees exactly the log.
func (m *Memory) Follow(ctx context.Context, after uint64, fn func(Record) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, grown := m.records()
		if err := each(ctx, recs, after, func(r Record) error {
			after = r.Revision
			return fn(r)
		}); err != nil {
			return err
		}
		select {
		case <-grown:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// LatestSnapshot implements Log.
func (m *Memory) LatestSnapshot(ctx context.Context) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	l := m.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.snapshots); n > 0 {
		s := l.snapshots[n-1]
		return s.rev, bytes.Clone(s.frame), nil
	}
	return 0, nil, nil
}

// SaveSnapshot implements Log; it keeps the two newest, as the save file
// does.
func (m *Memory) SaveSnapshot(ctx context.Context, rev uint64, frame []byte) error {
	return m.write(ctx, func(l *memoryLog) error {
		s := memorySnapshot{rev, bytes.Clone(frame)}
		i := len(l.snapshots)
		for i > 0 && l.snapshots[i-1].rev >= rev {
			i--
		}
		if i < len(l.snapshots) && l.snapshots[i].rev == rev {
			l.snapshots[i] = s
		} else {
			l.snapshots = append(l.snapshots[:i], append([]memorySnapshot{s}, l.snapshots[i:]...)...)
		}
		if n := len(l.snapshots); n > 2 {
			l.snapshots = append([]memorySnapshot(nil), l.snapshots[n-2:]...)
		}
		return nil
	})
}

// Compact implements Log.
func (m *Memory) Compact(ctx context.Context, keepAfter uint64) error {
	return m.write(ctx, func(l *memoryLog) error {
		n := len(l.records)
		if n == 0 || len(l.snapshots) == 0 {
			return nil
		}
		limit := min(keepAfter, l.snapshots[len(l.snapshots)-1].rev, l.records[n-1].Revision-1)
		if limit < l.records[0].Revision {
			return nil
		}
		drop := int(limit - l.records[0].Revision + 1)
		// A new slice: a Records call in progress keeps the old one.
		l.records = append([]Record(nil), l.records[drop:]...)
		return nil
	})
}
