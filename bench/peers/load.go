package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A message is identified on the wire by (writer, slot): the writer's index
// and its send counter modulo slots. The load generator keeps each one's
// send time in stamps; a reader looks it up when the message arrives. Every
// variant carries the pair in a 31-byte message: txxt in the TaskMoved
// event of a MoveTask (date = slot+1, start = 5·writer), centrifuge and the
// hub in a 31-byte payload (payloadLen).
const slots = 60000

// payloadLen is the size of a message for centrifuge and the hub, the
// size of txxt's TaskMoved event.
const payloadLen = 31

// Payload layout (centrifuge, hub): 0 kind 0x04 · 1 writer u16 · 3 slot
// u16 · 5 send time u64 (unix ns, for a person reading a capture) · 13
// zero padding to 31.
func appendPayload(dst []byte, writer, slot int, sent time.Time) []byte {
	var p [payloadLen]byte
	p[0] = 0x04
	binary.LittleEndian.PutUint16(p[1:], uint16(writer))
	binary.LittleEndian.PutUint16(p[3:], uint16(slot))
	binary.LittleEndian.PutUint64(p[5:], uint64(sent.UnixNano()))
	return append(dst, p[:]...)
}

func parsePayload(p []byte) (writer, slot int, ok bool) {
	if len(p) != payloadLen || p[0] != 0x04 {
		return 0, 0, false
	}
	return int(binary.LittleEndian.Uint16(p[1:])), int(binary.LittleEndian.Uint16(p[3:])), true
}

// deliverFunc is called by a connection's reader for every measured
// message, with the time it was read off the socket.
type deliverFunc func(writer, slot int, at time.Time)

// server is one running peer, as the load generator drives it.
type server interface {
	process() *child
	// dialReader connects a client that only reads: it returns once the
	// client is ready to receive (txxt: Welcome and Snapshot read;
	// centrifuge: connected and subscribed; hub: upgraded).
	dialReader(ctx context.Context, deliver deliverFunc) (conn, error)
	// dialWriter connects a client that sends, and also receives
	// everything the others do.
	dialWriter(ctx context.Context, index int, deliver deliverFunc) (writerConn, error)
	// heap is the Go heap's live and unswept objects in bytes, as the
	// server reports it (runtime/metrics /memory/classes/heap/objects).
	heap(ctx context.Context) (int64, error)
	// collect makes the server run a GC, so that the memory read next
	// holds live objects only.
	collect(ctx context.Context) error
}

type conn interface{ close() }

type writerConn interface {
	conn
	send(ctx context.Context, slot int, at time.Time) error
	answered() (accepted, refused int64, firstRefusal string)
}

// variant is a server the comparison runs.
type variant struct {
	name  string
	start func(ctx context.Context, dir string) (server, error)
	close func() // removes what start left behind for the next runs (may be nil)
}

// cell is one load: readers connected, rate commands a second in total
// from writers.
type cell struct {
	Readers int `json:"readers"`
	Rate    int `json:"rate"`
}

func (c cell) String() string { return fmt.Sprintf("%d × %d", c.Readers, c.Rate) }

type loadConfig struct {
	writers  int
	duration time.Duration
	parallel int           // readers connecting at once
	settle   time.Duration // idle wait before reading memory
	drain    time.Duration // at most this long for the last messages
}

// result is one variant's run of one cell.
type result struct {
	Variant string `json:"variant"`
	Cell    cell   `json:"cell"`
	Round   int    `json:"round"`

	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Samples  int64   `json:"samples"`       // send → receive, one per message per reader
	Sent     int64   `json:"sent"`          // messages the writers sent
	Accepted int64   `json:"accepted"`      // of them, accepted by the server (txxt: Ack; centrifuge: publish result; hub: all sent)
	Refused  int64   `json:"refused"`       // answered with an error
	Missing  int64   `json:"missing"`       // deliveries of messages not refused that never arrived
	Short    int     `json:"readers_short"` // readers that did not receive every accepted message
	Frames   int64   `json:"frames"`        // messages delivered to every client, readers and writers
	CPUns    float64 `json:"cpu_ns_per_frame"`
	CPU      float64 `json:"cpu_ms"`    // server user + system time over the sending and draining
	ConnectS float64 `json:"connect_s"` // connecting all readers
	RSSConn  float64 `json:"rss_per_conn_bytes"`
	HeapConn float64 `json:"heap_per_conn_bytes"`
	Refusal  string  `json:"first_refusal,omitempty"`
	Elapsed  float64 `json:"elapsed_s"` // sending and draining
}

