package lab

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Summary is a latency distribution's figures, in microseconds.
type Summary struct {
	Samples int64   `json:"samples"`
	P50     float64 `json:"p50_us"`
	P95     float64 `json:"p95_us"`
	P99     float64 `json:"p99_us"`
	Max     float64 `json:"max_us"`
	Mean    float64 `json:"mean_us"`
}

// Bucket is one histogram bar: Count samples at most UpTo microseconds.
type Bucket struct {
	UpTo  float64 `json:"up_to_us"`
	Count int64   `json:"count"`
}

// Second is one second of a run: what completed in it.
type Second struct {
	At    int     `json:"at_s"`
	Count int64   `json:"count"`
	P95   float64 `json:"p95_us"`
}

// recorder keeps one latency distribution (HDR, 1 µs to 1 min, 3
// significant digits) and its time series, safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	start  time.Time
	all    *hdrhistogram.Histogram
	second []*hdrhistogram.Histogram
}

const recMax = int64(time.Minute / time.Microsecond)

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, all: hdrhistogram.New(1, recMax, 3)}
}

func (r *recorder) add(d time.Duration) {
	us := min(max(d.Microseconds(), 1), recMax)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.RecordValue(us)
	s := int(time.Since(r.start) / time.Second)
	for len(r.second) <= s {
		r.second = append(r.second, hdrhistogram.New(1, recMax, 2))
	}
	r.second[s].RecordValue(us)
}

func summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{Samples: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)), P95: float64(h.ValueAtQuantile(95)),
		P99: float64(h.ValueAtQuantile(99)), Max: float64(h.Max()), Mean: h.Mean()}
}

func (r *recorder) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summarize(r.all)
}

// histogram returns the distribution in bars a factor of 2^(1/4) wide.
func (r *recorder) histogram() []Bucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Bucket
	if r.all.TotalCount() == 0 {
		return out
	}
	var from float64 // where the current bar starts
	for _, b := range r.all.Distribution() {
		if b.Count == 0 {
			continue
		}
		if n := len(out); n > 0 && float64(b.To) <= from*1.19 {
			out[n-1].UpTo = float64(b.To)
			out[n-1].Count += b.Count
			continue
		}
		from = float64(b.To)
		out = append(out, Bucket{UpTo: from, Count: b.Count})
	}
	return out
}

func (r *recorder) series() []Second {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Second, len(r.second))
	for i, h := range r.second {
		out[i] = Second{At: i, Count: h.TotalCount(), P95: float64(h.ValueAtQuantile(95))}
	}
	return out
}
