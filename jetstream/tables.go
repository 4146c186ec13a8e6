package jetstream

// Tables keeps one scope's tables (the deployment's accounts, or one
// team's) in a JetStream key-value bucket: a tables.Tables that every node
// of a deployment shares, passing the same suite as the save file.
//
// Layout:
//
//	bucket     one per scope, named by the caller (stream KV_<bucket>),
//	           history 1, file storage, atomic batch publish allowed; the
//	           NATS server must run with sync_interval always, so that an
//	           acknowledged write is fsynced
//	key        <table>.<key escaped>: the bytes A-Z a-z 0-9 - _ / as they
//	           are, every other byte as '=' and two upper-case hex digits,
//	           so a key of any bytes is one subject token, and a table is
//	           the subject filter <table>.>
//	value      the message's data; a deleted key is a message with the
//	           header KV-Operation: DEL, as the KV API writes it
//
// Compare-and-set is the stream's per-subject fence: a write carries
// Nats-Expected-Last-Subject-Sequence, the sequence of the key's newest
// message when the update read it (0: none ever), and the stream refuses
// it (err_code 10071, or 10164 on a replicated stream) when another
// message came since: ErrConflict, nothing written. An update of several
// keys is one atomic batch (Nats-Batch-Id): every message's check passes
// and all are stored, or none is. A key the update read but does not
// change is written back as it was, fenced the same way, so that its
// check is part of the batch too. Reads go to the stream's leader (a
// plain message get, not a direct get, which a replica may answer before
// it has the newest write), so a node reads what another node's
// acknowledged write stored.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/tables"
)

const (
	headerKVOp     = "KV-Operation" // the KV API's: DEL or PURGE
	headerUpdate   = "Txxt-Update"  // which update wrote the message: resolves a lost acknowledgement
	headerExpected = "Nats-Expected-Last-Subject-Sequence"
	headerBatch    = "Nats-Batch-Id"
	headerBatchSeq = "Nats-Batch-Sequence"
	headerCommit   = "Nats-Batch-Commit"
)

// TablesOptions tune OpenTables. The zero value is one replica and a 5 s
// bound on each call.
type TablesOptions struct {
	Replicas int           // of the bucket (default 1)
	Timeout  time.Duration // each call's bound when its context has no deadline (default 5 s)
}

// Tables is one scope's tables in a key-value bucket. It is safe for
// concurrent use, and any number of processes may open the same bucket.
type Tables struct {
	bucket  string
	stream  string // KV_<bucket>
	prefix  string // $KV.<bucket>.
	js      natsjs.JetStream
	kv      natsjs.KeyValue
	timeout time.Duration
}

var _ tables.Tables = (*Tables)(nil)

// OpenTables opens the tables in bucket, creating the bucket when there is
// none. bucket is letters, digits, '-' and '_'.
func OpenTables(ctx context.Context, js natsjs.JetStream, bucket string, opts TablesOptions) (*Tables, error) {
	if bucket == "" || strings.ContainsFunc(bucket, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return nil, fmt.Errorf("bucket name %q: only letters, digits, '-' and '_' name a bucket", bucket)
	}
	opts.Replicas = max(opts.Replicas, 1)
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	t := &Tables{bucket: bucket, stream: "KV_" + bucket, prefix: "$KV." + bucket + ".", js: js, timeout: opts.Timeout}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	// A young cluster answers nodes that start together unevenly: the
	// bucket another node just made, whose stream has no leader yet, is
	// "not found" for a moment. So the open is tried again, with backoff,
	// until it works or its bound ends.
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := t.open(ctx, opts)
		if err == nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// open binds the bucket, making it when there is none.
func (t *Tables) open(ctx context.Context, opts TablesOptions) error {
	js, bucket := t.js, t.bucket
	// Bind first: creating (or updating) a bucket that exists would write
	// its stream's configuration back without the atomic batches another
	// node switched on.
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, natsjs.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket: bucket, Description: "txxt tables", History: 1, Storage: natsjs.FileStorage, Replicas: opts.Replicas,
		})
		if errors.Is(err, natsjs.ErrBucketExists) { // another node made it meanwhile
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return fmt.Errorf("tables %s: open the bucket: %w", bucket, err)
	}
	t.kv = kv
	stream, err := js.Stream(ctx, t.stream)
	if err != nil {
		return fmt.Errorf("tables %s: stream %s: %w", bucket, t.stream, err)
	}
	if cfg := stream.CachedInfo().Config; !cfg.AllowAtomicPublish {
		cfg.AllowAtomicPublish = true
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("tables %s: allow atomic updates on %s: %w", bucket, t.stream, err)
		}
	}
	return nil
}

