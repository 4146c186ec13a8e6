// Package jetstream keeps worlds' logs in NATS JetStream: the backend for
// several txxt processes sharing their worlds (see SCALEOUT in the design
// notes and docs/ARCHITECTURE.md, "The backend seam"). It implements
// worldlog.Log and passes the same behaviour suite as the save file; its
// Tables (tables.go) keep the server's small tables in key-value buckets,
// a tables.Tables passing the tables' suite.
//
// Layout:
//
//	streams    WORLDS_<k>, k = FNV-32a(world) mod Shards, subjects
//	           worlds.<k>.*, file storage; the server must run with
//	           sync_interval always, so an acknowledgement means fsynced
//	subject    worlds.<k>.<world>: one message per engine batch
//	message    records, each: revision u64 · time i64 · actor 16 ·
//	           client 16 · request u32 · frame length u32 · frame
//	           (little-endian); headers Txxt-First and Txxt-Last (the
//	           batch's revisions), Nats-Msg-Id <world>:<first>:<crc32c>
//	marker     a message without records, header Txxt-Owner (the writer
//	           that took the world) and Txxt-Last (the head then)
//	snapshots  object store bucket WORLD_SNAPSHOTS, object
//	           <world>/<revision, 20 digits>; the two newest are kept,
//	           and every one the kept records continue (the past)
//
// The fence is the world's head: every append carries
// Nats-Expected-Last-Subject-Sequence, the stream sequence of the world's
// newest message as this writer knows it. Opening a writer appends a
// marker fenced on the head, so an older writer's next append is refused
// (err_code 10071, or 10164 on a replicated stream) and nothing of it is
// stored. Every unclear outcome (a refusal, a timeout) is resolved by
// reading the world's newest message: when it carries this append's
// message id, the append is committed (its acknowledgement was lost);
// otherwise another writer owns the world (worldlog.ErrFenced), or, after a
// timeout with the head unchanged, nothing was written.
package jetstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/worldlog"
)

// SnapshotBucket is the object store bucket of every world's snapshots.
const SnapshotBucket = "WORLD_SNAPSHOTS"

const (
	headerFirst = "Txxt-First"
	headerLast  = "Txxt-Last"
	headerOwner = "Txxt-Owner"
)

// record: revision 8 · time 8 · actor 16 · client 16 · request 4 · frame length 4
const recordHeader = 8 + 8 + 16 + 16 + 4 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune Setup and Open. The zero value is one shard, one replica.
type Options struct {
	Shards   int // streams the worlds are spread over (default 1); fixed once worlds are stored
	Replicas int // of each stream and of the snapshot bucket (default 1)
}

func (o *Options) fill() {
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
}

// Setup creates (or updates) the shard streams and the snapshot bucket.
func Setup(ctx context.Context, js natsjs.JetStream, opts Options) error {
	opts.fill()
	for k := range opts.Shards {
		_, err := js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
			Name:     streamName(k),
			Subjects: []string{fmt.Sprintf("worlds.%d.*", k)},
			Storage:  natsjs.FileStorage,
			Replicas: opts.Replicas,
			// No direct gets: on a replicated stream any replica answers
			// one, and a replica behind the leader shows an older head,
			// which the fence checks (Head, a snapshot's or a compaction's
			// stillOwner, an unclear append's resolution) would take for
			// another writer's or miss their own. Reads go to the leader.
			AllowDirect: false,
		})
		if err != nil {
			return fmt.Errorf("set up stream %s: %w", streamName(k), err)
		}
	}
	_, err := js.CreateOrUpdateObjectStore(ctx, natsjs.ObjectStoreConfig{Bucket: SnapshotBucket, Storage: natsjs.FileStorage, Replicas: opts.Replicas})
	if err != nil {
		return fmt.Errorf("set up bucket %s: %w", SnapshotBucket, err)
	}
	return nil
}

func streamName(k int) string { return "WORLDS_" + strconv.Itoa(k) }

// Log is one writer's handle on a world's log. Its writes are serialised
// by mu (the engine appends one batch at a time; snapshots come from
// another goroutine).
type Log struct {
	world   string
	subject string
	owner   string
	js      natsjs.JetStream
	stream  natsjs.Stream
	snaps   natsjs.ObjectStore

	reader bool // opened by OpenReader: it never writes

	mu      sync.Mutex
	lastSeq uint64 // stream sequence of the world's newest message, as this writer last wrote or saw it
	head    uint64 // revision the next append follows
}

