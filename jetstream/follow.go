package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/worldlog"
)

// A node that serves a world it does not own follows the world's subject
// through an ordered consumer, never through a core subscription: a core
// subscriber receives a publish before the stream has stored it (so
// before it is fsynced), and even one the fence refused, which is never
// stored at all. A consumer delivers only what the stream stored, in the
// stream's order, and the ordered consumer recreates itself from the last
// sequence it delivered when it misses a message or a heartbeat, so a
// follower sees every stored message once.
const (
	// followBuffer bounds the bytes a follower's consumer holds ahead of
	// it (a message is at most the server's max payload, 1 MiB by
	// default).
	followBuffer = 8 << 20
	// followInactive is how long the server keeps a follower's consumer
	// it no longer hears from (one that went without deleting it).
	followInactive = time.Minute
	// followIdle is how long a follower waits without a message before
	// it reads the world's head to check its consumer is not stuck (one
	// read per idle world per node every followIdle).
	followIdle = 5 * time.Second
)

// OpenReader returns a handle on world's log that reads and follows it
// and never writes (every write is refused with worldlog.ErrFenced): for
// a node that serves the world while another owns it. Unlike Open it
// appends no marker, so it fences nobody.
func OpenReader(ctx context.Context, js natsjs.JetStream, world string, opts Options) (*Log, error) {
	l, err := locate(ctx, js, world, opts)
	if err != nil {
		return nil, err
	}
	l.reader = true
	return l, nil
}

// readOnly is a reader's answer to a write.
func (l *Log) readOnly() error {
	return fmt.Errorf("world %s: opened to follow, not to write: %w", l.world, worldlog.ErrFenced)
}

// Follow implements worldlog.Follower: an ordered consumer on the world's
// subject from its first message holding a record after after; each
// batch's message is split into its records, and ownership markers are
// skipped.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(worldlog.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start, err := l.seek(ctx, after)
	if err != nil {
		return err
	}
	msgs, stop, err := l.consume(ctx, start)
	if err != nil {
		return err
	}
	defer stop() // the consumer goes with the follower
	// Next waits for ctx too, but while the consumer is being recreated
	// only Stop ends the wait.
	defer context.AfterFunc(ctx, msgs.Stop)()
	// A consumer being recreated can wait for ever: seen when the NATS
	// server it was on was killed, the world's owner writing on while
	// this follower delivered nothing (and held its clients' answers).
	// So after followIdle without a message a watchdog reads the world's
	// head; past what was delivered, it stops the consumer, Follow
	// returns an error, and the follower follows again from where it is.
	var delivered atomic.Uint64
	var stalled atomic.Bool
	delivered.Store(after)
	watch := make(chan struct{})
	defer close(watch)
	go func() {
		tick := time.NewTicker(followIdle)
		defer tick.Stop()
		last := delivered.Load()
		for {
			select {
			case <-watch:
				return
			case <-tick.C:
			}
			if now := delivered.Load(); now != last {
				last = now
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, followIdle)
			_, head, err := l.readHead(hctx)
			cancel()
			if err == nil && head > last {
				stalled.Store(true)
				msgs.Stop()
				return
			}
		}
	}()
	seen, any := after, false // the newest revision given to fn, and whether one was
	for {
		m, err := msgs.Next(natsjs.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if stalled.Load() {
				return fmt.Errorf("world %s: its consumer delivered nothing past revision %d for %s while the log went on: following it again", l.world, seen, followIdle)
			}
			return fmt.Errorf("world %s: follow it after revision %d: %w", l.world, seen, err)
		}
		if m.Headers().Get(headerFirst) == "" {
			continue // an ownership marker
		}
		err = decodeRecords(m.Data(), func(r worldlog.Record) error {
			if r.Revision <= seen {
				return nil
			}
			if any && r.Revision != seen+1 {
				return fmt.Errorf("world %s: its log jumps from revision %d to %d", l.world, seen, r.Revision)
			}
			seen, any = r.Revision, true
			delivered.Store(seen)
			return fn(r)
		})
		if err != nil {
			return err
		}
	}
}

// lastRevision is the revision a world's message ends at: its batch's
// last, or, for a marker, the head when it was written.
func lastRevision(m *natsjs.RawStreamMsg) (uint64, error) {
	rev, err := strconv.ParseUint(m.Header.Get(headerLast), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("message %d has no revision: %w", m.Sequence, err)
	}
	return rev, nil
}

// seek returns a stream sequence to read the world from so as to see
// every record after after and few before it: the first of the world's
// messages that holds one (found by a binary search over the stream's
// sequences, since a world's messages end at revisions that never go
// down), or, when none does yet, the one after the world's newest.
func (l *Log) seek(ctx context.Context, after uint64) (uint64, error) {
	last, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
	switch {
	case errors.Is(err, natsjs.ErrMsgNotFound):
		return 1, nil
	case err != nil:
		return 0, fmt.Errorf("world %s: read its head: %w", l.world, err)
	}
	rev, err := lastRevision(last)
	if err != nil {
		return 0, fmt.Errorf("world %s: %w", l.world, err)
	}
	if rev <= after {
		return last.Sequence + 1, nil
	}
	// The smallest sequence whose message (the world's first at or after
	// it) ends after after: at most last's.
	lo, hi := uint64(1), last.Sequence
	for lo < hi && after > 0 {
		mid := lo + (hi-lo)/2
		m, err := l.stream.GetMsg(ctx, mid, natsjs.WithGetMsgSubject(l.subject))
		if err != nil {
			return 0, fmt.Errorf("world %s: read the message after sequence %d: %w", l.world, mid, err)
		}
		rev, err := lastRevision(m)
		if err != nil {
			return 0, fmt.Errorf("world %s: %w", l.world, err)
		}
		if rev > after {
			hi = mid
		} else {
			lo = m.Sequence + 1
		}
	}
	return lo, nil
}