// bound gives ctx the tables' timeout when it has no deadline of its own.
func (t *Tables) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, t.timeout)
}

// escape makes key one subject token (see the layout).
func escape(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

// unescape is escape's inverse.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("key %q: '=' without two hex digits", s)
		}
		c, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("key %q: %w", s, err)
		}
		b.WriteByte(c[0])
		i += 2
	}
	return b.String(), nil
}

func check(table, key string) error {
	if err := tables.CheckTable(table); err != nil {
		return err
	}
	return tables.CheckKey(key)
}

func (t *Tables) subject(table, key string) string { return t.prefix + table + "." + escape(key) }

// Get implements tables.Tables.
func (t *Tables) Get(ctx context.Context, table, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := check(table, key); err != nil {
		return nil, err
	}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	r, err := t.read(ctx, table, key)
	return r.Value, err
}

// read returns what the bucket holds at table/key, with the sequence of
// the key's newest message (0: none ever) as its revision.
func (t *Tables) read(ctx context.Context, table, key string) (tables.Read, error) {
	m, err := t.last(ctx, t.subject(table, key))
	if err != nil || m == nil {
		return tables.Read{}, err
	}
	r := tables.Read{Revision: m.seq}
	if op := m.header.Get(headerKVOp); op == "DEL" || op == "PURGE" {
		return r, nil
	}
	r.Present, r.Value = true, m.data
	if r.Value == nil {
		r.Value = []byte{}
	}
	return r, nil
}

type storedMsg struct {
	seq    uint64
	header nats.Header
	data   []byte
}

// last asks the stream's leader for the newest message on subject (nil
// when there is none).
func (t *Tables) last(ctx context.Context, subject string) (*storedMsg, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	resp, err := t.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+t.stream, req)
	if err != nil {
		return nil, fmt.Errorf("tables %s: read %s: %w", t.bucket, subject, err)
	}
	var out struct {
		Error *natsjs.APIError `json:"error"`
		Msg   *struct {
			Seq    uint64 `json:"seq"`
			Header []byte `json:"hdrs"`
			Data   []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return nil, fmt.Errorf("tables %s: read %s: %w", t.bucket, subject, err)
	}
	if out.Error != nil {
		if out.Error.ErrorCode == natsjs.JSErrCodeMessageNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("tables %s: read %s: %w", t.bucket, subject, out.Error)
	}
	if out.Msg == nil {
		return nil, fmt.Errorf("tables %s: read %s: an answer without a message", t.bucket, subject)
	}
	m := &storedMsg{seq: out.Msg.Seq, data: out.Msg.Data}
	if len(out.Msg.Header) > 0 {
		if m.header, err = nats.DecodeHeadersMsg(out.Msg.Header); err != nil {
			return nil, fmt.Errorf("tables %s: read %s: %w", t.bucket, subject, err)
		}
	}
	return m, nil
}

