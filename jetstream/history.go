package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/worldlog"
)

// A world's stream keeps the past as the save file does, so that every
// node (the owner and each follower) answers a team's history, activity
// and past view from the stream: engine.History reads a Log through
// engine.HistoryLog. Two rules keep every revision the stream holds
// rebuildable:
//
//   - Compact cuts the log back only to a snapshot it keeps (the newest at
//     or before the limit), a batch's message kept whole;
//   - the snapshots kept are the two newest and every one the kept
//     records continue (at or after the revision before the first record
//     kept), so at most KeepLog/SnapshotEvery + 3 of them per world.

// errRangeEnd ends a read of a range of records at its end.
var errRangeEnd = errors.New("end of the range")

// HistoryWindow implements engine.HistoryLog. from is the oldest kept
// snapshot at or after the revision before the first record held (0 when
// the stream holds the world's first record): the records of a batch kept
// whole before it are not part of the window, since nothing rebuilds the
// world at them.
func (l *Log) HistoryWindow(ctx context.Context) (from, last uint64, err error) {
	_, head, err := l.readHead(ctx)
	if err != nil {
		return 0, 0, err
	}
	first, err := l.firstRecord(ctx)
	switch {
	case err != nil:
		return 0, 0, err
	case first == 0 || first > head:
		return head, head, nil
	case first == 1:
		return 0, head, nil
	}
	revs, err := l.snapshotRevisions(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, rev := range revs {
		if rev >= first-1 {
			return min(rev, head), head, nil
		}
	}
	return first - 1, head, nil // no snapshot continued: the past before the records is gone
}

// firstRecord returns the revision of the oldest record the world's
// stream holds (0: none).
func (l *Log) firstRecord(ctx context.Context) (uint64, error) {
	first := uint64(0)
	err := l.messages(ctx, 1, func(m *natsjs.RawStreamMsg) (bool, error) {
		v := m.Header.Get(headerFirst)
		if v == "" {
			return true, nil // an ownership marker
		}
		rev, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return false, fmt.Errorf("world %s: message %d has no first revision: %w", l.world, m.Sequence, err)
		}
		first = rev
		return false, nil
	})
	return first, err
}

// RecordsBetween implements engine.HistoryLog.
func (l *Log) RecordsBetween(ctx context.Context, from, to uint64, fn func(worldlog.Record) error) error {
	if from > to {
		return nil
	}
	err := l.Records(ctx, from-min(from, 1), func(r worldlog.Record) error {
		if r.Revision > to {
			return errRangeEnd
		}
		return fn(r)
	})
	if errors.Is(err, errRangeEnd) {
		return nil
	}
	return err
}

// SnapshotAtOrBefore implements engine.HistoryLog.
func (l *Log) SnapshotAtOrBefore(ctx context.Context, rev uint64, fn func(at uint64, frame []byte) error) error {
	revs, err := l.snapshotRevisions(ctx)
	if err != nil {
		return err
	}
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i] > rev {
			continue
		}
		frame, err := l.snaps.GetBytes(ctx, snapshotName(l.world, revs[i]))
		if err != nil {
			return fmt.Errorf("world %s: read its snapshot at %d: %w", l.world, revs[i], err)
		}
		return fn(revs[i], frame)
	}
	return nil
}

// RevisionAt implements engine.HistoryLog: a binary search over the
// world's messages by the time of each batch's first record (the engine's
// clock rises with the revision), then the batch's last record made at or
// before at.
func (l *Log) RevisionAt(ctx context.Context, at int64) (uint64, bool, error) {
	last, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("world %s: read its head: %w", l.world, err)
	}
	first, t, err := l.batchFrom(ctx, 1)
	if err != nil || first == nil || t > at {
		return 0, false, err
	}
	lo, hi := first.Sequence, last.Sequence
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		m, t, err := l.batchFrom(ctx, mid)
		if err != nil {
			return 0, false, err
		}
		if m == nil || t > at {
			hi = mid - 1
		} else {
			lo = m.Sequence
		}
	}
	m, _, err := l.batchFrom(ctx, lo)
	if err != nil || m == nil {
		return 0, false, err
	}
	rev := uint64(0)
	err = decodeRecords(m.Data, func(r worldlog.Record) error {
		if r.Time <= at {
			rev = r.Revision
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("world %s: message %d: %w", l.world, m.Sequence, err)
	}
	return rev, rev != 0, nil
}

// batchFrom returns the world's first message holding records at or
// after stream sequence seq, and its first record's time (nil when there
// is none).
func (l *Log) batchFrom(ctx context.Context, seq uint64) (*natsjs.RawStreamMsg, int64, error) {
	for {
		m, err := l.stream.GetMsg(ctx, seq, natsjs.WithGetMsgSubject(l.subject))
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("world %s: read the message after sequence %d: %w", l.world, seq, err)
		}
		if m.Header.Get(headerFirst) == "" {
			seq = m.Sequence + 1 // an ownership marker
			continue
		}
		var t int64
		err = decodeRecords(m.Data, func(r worldlog.Record) error {
			t = r.Time
			return errRangeEnd
		})
		if err != nil && !errors.Is(err, errRangeEnd) {
			return nil, 0, fmt.Errorf("world %s: message %d: %w", l.world, m.Sequence, err)
		}
		return m, t, nil
	}
}

// pruneSnapshots deletes the world's snapshots older than the two newest
// that the kept records do not continue. l.mu held.
func (l *Log) pruneSnapshots(ctx context.Context) error {
	revs, err := l.snapshotRevisions(ctx)
	if err != nil || len(revs) <= 2 {
		return err
	}
	first, err := l.firstRecord(ctx)
	if err != nil {
		return err
	}
	for _, rev := range revs[:len(revs)-2] {
		if first != 0 && rev+1 >= first {
			break // continued, as are all after it
		}
		if err := l.snaps.Delete(ctx, snapshotName(l.world, rev)); err != nil {
			return fmt.Errorf("world %s: delete snapshot at %d: %w", l.world, rev, err)
		}
	}
	return nil
}

// Unwrap returns the log the guard writes to: the history reads it.
func (g *guardedLog) Unwrap() worldlog.Log { return g.Log }