// Open takes world over as its writer: it reads the head and appends an
// ownership marker fenced on it, so that every earlier writer's next
// append is refused. owner names this writer in the marker (a node's
// name, for the operator). world must be a NATS subject token: letters,
// digits, '-' and '_'.
func Open(ctx context.Context, js natsjs.JetStream, world, owner string, opts Options) (*Log, error) {
	l, err := locate(ctx, js, world, opts)
	if err != nil {
		return nil, err
	}
	l.owner = owner
	seq, head, err := l.readHead(ctx)
	if err != nil {
		return nil, err
	}
	marker := nats.NewMsg(l.subject)
	marker.Header.Set(headerOwner, owner)
	marker.Header.Set(headerLast, strconv.FormatUint(head, 10))
	ack, err := js.PublishMsg(ctx, marker, natsjs.WithExpectLastSequencePerSubject(seq))
	if err != nil {
		return nil, fmt.Errorf("world %s: take it over at revision %d: %w", world, head, err)
	}
	l.lastSeq, l.head = ack.Sequence, head
	return l, nil
}

// locate returns a handle on world's log that has not written: its
// stream and its snapshot bucket.
func locate(ctx context.Context, js natsjs.JetStream, world string, opts Options) (*Log, error) {
	opts.fill()
	if world == "" || strings.ContainsFunc(world, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return nil, fmt.Errorf("world name %q: only letters, digits, '-' and '_' make a subject", world)
	}
	h := fnv.New32a()
	h.Write([]byte(world))
	k := int(h.Sum32() % uint32(opts.Shards))
	stream, err := js.Stream(ctx, streamName(k))
	if err != nil {
		return nil, fmt.Errorf("world %s: stream %s: %w", world, streamName(k), err)
	}
	snaps, err := js.ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		return nil, fmt.Errorf("world %s: bucket %s: %w", world, SnapshotBucket, err)
	}
	return &Log{world: world, subject: fmt.Sprintf("worlds.%d.%s", k, world), js: js, stream: stream, snaps: snaps}, nil
}

// readHead returns the stream sequence of the world's newest message (0:
// none) and the revision the log ends at: that message's Txxt-Last, or the
// newest snapshot's when the world has no message.
func (l *Log) readHead(ctx context.Context) (seq, head uint64, err error) {
	m, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
	switch {
	case errors.Is(err, natsjs.ErrMsgNotFound):
		head, _, err = l.latestSnapshot(ctx, false)
		return 0, head, err
	case err != nil:
		return 0, 0, fmt.Errorf("world %s: read its head: %w", l.world, err)
	}
	head, err = strconv.ParseUint(m.Header.Get(headerLast), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("world %s: message %d has no revision: %w", l.world, m.Sequence, err)
	}
	return m.Sequence, head, nil
}

// Append implements worldlog.Log: one message for the batch, fenced on the
// world's newest message.
func (l *Log) Append(ctx context.Context, recs []worldlog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.reader {
		return l.readOnly()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range recs {
		if recs[i].Revision != l.head+1+uint64(i) {
			return fmt.Errorf("append revision %d after %d: %w", recs[i].Revision, l.head+uint64(i), worldlog.ErrGap)
		}
	}
	first, last := recs[0].Revision, recs[len(recs)-1].Revision
	msg := nats.NewMsg(l.subject)
	msg.Data = encodeRecords(recs)
	msg.Header.Set(headerFirst, strconv.FormatUint(first, 10))
	msg.Header.Set(headerLast, strconv.FormatUint(last, 10))
	// The checksum tells this batch from another that begins at the same
	// revision (one that failed and was refused, then retried with other
	// commands): only a retry of these very bytes is a duplicate.
	id := fmt.Sprintf("%s:%d:%08x", l.world, first, crc32.Checksum(msg.Data, castagnoli))
	for try := 1; ; try++ {
		ack, err := l.js.PublishMsg(ctx, msg, natsjs.WithMsgID(id), natsjs.WithExpectLastSequencePerSubject(l.lastSeq))
		if err == nil {
			l.lastSeq, l.head = ack.Sequence, last
			return nil
		}
		m, rerr := l.stream.GetLastMsgForSubject(ctx, l.subject)
		// A replicated stream can refuse a fenced write with 10164 while
		// the world's previous write is still being applied, though it
		// was acknowledged (seen at 64 worlds on R3: the engine refused a
		// correct writer's command and went degraded). The head unchanged
		// says nobody else wrote: the same bytes, fenced on the same
		// sequence and deduplicated by their id, are tried again.
		var apiErr *natsjs.APIError
		if rerr == nil && m.Sequence == l.lastSeq && m.Header.Get(nats.MsgIdHdr) != id && try < appendTries &&
			errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(try) * time.Millisecond):
				continue
			}
		}
		return l.unclear(id, first, last, err, m, rerr)
	}
}