// Range implements tables.Tables: one ordered consumer over the table's
// newest values (the KV watcher), sorted here by key. It reads the whole
// table whatever the page: right for the small tables the server keeps.
func (t *Tables) Range(ctx context.Context, table, prefix, after string, fn func(key string, val []byte) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tables.CheckTable(table); err != nil {
		return err
	}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	w, err := t.kv.WatchFiltered(ctx, []string{table + ".>"}, natsjs.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("tables %s: range %s: %w", t.bucket, table, err)
	}
	defer w.Stop()
	type entry struct {
		key string
		val []byte
	}
	var page []entry
	start := prefix + after
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("tables %s: range %s: %w", t.bucket, table, ctx.Err())
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return fmt.Errorf("tables %s: range %s: the watcher ended early", t.bucket, table)
			case e == nil: // every key's newest value has come
				done = true
			default:
				k, err := unescape(strings.TrimPrefix(e.Key(), table+"."))
				if err != nil {
					return fmt.Errorf("tables %s: range %s: %w", t.bucket, table, err)
				}
				if strings.HasPrefix(k, prefix) && (k > start || after == "" && k == start) {
					v := e.Value()
					if v == nil {
						v = []byte{}
					}
					page = append(page, entry{k, v})
				}
			}
		}
	}
	sort.Slice(page, func(i, j int) bool { return page[i].key < page[j].key })
	for _, e := range page {
		if !fn(e.key, e.val) {
			return nil
		}
	}
	return nil
}

// Put implements tables.Tables.
func (t *Tables) Put(ctx context.Context, table, key string, val []byte) error {
	return t.Update(ctx, func(tx tables.Tx) error { return tx.Put(table, key, val) })
}

// Delete implements tables.Tables.
func (t *Tables) Delete(ctx context.Context, table, key string) error {
	return t.Update(ctx, func(tx tables.Tx) error { return tx.Delete(table, key) })
}

// Update implements tables.Tables: fn's writes, and a write-back of each
// key it only read, go out as one message (or one atomic batch), each
// fenced on the key's sequence as fn read it.
func (t *Tables) Update(ctx context.Context, fn func(tables.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := t.bound(ctx)
	defer cancel()
	x := tables.NewTxn(func(table, key string) (tables.Read, error) { return t.read(ctx, table, key) })
	if err := fn(x); err != nil {
		return err
	}
	if len(x.Writes) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var id [12]byte
	rand.Read(id[:])
	update := hex.EncodeToString(id[:])
	read := map[string]tables.Read{}
	for _, r := range x.Reads {
		read[r.Table+"."+r.Key] = r
	}
	var msgs []*nats.Msg
	add := func(table, key string, del bool, val []byte) {
		m := nats.NewMsg(t.subject(table, key))
		m.Header.Set(headerUpdate, update)
		if del {
			m.Header.Set(headerKVOp, "DEL")
		} else {
			m.Data = val
		}
		if r, ok := read[table+"."+key]; ok {
			m.Header.Set(headerExpected, strconv.FormatUint(r.Revision, 10))
		}
		msgs = append(msgs, m)
	}
	for _, w := range x.Writes {
		add(w.Table, w.Key, w.Delete, w.Value)
	}
	for _, r := range x.Reads {
		if !x.Written(r.Table, r.Key) {
			add(r.Table, r.Key, !r.Present, r.Value)
		}
	}
	err := t.publish(ctx, msgs, update)
	var apiErr *natsjs.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant):
		return fmt.Errorf("tables %s: %w (%w)", t.bucket, tables.ErrConflict, err)
	case apiErr == nil:
		// No answer (a timeout, a lost connection): the update may have
		// landed. All or none did, so its first message tells.
		rctx, rcancel := context.WithTimeout(context.Background(), t.timeout)
		defer rcancel()
		if m, rerr := t.last(rctx, msgs[0].Subject); rerr == nil && m != nil && m.header.Get(headerUpdate) == update {
			return nil
		}
	}
	return fmt.Errorf("tables %s: update: %w", t.bucket, err)
}

// publish sends msgs as one message, or as one atomic batch: every message
// but the last without waiting, the last with the commit, whose answer
// says for the whole batch.
func (t *Tables) publish(ctx context.Context, msgs []*nats.Msg, update string) error {
	if len(msgs) == 1 {
		_, err := t.js.PublishMsg(ctx, msgs[0])
		return err
	}
	nc := t.js.Conn()
	for i, m := range msgs {
		m.Header.Set(headerBatch, update)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set(headerCommit, "1")
		_, err := t.js.PublishMsg(ctx, m)
		return err
	}
	return nil
}
