package server

import (
	"bufio"
	"fmt"
	"net/http"
	rtmetrics "runtime/metrics"
	"sort"
	"strings"

	"txxt/engine"
	"txxt/wire"
)

// handleMetrics is /metrics in the Prometheus text format (version 0.0.4):
// the stage timings as summaries, the engine's and the server's counters,
// and every scalar metric of the Go runtime (runtime/metrics), named the
// way Prometheus's Go client names them.
func (s *Server) handleMetrics() http.Handler {
	descs := rtmetrics.All()
	var samples []rtmetrics.Sample
	var runtimeDescs []rtmetrics.Description
	for _, d := range descs {
		if d.Kind == rtmetrics.KindUint64 || d.Kind == rtmetrics.KindFloat64 {
			samples = append(samples, rtmetrics.Sample{Name: d.Name})
			runtimeDescs = append(runtimeDescs, d)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		b := bufio.NewWriter(w)
		defer b.Flush()
		metric := func(name, typ, help string) {
			fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		}

		metric("txxt_stage_seconds", "summary", "Time of each stage of a command, since start: total is frame received to answer written.")
		totals := s.metrics.total()
		// quantiles writes a summary; label is `stage="…"` or empty.
		quantiles := func(name, label string, sum summary, div float64) {
			sep, suffix := "", ""
			if label != "" {
				sep, suffix = ",", "{"+label+"}"
			}
			for _, q := range []struct {
				q string
				v int64
			}{{"0.5", sum.P50}, {"0.95", sum.P95}, {"0.99", sum.P99}, {"1", sum.Max}} {
				fmt.Fprintf(b, "%s{%s%squantile=%q} %g\n", name, label, sep, q.q, float64(q.v)/div)
			}
			fmt.Fprintf(b, "%s_sum%s %g\n", name, suffix, sum.Mean*float64(sum.Samples)/div)
			fmt.Fprintf(b, "%s_count%s %d\n", name, suffix, sum.Samples)
		}
		for i, name := range stageNames {
			if i != wire.StageBatchSize {
				quantiles("txxt_stage_seconds", fmt.Sprintf("stage=%q", name), totals[i], 1e9)
			}
		}
		metric("txxt_batch_commands", "summary", "Commands per committed batch, since start.")
		quantiles("txxt_batch_commands", "", totals[wire.StageBatchSize], 1)

		all := s.teams.all()
		var st engine.Stats
		var conns, v1, degraded int
		for _, t := range all {
			ts := t.eng.Stats()
			st.Accepted += ts.Accepted
			st.Rejected += ts.Rejected
			st.Duplicates += ts.Duplicates
			st.Overloaded += ts.Overloaded
			st.Batches += ts.Batches
			st.FailedCommits += ts.FailedCommits
			st.QueueLength += ts.QueueLength
			if ts.Health.Degraded {
				degraded++
			}
			n, n1 := t.hub.count()
			conns, v1 = conns+n, v1+n1
		}
		metric("txxt_commands_total", "counter", "Commands answered by the engine, by outcome.")
		for _, c := range []struct {
			outcome string
			n       uint64
		}{{"accepted", st.Accepted}, {"rejected", st.Rejected}, {"duplicate", st.Duplicates}, {"overloaded", st.Overloaded}} {
			fmt.Fprintf(b, "txxt_commands_total{outcome=%q} %d\n", c.outcome, c.n)
		}
		gauge := func(name, help string, v any) {
			metric(name, "gauge", help)
			fmt.Fprintf(b, "%s %v\n", name, v)
		}
		counter := func(name, help string, v any) {
			metric(name, "counter", help)
			fmt.Fprintf(b, "%s %v\n", name, v)
		}
		counter("txxt_batches_total", "Batches committed.", st.Batches)
		counter("txxt_failed_commits_total", "Batches the save file refused.", st.FailedCommits)
		gauge("txxt_queue_length", "Commands waiting in the engines' queues.", st.QueueLength)
		gauge("txxt_degraded", "Teams whose save file refuses writes.", degraded)
		gauge("txxt_teams", "Teams the server holds.", len(all))
		metric("txxt_connections", "gauge", "Open game connections, by protocol.")
		fmt.Fprintf(b, "txxt_connections{protocol=\"v0\"} %d\ntxxt_connections{protocol=\"v1\"} %d\n", conns-v1, v1)
		// Anyone may read this endpoint, so it names no team: with one
		// team its revision, with several only the totals.
		if len(all) == 1 {
			gauge("txxt_revision", "The last durable revision.", all[0].eng.Revision())
		}
		var size int64
		for _, t := range all {
			if t.st == nil {
				continue // a cluster's world: no save file here
			}
			if n, err := t.st.Size(); err == nil {
				size += n
			}
		}
		gauge("txxt_save_file_bytes", "Size of the teams' save files.", size)
		drops := s.metrics.droppedCounts()
		reasons := make([]string, 0, len(drops))
		for k := range drops {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		metric("txxt_dropped_total", "counter", "Frames dropped or refused, and connections closed, by reason.")
		for _, k := range reasons {
			fmt.Fprintf(b, "txxt_dropped_total{reason=%q} %d\n", k, drops[k])
		}

		rtmetrics.Read(samples)
		for i, sm := range samples {
			d := runtimeDescs[i]
			name, typ := promName(d)
			metric(name, typ, strings.ReplaceAll(d.Description, "\n", " "))
			switch sm.Value.Kind() {
			case rtmetrics.KindUint64:
				fmt.Fprintf(b, "%s %d\n", name, sm.Value.Uint64())
			case rtmetrics.KindFloat64:
				fmt.Fprintf(b, "%s %g\n", name, sm.Value.Float64())
			}
		}
	})
}

// promName turns a runtime/metrics name such as "/gc/heap/allocs:bytes"
// into "go_gc_heap_allocs_bytes_total" (cumulative metrics are counters).
func promName(d rtmetrics.Description) (name, typ string) {
	path, unit, _ := strings.Cut(d.Name, ":")
	name = "go" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, path)
	if unit != "" {
		name += "_" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r
			}
			return '_'
		}, unit)
	}
	if d.Cumulative {
		return name + "_total", "counter"
	}
	return name, "gauge"
}