// histograms are shards of one latency histogram (microseconds), so that
// thousands of readers do not all take one lock.
type histograms struct {
	shards [16]struct {
		sync.Mutex
		h *hdrhistogram.Histogram
	}
}

func newHistograms() *histograms {
	var h histograms
	for i := range h.shards {
		h.shards[i].h = hdrhistogram.New(1, 120_000_000, 3)
	}
	return &h
}

func (h *histograms) record(shard int, d time.Duration) {
	s := &h.shards[shard%len(h.shards)]
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	s.Lock()
	s.h.RecordValue(us)
	s.Unlock()
}

func (h *histograms) merged() *hdrhistogram.Histogram {
	all := hdrhistogram.New(1, 120_000_000, 3)
	for i := range h.shards {
		h.shards[i].Lock()
		all.Merge(h.shards[i].h)
		h.shards[i].Unlock()
	}
	return all
}

// runCell starts v's server in dir, connects the writers and the readers,
// sends for cfg.duration, waits for every message to arrive (at most
// cfg.drain), and stops the server.
func runCell(ctx context.Context, v variant, c cell, cfg loadConfig, dir string) (res result, err error) {
	res = result{Variant: v.name, Cell: c}
	srv, err := v.start(ctx, dir)
	if err != nil {
		return res, fmt.Errorf("%s: %w", v.name, err)
	}
	var conns []conn
	defer func() {
		srv.process().stop()
		for _, c := range conns {
			c.close()
		}
		if err != nil {
			err = fmt.Errorf("%s %s: %w", v.name, c, err)
		}
	}()
	pid := srv.process().pid()

	// stamps[w][slot]: unix ns the writer sent that message at.
	stamps := make([][]atomic.Int64, cfg.writers)
	for i := range stamps {
		stamps[i] = make([]atomic.Int64, slots)
	}
	hist := newHistograms()
	var writerGot atomic.Int64
	writers := make([]writerConn, cfg.writers)
	for i := range writers {
		w, err := srv.dialWriter(ctx, i, func(writer, slot int, at time.Time) {
			if writer >= 0 && writer < len(stamps) && slot >= 0 && slot < slots {
				writerGot.Add(1)
			}
		})
		if err != nil {
			return res, fmt.Errorf("writer %d: %w", i, err)
		}
		writers[i] = w
		conns = append(conns, w)
	}

	rss0, heap0, err := idleMemory(ctx, srv, cfg.settle)
	if err != nil {
		return res, err
	}

	got := make([]atomic.Int64, c.Readers)
	readers := make([]conn, c.Readers)
	var next atomic.Int64
	var first error
	var firstMu sync.Mutex
	var wg sync.WaitGroup
	connectStart := time.Now()
	for range min(cfg.parallel, c.Readers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= c.Readers {
					return
				}
				r, err := srv.dialReader(ctx, func(writer, slot int, at time.Time) {
					if writer < 0 || writer >= len(stamps) || slot < 0 || slot >= slots {
						return
					}
					sent := stamps[writer][slot].Load()
					if sent == 0 {
						return
					}
					hist.record(i, at.Sub(time.Unix(0, sent)))
					got[i].Add(1)
				})
				if err != nil {
					firstMu.Lock()
					if first == nil {
						first = fmt.Errorf("reader %d: %w", i, err)
					}
					firstMu.Unlock()
					return
				}
				readers[i] = r
			}
		})
	}
	wg.Wait()
	res.ConnectS = time.Since(connectStart).Seconds()
	for _, r := range readers {
		if r != nil {
			conns = append(conns, r)
		}
	}
	if first != nil {
		return res, first
	}

	rss1, heap1, err := idleMemory(ctx, srv, cfg.settle)
	if err != nil {
		return res, err
	}
	res.RSSConn = float64(rss1-rss0) / float64(c.Readers)
	res.HeapConn = float64(heap1-heap0) / float64(c.Readers)

	cpu0, err := cpuTime(pid)
	if err != nil {
		return res, err
	}
	start := time.Now()
	var sent atomic.Int64
	sendCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	perWriter := time.Duration(float64(time.Second) * float64(cfg.writers) / float64(c.Rate))
	var sendErr error
	var sendMu sync.Mutex
	for i, w := range writers {
		wg.Go(func() {
			// Writers start spread over one interval, so that the total
			// rate is even rather than W at once.
			at := start.Add(perWriter * time.Duration(i) / time.Duration(len(writers)))
			for n := 0; ; n++ {
				if sleepUntil(sendCtx, at) != nil {
					return
				}
				slot := n % slots
				now := time.Now()
				stamps[i][slot].Store(now.UnixNano())
				if err := w.send(ctx, slot, now); err != nil {
					sendMu.Lock()
					if sendErr == nil {
						sendErr = fmt.Errorf("writer %d: %w", i, err)
					}
					sendMu.Unlock()
					return
				}
				sent.Add(1)
				at = at.Add(perWriter)
			}
		})
	}
	wg.Wait()
	cancel()
	if sendErr != nil {
		return res, sendErr
	}

	// Drain: every message answered, and every one not refused received
	// by every client (or the deadline).
	clients := int64(c.Readers + cfg.writers)
	total := func() (accepted, refused, delivered int64, refusal string) {
		for _, w := range writers {
			a, r, s := w.answered()
			accepted += a
			refused += r
			if refusal == "" {
				refusal = s
			}
		}
		delivered = writerGot.Load()
		for i := range got {
			delivered += got[i].Load()
		}
		return
	}
	deadline := time.Now().Add(cfg.drain)
	var accepted, refused, delivered int64
	for {
		accepted, refused, delivered, res.Refusal = total()
		if accepted+refused == sent.Load() && delivered >= (sent.Load()-refused)*clients {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start).Seconds()
	cpu1, err := cpuTime(pid)
	if err != nil {
		return res, err
	}
	res.Sent, res.Accepted, res.Refused, res.Frames = sent.Load(), accepted, refused, delivered
	// Every message not refused is due at every client, answered yet or
	// not (under overload an answer can still be queued at the deadline).
	due := res.Sent - refused
	res.Missing = due*clients - delivered
	for i := range got {
		if got[i].Load() != due {
			res.Short++
		}
	}
	res.CPU = float64(cpu1-cpu0) / float64(time.Millisecond)
	if delivered > 0 {
		res.CPUns = float64(cpu1-cpu0) / float64(delivered)
	}
	h := hist.merged()
	res.Samples = h.TotalCount()
	res.P50 = float64(h.ValueAtQuantile(50)) / 1000
	res.P99 = float64(h.ValueAtQuantile(99)) / 1000
	res.Max = float64(h.Max()) / 1000
	return res, nil
}

// idleMemory waits for the server to be idle, has it run a GC, waits
// again (for the runtime to return what it freed), and reads its RSS and
// its heap.
func idleMemory(ctx context.Context, srv server, settle time.Duration) (rss_, heap int64, err error) {
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, err
	}
	if err := srv.collect(ctx); err != nil {
		return 0, 0, err
	}
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, err
	}
	if rss_, err = rss(srv.process().pid()); err != nil {
		return 0, 0, err
	}
	heap, err = srv.heap(ctx)
	return rss_, heap, err
}

func sleep(ctx context.Context, d time.Duration) error {
	return sleepUntil(ctx, time.Now().Add(d))
}

func sleepUntil(ctx context.Context, at time.Time) error {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