// appendTries bounds the tries of an append refused while the world's
// previous write was still being applied.
const appendTries = 8

// unclear resolves an append that failed or was refused: the world's
// newest message (m, or the error reading it) says which. l.mu is held.
func (l *Log) unclear(id string, first, last uint64, err error, m *natsjs.RawStreamMsg, rerr error) error {
	switch {
	case rerr == nil && m.Header.Get(nats.MsgIdHdr) == id:
		l.lastSeq, l.head = m.Sequence, last // committed; its acknowledgement was lost
		return nil
	case rerr == nil && m.Sequence != l.lastSeq:
		return fmt.Errorf("world %s: append revisions %d to %d: message %d is another writer's (%v): %w", l.world, first, last, m.Sequence, err, worldlog.ErrFenced)
	case rerr != nil && !errors.Is(rerr, natsjs.ErrMsgNotFound):
		return fmt.Errorf("world %s: append revisions %d to %d: %w (and its head cannot be read: %v): %w", l.world, first, last, err, rerr, worldlog.ErrOutcomeUnknown)
	case !refused(err):
		// No answer (a timeout): the message may still be stored after
		// the head was read. The engine reads the head again before its
		// next write, which is fenced on this one's sequence either way.
		return fmt.Errorf("world %s: append revisions %d to %d: %w: %w", l.world, first, last, err, worldlog.ErrOutcomeUnknown)
	}
	return fmt.Errorf("world %s: append revisions %d to %d: %w", l.world, first, last, err)
}

// refused reports whether a publish's error says the stream did not store
// it: an API error (a fence, a limit), or nobody to store it.
func refused(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse)
}

func encodeRecords(recs []worldlog.Record) []byte {
	n := 0
	for i := range recs {
		n += recordHeader + len(recs[i].Frame)
	}
	b := make([]byte, 0, n)
	for i := range recs {
		r := &recs[i]
		b = binary.LittleEndian.AppendUint64(b, r.Revision)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.Time))
		b = append(b, r.Actor[:]...)
		b = append(b, r.Client[:]...)
		b = binary.LittleEndian.AppendUint32(b, r.Request)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Frame)))
		b = append(b, r.Frame...)
	}
	return b
}

