package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"txxt/engine"
	"txxt/wire"
)

// Stages of a command's way through the server, as the Telemetry frame
// numbers them. Each is timed in nanoseconds, except batch size (commands);
// the Telemetry frame and /api/status show microseconds, /metrics seconds.
var stageNames = [...]string{
	wire.StageTotal:     "total",  // frame received → answer written
	wire.StageDecode:    "decode", // the frame decoded
	wire.StageQueue:     "queue",  // waiting in the engine's queue
	wire.StageApply:     "apply",  // the world's checks and change
	wire.StageCommit:    "commit", // per batch: the save file's transaction
	wire.StageEncode:    "encode", // the event's frames
	wire.StageFanout:    "fanout", // published → written to one connection
	wire.StageBatchSize: "batch",  // commands per batch
}

const numStages = len(stageNames)

// stage is one stage's HDR histograms: since start, and since the last
// telemetry window. Each has its own lock, so stages do not contend.
type stage struct {
	mu     sync.Mutex
	all    *hdrhistogram.Histogram
	window *hdrhistogram.Histogram
}

// Values from 1 ns to 1 min (longer ones count as 1 min), 3 significant
// digits: every percentile is within 0.1% of the truth, down to the apply
// stage's tenths of a microsecond. Batch sizes use the same range. Each
// histogram takes about 200 KB, 16 of them in all.
const histMax = int64(time.Minute)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, 3) }

func (s *stage) record(v int64) {
	v = min(max(v, 1), histMax)
	s.mu.Lock()
	s.all.RecordValue(v)
	s.window.RecordValue(v)
	s.mu.Unlock()
}

// summary is a histogram's figures, in its unit (nanoseconds, or commands
// for batch size).
type summary struct {
	Samples            int64
	P50, P95, P99, Max int64
	Mean               float64
}

func summarize(h *hdrhistogram.Histogram) summary {
	return summary{Samples: h.TotalCount(), P50: h.ValueAtQuantile(50), P95: h.ValueAtQuantile(95),
		P99: h.ValueAtQuantile(99), Max: h.Max(), Mean: h.Mean()}
}

// scaled returns s's figures divided by div (1000: nanoseconds to
// microseconds), for JSON.
func (s summary) scaled(div float64) map[string]float64 {
	return map[string]float64{"samples": float64(s.Samples), "p50": float64(s.P50) / div, "p95": float64(s.P95) / div,
		"p99": float64(s.P99) / div, "max": float64(s.Max) / div, "mean": s.Mean / div}
}

// metrics are the server's measurements.
type metrics struct {
	off     bool // Config.NoTimings: record nothing
	stages  [numStages]stage
	drops   sync.Map // reason → *atomic.Uint64
	lastFPS atomic.Uint32
}

func newMetrics(off bool) *metrics {
	m := &metrics{off: off}
	for i := range m.stages {
		m.stages[i].all, m.stages[i].window = newHist(), newHist()
	}
	return m
}

func (m *metrics) observe(st int, d time.Duration) {
	if !m.off {
		m.stages[st].record(int64(d))
	}
}

// command records a command's answer: its total and the engine's stages.
func (m *metrics) command(total, decode time.Duration, t engine.Timing) {
	m.observe(wire.StageTotal, total)
	m.observe(wire.StageDecode, decode)
	if t != (engine.Timing{}) {
		m.observe(wire.StageQueue, t.Queue)
		m.observe(wire.StageApply, t.Apply)
		if t.Encode > 0 {
			m.observe(wire.StageEncode, t.Encode)
		}
	}
}

// batch records a committed batch (called on the engine's goroutine).
func (m *metrics) batch(b engine.BatchStats) {
	if m.off {
		return
	}
	m.observe(wire.StageCommit, b.Commit)
	m.stages[wire.StageBatchSize].record(int64(b.Commands))
}

func (m *metrics) dropped(reason string) {
	v, _ := m.drops.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

func (m *metrics) droppedCounts() map[string]uint64 {
	out := map[string]uint64{}
	m.drops.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

func (m *metrics) clientStats(s wire.ClientStats) { m.lastFPS.Store(uint32(s.FPS)) }

// total summarises every stage since start, for /api/status and /metrics.
func (m *metrics) total() [numStages]summary {
	var out [numStages]summary
	for i := range m.stages {
		s := &m.stages[i]
		s.mu.Lock()
		out[i] = summarize(s.all)
		s.mu.Unlock()
	}
	return out
}

// status is total for /api/status: microseconds, batch size in commands.
func (m *metrics) status() map[string]map[string]float64 {
	out := make(map[string]map[string]float64, numStages)
	for i, sum := range m.total() {
		div := 1e3
		if i == wire.StageBatchSize {
			div = 1
		}
		out[stageNames[i]] = sum.scaled(div)
	}
	return out
}

// telemetry encodes the window's figures and starts a new window.
func (m *metrics) telemetry(now time.Time, windowMs uint32) []byte {
	t := wire.Telemetry{ServerTime: uint64(now.UnixMilli()), WindowMs: windowMs}
	for i := range m.stages {
		s := &m.stages[i]
		s.mu.Lock()
		sum := summarize(s.window)
		s.window.Reset()
		s.mu.Unlock()
		if sum.Samples == 0 {
			continue
		}
		// Microseconds, rounded up: a stage under 1 µs shows as 1.
		us := func(ns int64) uint32 { return uint32(min((max(ns, 0)+999)/1000, 1<<32-1)) }
		if i == wire.StageBatchSize {
			us = func(n int64) uint32 { return uint32(min(max(n, 0), 1<<32-1)) }
		}
		t.Stages = append(t.Stages, wire.StageStat{Stage: uint8(i), Samples: uint32(min(sum.Samples, 1<<32-1)),
			P50: us(sum.P50), P95: us(sum.P95), P99: us(sum.P99), Max: us(sum.Max)})
	}
	return wire.AppendTelemetry(nil, &t)
}
