package server

import (
	"sync"
	"sync/atomic"
	"time"

	"txxt/wire"
)

// metrics keeps the server's command latency (frame received → answer
// written) as a log-bucketed histogram: bucket i counts latencies below
// 2^(i/4) µs, so a percentile is within 19% of the truth. The profiling
// lab will replace it with per-stage HDR histograms.
type metrics struct {
	mu       sync.Mutex
	all      latencyHist // since start
	window   latencyHist // since the last telemetry frame
	drops    sync.Map    // reason → *atomic.Uint64
	lastFPS  atomic.Uint32
	fanoutNs atomic.Int64
}

const histBuckets = 4 * 32

type latencyHist struct {
	count   uint64
	max     uint64
	buckets [histBuckets]uint64
}

func bucketOf(us uint64) int {
	// 4 buckets per power of two.
	if us < 1 {
		return 0
	}
	b := 0
	for v := us; v >= 2; v >>= 1 {
		b += 4
	}
	// refine within the power of two with the next two bits
	hi := uint64(1) << (b / 4)
	frac := (us - hi) * 4 / hi
	return min(b+int(frac), histBuckets-1)
}

func bucketUpper(b int) uint64 {
	hi := uint64(1) << (b / 4)
	return hi + hi*uint64(b%4+1)/4
}

func (h *latencyHist) add(us uint64) {
	h.count++
	h.max = max(h.max, us)
	h.buckets[bucketOf(us)]++
}

func (h *latencyHist) quantile(q float64) uint64 {
	if h.count == 0 {
		return 0
	}
	want := uint64(q*float64(h.count) + 0.5)
	var seen uint64
	for b, n := range h.buckets {
		seen += n
		if seen >= max(want, 1) {
			return min(bucketUpper(b), h.max)
		}
	}
	return h.max
}

func newMetrics() *metrics { return &metrics{} }

func (m *metrics) commandDone(d time.Duration, _ bool) {
	us := uint64(d.Microseconds())
	m.mu.Lock()
	m.all.add(us)
	m.window.add(us)
	m.mu.Unlock()
}

func (m *metrics) fanout(d time.Duration) { m.fanoutNs.Add(int64(d)) }

func (m *metrics) dropped(reason string) {
	v, _ := m.drops.LoadOrStore(reason, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

func (m *metrics) clientStats(s wire.ClientStats) { m.lastFPS.Store(uint32(s.FPS)) }

// total summarises the latency since start, for /api/status.
func (m *metrics) total() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return map[string]uint64{"samples": m.all.count, "p50": m.all.quantile(0.5), "p95": m.all.quantile(0.95), "p99": m.all.quantile(0.99), "max": m.all.max}
}

// telemetry encodes the window's figures and starts a new window.
func (m *metrics) telemetry(now time.Time, windowMs uint32) []byte {
	m.mu.Lock()
	w := m.window
	m.window = latencyHist{}
	m.mu.Unlock()
	clamp := func(v uint64) uint32 { return uint32(min(v, 1<<32-1)) }
	return wire.AppendTelemetry(nil, &wire.Telemetry{
		ServerTime: uint64(now.UnixMilli()),
		WindowMs:   windowMs,
		Stages: []wire.StageStat{{Stage: wire.StageTotal, Samples: clamp(w.count),
			P50: clamp(w.quantile(0.5)), P95: clamp(w.quantile(0.95)), P99: clamp(w.quantile(0.99)), Max: clamp(w.max)}},
	})
}