// decodeRecords calls fn for each record of a message's data.
func decodeRecords(b []byte, fn func(worldlog.Record) error) error {
	for len(b) > 0 {
		if len(b) < recordHeader {
			return errors.New("a record cut short")
		}
		r := worldlog.Record{Revision: binary.LittleEndian.Uint64(b), Time: int64(binary.LittleEndian.Uint64(b[8:])), Request: binary.LittleEndian.Uint32(b[48:])}
		copy(r.Actor[:], b[16:32])
		copy(r.Client[:], b[32:48])
		n := int(binary.LittleEndian.Uint32(b[52:]))
		if len(b) < recordHeader+n {
			return errors.New("a record's frame cut short")
		}
		r.Frame = b[recordHeader : recordHeader+n : recordHeader+n]
		b = b[recordHeader+n:]
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Head implements worldlog.Log. It reads the stream, not this writer's
// memory: after a failed append, it is how the engine learns the truth.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	_, head, err := l.readHead(ctx)
	return head, err
}

// messages calls fn for each of the world's messages with a sequence from
// from on, in order, until fn returns false or an error.
func (l *Log) messages(ctx context.Context, from uint64, fn func(*natsjs.RawStreamMsg) (bool, error)) error {
	last, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("world %s: read its head: %w", l.world, err)
	}
	seq := max(from, 1)
	if last.Sequence-min(seq, last.Sequence) >= streamFrom {
		var more bool
		seq, more, err = l.stream1(ctx, seq, last.Sequence, fn)
		if err != nil || !more {
			return err
		}
	}
	for seq <= last.Sequence {
		m, err := l.stream.GetMsg(ctx, seq, natsjs.WithGetMsgSubject(l.subject))
		if err != nil {
			return fmt.Errorf("world %s: read the message after sequence %d: %w", l.world, seq, err)
		}
		more, err := fn(m)
		if err != nil || !more {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// streamFrom is how many messages a read must span to go through a
// consumer rather than a request a message: a replay of thousands of
// batches, a request each, ran at about 3,000 a second, and a failover's
// time grew with the world's log since its snapshot (3 s at the first of
// 100 kills, 8.5 s at the 57th, on a lease TTL of 3 s).
const streamFrom = 64

// replayStall is how long a consumer read waits for its next message
// before the rest is read a request a message.
const replayStall = 2 * time.Second

// stream1 gives fn the world's messages from sequence from to last through
// an ordered consumer, which the server streams in batches. It returns the
// sequence to read on from: past last when it got there; where it stopped
// when the consumer did (its server gone, or silent for replayStall), for
// the caller to read the rest a request a message; more is false when fn
// said to stop or failed.
func (l *Log) stream1(ctx context.Context, from, last uint64, fn func(*natsjs.RawStreamMsg) (bool, error)) (next uint64, more bool, err error) {
	next = from
	msgs, stop, err := l.consume(ctx, from)
	if err != nil {
		return next, true, nil
	}
	defer stop()
	for next <= last {
		nctx, cancel := context.WithTimeout(ctx, replayStall)
		m, err := msgs.Next(natsjs.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return next, false, ctx.Err()
			}
			return next, true, nil
		}
		meta, err := m.Metadata()
		if err != nil {
			return next, true, nil
		}
		raw := &natsjs.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: meta.Timestamp}
		if raw.Sequence < next {
			continue
		}
		more, err := fn(raw)
		if err != nil || !more {
			return next, false, err
		}
		next = raw.Sequence + 1
	}
	return next, true, nil
}

// consume opens an ordered consumer on the world's subject from sequence
// start; stop ends it and deletes it from the server (it would go by
// itself after followInactive).
func (l *Log) consume(ctx context.Context, start uint64) (natsjs.MessagesContext, func(), error) {
	cons, err := l.js.OrderedConsumer(ctx, l.stream.CachedInfo().Config.Name, natsjs.OrderedConsumerConfig{
		FilterSubjects:    []string{l.subject},
		DeliverPolicy:     natsjs.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: followInactive,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("world %s: follow it from sequence %d: %w", l.world, start, err)
	}
	msgs, err := cons.Messages(natsjs.PullMaxBytes(followBuffer))
	if err != nil {
		return nil, nil, fmt.Errorf("world %s: follow it from sequence %d: %w", l.world, start, err)
	}
	return msgs, func() {
		msgs.Stop()
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			l.js.DeleteConsumer(dctx, info.Stream, info.Name)
			cancel()
		}
	}, nil
}

// Records implements worldlog.Log.
func (l *Log) Records(ctx context.Context, after uint64, fn func(worldlog.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	from, err := l.seek(ctx, after)
	if err != nil {
		return err
	}
	want := uint64(0)
	return l.messages(ctx, from, func(m *natsjs.RawStreamMsg) (bool, error) {
		if m.Header.Get(headerFirst) == "" {
			return true, nil // an ownership marker
		}
		last, _ := strconv.ParseUint(m.Header.Get(headerLast), 10, 64)
		if last <= after {
			return true, nil
		}
		err := decodeRecords(m.Data, func(r worldlog.Record) error {
			if r.Revision <= after {
				return nil
			}
			if want != 0 && r.Revision != want {
				return fmt.Errorf("world %s: the log jumps from revision %d to %d", l.world, want-1, r.Revision)
			}
			want = r.Revision + 1
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(r)
		})
		return true, err
	})
}

func snapshotName(world string, rev uint64) string { return fmt.Sprintf("%s/%020d", world, rev) }

// snapshotRevisions lists the world's snapshots, oldest first.
func (l *Log) snapshotRevisions(ctx context.Context) ([]uint64, error) {
	infos, err := l.snaps.List(ctx)
	if errors.Is(err, natsjs.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("world %s: list its snapshots: %w", l.world, err)
	}
	var revs []uint64
	for _, info := range infos {
		if rest, ok := strings.CutPrefix(info.Name, l.world+"/"); ok && !info.Deleted {
			if rev, err := strconv.ParseUint(rest, 10, 64); err == nil {
				revs = append(revs, rev)
			}
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	return revs, nil
}

func (l *Log) latestSnapshot(ctx context.Context, withFrame bool) (uint64, []byte, error) {
	revs, err := l.snapshotRevisions(ctx)
	if err != nil || len(revs) == 0 {
		return 0, nil, err
	}
	rev := revs[len(revs)-1]
	if !withFrame {
		return rev, nil, nil
	}
	frame, err := l.snaps.GetBytes(ctx, snapshotName(l.world, rev))
	if err != nil {
		return 0, nil, fmt.Errorf("world %s: read its snapshot at %d: %w", l.world, rev, err)
	}
	return rev, frame, nil
}

// LatestSnapshot implements worldlog.Log.
func (l *Log) LatestSnapshot(ctx context.Context) (uint64, []byte, error) {
	return l.latestSnapshot(ctx, true)
}

// stillOwner returns ErrFenced when another writer has written to the
// world since this one last did. Snapshots and compaction are not fenced
// by the stream itself, so they check first (a writer deposed between the
// check and the write can still store a snapshot; it is the world at a
// revision the log holds, so it is correct, only not this writer's to
// make).
func (l *Log) stillOwner(ctx context.Context) error {
	if l.reader {
		return l.readOnly()
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, l.subject)
	switch {
	case errors.Is(err, natsjs.ErrMsgNotFound):
		return fmt.Errorf("world %s: its log is gone: %w", l.world, worldlog.ErrFenced)
	case err != nil:
		return fmt.Errorf("world %s: read its head: %w", l.world, err)
	case m.Sequence != l.lastSeq:
		return fmt.Errorf("world %s: message %d is another writer's: %w", l.world, m.Sequence, worldlog.ErrFenced)
	}
	return nil
}

// SaveSnapshot implements worldlog.Log; it keeps the world's two newest
// and every one the kept records continue (see history.go).
func (l *Log) SaveSnapshot(ctx context.Context, rev uint64, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stillOwner(ctx); err != nil {
		return err
	}
	if _, err := l.snaps.PutBytes(ctx, snapshotName(l.world, rev), bytes.Clone(frame)); err != nil {
		return fmt.Errorf("world %s: save snapshot at %d: %w", l.world, rev, err)
	}
	return l.pruneSnapshots(ctx)
}

// Compact implements worldlog.Log: it purges the world's messages whose
// records all end at or before the limit, the newest snapshot kept at or
// before keepAfter (and before the newest record), so that the records
// kept continue a snapshot kept and the past they hold can be rebuilt; a
// batch is kept whole. Then the snapshots no longer continued go, but for
// the two newest.
func (l *Log) Compact(ctx context.Context, keepAfter uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stillOwner(ctx); err != nil {
		return err
	}
	revs, err := l.snapshotRevisions(ctx)
	if err != nil {
		return err
	}
	limit, cut := uint64(0), min(keepAfter, l.head-min(l.head, 1))
	for _, rev := range revs {
		if rev <= cut {
			limit = rev
		}
	}
	if limit == 0 {
		return nil // no snapshot to cut back to: every record is needed
	}
	var keepFrom uint64 // the first message to keep
	err = l.messages(ctx, 1, func(m *natsjs.RawStreamMsg) (bool, error) {
		last, _ := strconv.ParseUint(m.Header.Get(headerLast), 10, 64)
		if last > limit || m.Sequence == l.lastSeq {
			keepFrom = m.Sequence
			return false, nil
		}
		return true, nil
	})
	if err != nil || keepFrom == 0 {
		return err
	}
	if err := l.stream.Purge(ctx, natsjs.WithPurgeSubject(l.subject), natsjs.WithPurgeSequence(keepFrom)); err != nil {
		return fmt.Errorf("world %s: compact to revision %d: %w", l.world, limit, err)
	}
	return l.pruneSnapshots(ctx)
}
