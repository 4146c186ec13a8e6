package lab

import (
	"strings"
	"testing"
	"time"
)

func TestRecorderSummary(t *testing.T) {
	r := newRecorder(time.Now())
	for i := 1; i <= 1000; i++ {
		r.add(time.Duration(i) * time.Microsecond)
	}
	s := r.summary()
	near := func(got, want float64) bool { return got >= want*0.999 && got <= want*1.001+1 }
	if s.Samples != 1000 || !near(s.P50, 500) || !near(s.P95, 950) || !near(s.P99, 990) || !near(s.Max, 1000) || !near(s.Mean, 500.5) {
		t.Fatalf("summary %+v", s)
	}
	var total int64
	for i, b := range r.histogram() {
		total += b.Count
		if i > 0 && b.UpTo <= r.histogram()[i-1].UpTo {
			t.Fatal("histogram bars out of order")
		}
	}
	if total != 1000 {
		t.Fatalf("histogram holds %d samples", total)
	}
	if ser := r.series(); len(ser) != 1 || ser[0].Count != 1000 {
		t.Fatalf("series %+v", ser)
	}
	if (newRecorder(time.Now()).summary() != Summary{}) {
		t.Fatal("an empty recorder has figures")
	}
}

func TestCompare(t *testing.T) {
	var base Baseline
	base.Scenario = "create"
	base.Client.RTT.P95, base.Client.Throughput = 1000, 500
	same := base
	if bad := Compare(base, same, 0.1); len(bad) != 0 {
		t.Fatalf("an equal run regressed: %v", bad)
	}
	within := base
	within.Client.RTT.P95, within.Client.Throughput = 1099, 451
	if bad := Compare(base, within, 0.1); len(bad) != 0 {
		t.Fatalf("a run within 10%% regressed: %v", bad)
	}
	slower := base
	slower.Client.RTT.P95, slower.Client.Throughput = 1200, 400
	bad := Compare(base, slower, 0.1)
	if len(bad) != 2 || !strings.Contains(bad[0], "p95") || !strings.Contains(bad[1], "throughput") {
		t.Fatalf("regressions not caught: %v", bad)
	}
	other := base
	other.Scenario = "mixed"
	if bad := Compare(base, other, 0.1); len(bad) != 1 {
		t.Fatalf("a different scenario compared silently: %v", bad)
	}
}

func TestLabel(t *testing.T) {
	if got := label(`{stage="apply",quantile="0.99"}`, "quantile"); got != "0.99" {
		t.Fatal(got)
	}
	if got := label(`{stage="apply"}`, "quantile"); got != "" {
		t.Fatal(got)
	}
}
